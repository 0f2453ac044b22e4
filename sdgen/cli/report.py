"""`sdgen targets` and `sdgen explain` output: text for people, JSON for scripts.

Both show, per scrape target, the labels Prometheus will attach (final) and, on request, the
labels discovery produced before relabeling, plus every config problem and per-target error,
so a pull-request preview shows exactly what would change and why a target is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from sdgen.config.model import printable
from sdgen.resolve.explain import ExplainedCandidate, Explanation
from sdgen.resolve.pipeline import ScrapeTarget
from sdgen.resolve.resolver import Resolution


def _labels(labels: Mapping[str, str]) -> str:
    return printable(", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())))


def targets_report(
    resolution: Resolution | None,
    issues: Sequence[str],
    errors: Mapping[str, str],
    *,
    as_json: bool = False,
    discovered: bool = False,
    file_of: Callable[[str, int, bytes], str] | None = None,
) -> str:
    """`file_of(target name, endpoint index, encoded target)`: the targets file that holds
    a target (its part of the endpoint), shown as `file`."""
    rows: list[tuple[str, int, ScrapeTarget]] = [
        (et.target.name, et.index, st)
        for et in (resolution.endpoints if resolution else ())
        for st in et.targets
    ]
    if as_json:
        document = {
            "targets": [
                {
                    "target": name,
                    "endpoint": index,
                    "address": st.address,
                    "labels": dict(st.labels),
                    "discovered": dict(st.discovered),
                    **({"file": file_of(name, index, st.line)} if file_of else {}),
                }
                for name, index, st in rows
            ],
            "config_issues": list(issues),
            "errors": dict(errors),
        }
        return json.dumps(document, indent=2, sort_keys=True)
    table = [("TARGET", "ENDPOINT", "ADDRESS")] + [
        (printable(name), str(index), printable(st.address)) for name, index, st in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = []
    for i, row in enumerate(table):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(f"{cells}  {_labels(rows[i - 1][2].labels) if i else 'LABELS'}")
        if discovered and i:
            lines.append("    discovered: " + _labels(rows[i - 1][2].discovered))
        if file_of and i:
            name, index, st = rows[i - 1]
            lines.append("    file: " + file_of(name, index, st.line))
    lines.append(f"{len(rows)} targets")
    lines += [printable(f"error: {name}: {message}") for name, message in sorted(errors.items())]
    lines += [f"config: {issue}" for issue in issues]  # formatted printable already
    return "\n".join(lines)


def explain_report(explanation: Explanation, *, as_json: bool = False) -> str:
    """The stages, each passed or failed with its reason, then each candidate: its relabel
    trace, outcome, shard decision, final labels and file."""
    if as_json:
        return json.dumps(explanation.as_json(), indent=2, sort_keys=True)
    about = explanation.object or (
        f"address {explanation.address}" if explanation.address else "all objects"
    )
    lines = [printable(f"target {explanation.target!r}, {about}:")]
    for stage in explanation.stages:
        mark = "ok  " if stage.passed else "FAIL"
        count = "" if stage.count is None else f" ({stage.count})"
        reason = f": {stage.reason}" if stage.reason else ""
        lines.append(printable(f"  {mark} {stage.stage.value}{count}{reason}"))
    for candidate in explanation.candidates:
        lines.extend(_candidate_lines(candidate))
    lines.append(f"written: {explanation.written}")
    return "\n".join(lines)


def _candidate_lines(candidate: ExplainedCandidate) -> list[str]:
    fate = candidate.fate
    source = f" from {candidate.source}" if candidate.source else ""
    head = f"candidate endpoints[{candidate.endpoint}] {candidate.address}{source}: "
    lines = [head + fate.outcome.value]
    for rule, changed in candidate.steps:
        what = ", ".join(
            f"{name}: {_value(old)} → {_value(new)}" for name, (old, new) in changed.items()
        )
        dropped = " dropped the target" if rule == candidate.dropped_by else ""
        lines.append(f"    {rule}{dropped}{': ' + what if what else ''}")
    if fate.problem:
        lines.append(f"    invalid: {fate.problem}")
    if candidate.shard is not None:
        shard = candidate.shard
        verdict = "this shard's" if shard.kept else "another shard's"
        lines.append(
            f"    shard: hashmod(address, {shard.modulus}) = {shard.value}, "
            f"this is shard {shard.shard}: {verdict}"
        )
    if fate.labels is not None:
        lines.append(f"    labels: {_labels(fate.labels)}")
    if candidate.file:
        lines.append(f"    file: {candidate.file}")
    return [printable(line) for line in lines]


def _value(value: str | None) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)
