"""`sdgen targets` output: a table for people, JSON for scripts.

Both show, per scrape target, the labels Prometheus will attach (final) and, on request, the
labels discovery produced before relabeling, plus every config problem and per-target error,
so a pull-request preview shows exactly what would change and why a target is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from sdgen.config.model import printable
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
