"""`sdgen targets` output: a table for people, JSON for scripts.

Both show, per scrape target, the labels Prometheus will attach (final) and, on request, the
labels discovery produced before relabeling, plus every config problem and per-target error,
so a pull-request preview shows exactly what would change and why a target is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sdgen.targets import Resolution


def _labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def targets_report(
    resolution: Resolution | None,
    issues: Sequence[str],
    errors: Mapping[str, str],
    *,
    as_json: bool = False,
    discovered: bool = False,
) -> str:
    rows = [
        {
            "target": et.target.name,
            "endpoint": et.index,
            "address": st.address,
            "labels": dict(st.labels),
            "discovered": dict(st.discovered),
        }
        for et in (resolution.endpoints if resolution else ())
        for st in et.targets
    ]
    if as_json:
        document = {"targets": rows, "config_issues": list(issues), "errors": dict(errors)}
        return json.dumps(document, indent=2, sort_keys=True)
    header = ("TARGET", "ENDPOINT", "ADDRESS", "LABELS")
    table = [header] + [
        (r["target"], str(r["endpoint"]), r["address"], _labels(r["labels"])) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = []
    for i, row in enumerate(table):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
        )
        if discovered and i:
            lines.append("    discovered: " + _labels(rows[i - 1]["discovered"]))
    lines.append(f"{len(rows)} targets")
    lines += [f"error: {name}: {message}" for name, message in sorted(errors.items())]
    lines += [f"config: {issue}" for issue in issues]
    return "\n".join(lines)
