"""The benchmark's one table: metric, sdgen, baseline, ratio and the DESIGN §7 target, built
from the measurements and printed as aligned text (the JSON holds the same rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    metric: str
    sdgen: float | None
    unit: str
    target: str = ""
    baseline: float | None = None
    baseline_note: str = ""  # "(stopped)": the baseline had not finished; its number is a bound
    met: bool | None = None

    @property
    def ratio(self) -> str:
        if self.sdgen is None or self.baseline is None or not self.sdgen:
            return ""
        prefix = "≥ " if self.baseline_note else ""
        return f"{prefix}{self.baseline / self.sdgen:.1f}x"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms" or unit == "MB":
        return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    if unit == "s":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:g}{(' ' + unit) if unit else ''}"


def rows(results: dict[str, Any]) -> list[Row]:
    """Rows for every size measured, then the in-process render."""
    out: list[Row] = []
    for size, r in results["sizes"].items():
        out += _size_rows(int(size), r)
    render = results.get("render_inprocess")
    if render:
        ms = 1000 * render["best_s"]
        name = f"render + relabel, {render['targets']} targets x {render['rules']} rules (best)"
        out.append(Row(name, ms, "ms", "≤ 200 ms", met=ms <= 200))
    return out


def _size_rows(pods: int, r: dict[str, Any]) -> list[Row]:
    k = f"{pods // 1000}k pods"
    s, b = r["sdgen"], r.get("baseline", {})
    limit = 2.0 if pods <= 10_000 else 15.0
    b_first, note = b.get("first_render_s"), ""
    if b_first is None and "stopped_after_s" in b:
        b_first, note = b["stopped_after_s"], "(stopped, not done)"
    first = s["first_render_s"]
    out = [
        Row(
            f"first complete render, {k}",
            first,
            "s",
            f"≤ {limit:g} s",
            b_first,
            note,
            first <= limit,
        ),
    ]
    peak = s["peak_rss_mb"]
    mem_target = "≤ 250 MB" if pods >= 100_000 else ""
    out.append(
        Row(
            f"peak RSS (VmHWM), {k}",
            peak,
            "MB",
            mem_target,
            b.get("VmHWM"),
            "(when stopped)" if note else "",
            peak <= 250 if mem_target else None,
        )
    )
    steady_rss = s["steady_rss_mb"]
    met = steady_rss <= 250 if mem_target else None
    out.append(Row(f"steady RSS (VmRSS), {k}", steady_rss, "MB", mem_target, met=met))
    for key, what in (
        ("configmap_edit_s", "ConfigMap edit → file"),
        ("pod_change_s", "pod add/delete → file"),
    ):
        lat = s[key]
        for p, limit_s in (("p50", 0.3), ("p95", None), ("p99", 1.0)):
            target = f"≤ {limit_s:g} s" if limit_s else ""
            met = lat[p] <= limit_s if limit_s else None
            out.append(Row(f"{what} {p} (n={lat['n']}), {k}", lat[p], "s", target, met=met))
    steady = s["steady"]
    cpu15 = steady["cpu_ms_per_15s"]
    per_cycle = steady["cpu_ms_per_cycle"]
    name = f"steady CPU per cycle (--interval 1s), nothing changed, {k}"
    out.append(Row(name, per_cycle, "ms", "≤ 20 ms", met=per_cycle <= 20))
    out.append(Row(f"steady CPU per 15 s of wall time at --interval 1s, {k}", cpu15, "ms"))
    writes = steady["writes"]
    out.append(
        Row(
            f"file writes in {steady['cycles']:.0f} steady cycles, {k}",
            writes,
            "",
            "0",
            met=writes == 0,
        )
    )
    return out


def format_table(table: list[Row]) -> str:
    header = ("metric", "sdgen", "baseline", "ratio", "DESIGN §7", "met")
    lines = [
        (
            row.metric,
            _num(row.sdgen, row.unit),
            " ".join(x for x in (_num(row.baseline, row.unit), row.baseline_note) if x)
            if row.baseline is not None
            else "",
            row.ratio,
            row.target,
            "" if row.met is None else ("yes" if row.met else "NO"),
        )
        for row in table
    ]
    widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(len(header))]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([_line(header, widths), rule, *(_line(line, widths) for line in lines)])


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
