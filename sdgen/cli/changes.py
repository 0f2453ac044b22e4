"""What a config change does to the output: the `sdgen diff` comparison and its three reports.

Pure: both sides are resolutions already made against one cluster view. A side is what the
sidecar would write for it, seen two ways: per target name, each scrape target by its scrape
job and address with its final labels; and per scrape job, the settings of its fragment.
Labels starting with `__` (scheme, interval, params) are the job's settings repeated on every
target, so they are compared as job changes, not as a change of every target.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from sdgen.config.model import Issue, Severity, printable
from sdgen.output.render import Renderer
from sdgen.resolve.resolver import EndpointTargets

MARKDOWN_LINES = 10  # lines per target in a pull-request comment before "… and K more"

TargetKey = tuple[str, str]  # (scrape job, address)
Labels = Mapping[str, str]


@dataclass(frozen=True)
class Side:
    """One config's output: per target name its targets by (job, address); per job the
    settings of its scrape-config fragment (all but `job_name` and `file_sd_configs`)."""

    targets: Mapping[str, Mapping[TargetKey, Labels]]
    jobs: Mapping[str, Mapping[str, Any]]


def side_of(endpoints: Iterable[EndpointTargets], part_size: int) -> Side:
    """The side the sidecar would write for these endpoints (split into parts as it splits)."""
    endpoints = tuple(endpoints)
    renderer = Renderer(part_size)
    files = renderer.render(endpoints)
    targets: dict[str, dict[TargetKey, Labels]] = {}
    for et in endpoints:
        found = targets.setdefault(et.target.name, {})
        for st in et.targets:
            job = renderer.file_of(et.target.name, et.index, st.line).split("/")[1]
            labels = {k: v for k, v in st.labels.items() if not k.startswith("__")}
            found.setdefault((job, st.address), labels)  # the first of equal addresses
    jobs: dict[str, Mapping[str, Any]] = {}
    for path, data in files.items():
        if path.startswith("scrape/"):
            for job in yaml.safe_load(data)["scrape_configs"]:
                settings = {
                    k: v for k, v in job.items() if k not in ("job_name", "file_sd_configs")
                }
                jobs[job["job_name"]] = settings
    return Side(targets, jobs)


@dataclass(frozen=True)
class ChangedTarget:
    job: str
    address: str
    labels: Mapping[str, tuple[str | None, str | None]]  # label → (old, new); None: absent


@dataclass(frozen=True)
class TargetChanges:
    added: tuple[TargetKey, ...] = ()
    removed: tuple[TargetKey, ...] = ()
    changed: tuple[ChangedTarget, ...] = ()

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)


@dataclass(frozen=True)
class ChangedJob:
    job: str
    fields: Mapping[str, tuple[Any, Any]]  # fragment field → (old, new); None: absent


@dataclass(frozen=True)
class Changes:
    targets: Mapping[str, TargetChanges] = field(default_factory=dict)  # only names that change
    jobs_added: tuple[str, ...] = ()
    jobs_removed: tuple[str, ...] = ()
    jobs_changed: tuple[ChangedJob, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.jobs_added or self.jobs_removed or self.jobs_changed)


def compare(old: Side, new: Side) -> Changes:
    targets: dict[str, TargetChanges] = {}
    for name in sorted(old.targets.keys() | new.targets.keys()):
        found = _compare_targets(old.targets.get(name, {}), new.targets.get(name, {}))
        if found:
            targets[name] = found
    changed = tuple(
        ChangedJob(job, _differences(old.jobs[job], new.jobs[job]))
        for job in sorted(old.jobs.keys() & new.jobs.keys())
        if old.jobs[job] != new.jobs[job]
    )
    return Changes(
        targets,
        tuple(sorted(new.jobs.keys() - old.jobs.keys())),
        tuple(sorted(old.jobs.keys() - new.jobs.keys())),
        changed,
    )


def _compare_targets(
    old: Mapping[TargetKey, Labels], new: Mapping[TargetKey, Labels]
) -> TargetChanges:
    changed = tuple(
        ChangedTarget(job, address, _differences(old[(job, address)], new[(job, address)]))
        for job, address in sorted(old.keys() & new.keys())
        if old[(job, address)] != new[(job, address)]
    )
    return TargetChanges(
        tuple(sorted(new.keys() - old.keys(), key=_by_address)),
        tuple(sorted(old.keys() - new.keys(), key=_by_address)),
        changed,
    )


def _by_address(key: TargetKey) -> tuple[str, str]:
    return key[1], key[0]


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    }


# ---------------------------------------------------------------------------------- reports


def issue_document(issue: Issue, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "line": issue.line,
        "path": issue.path,
        "message": issue.message,
        "severity": str(issue.severity),
    }


def as_json(changes: Changes, issues: Sequence[tuple[str, Issue]]) -> str:
    """The documented JSON shape (README, "sdgen diff")."""
    document = {
        "targets": {
            name: {
                "added": [address for _, address in tc.added],
                "removed": [address for _, address in tc.removed],
                "changed": [
                    {
                        "job": c.job,
                        "address": c.address,
                        "labels": {k: list(v) for k, v in c.labels.items()},
                    }
                    for c in tc.changed
                ],
            }
            for name, tc in changes.targets.items()
        },
        "jobs": {
            "added": list(changes.jobs_added),
            "removed": list(changes.jobs_removed),
            "changed": [
                {"job": c.job, "fields": {k: list(v) for k, v in c.fields.items()}}
                for c in changes.jobs_changed
            ],
        },
        "issues": [issue_document(issue, file) for file, issue in issues],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _arrows(fields: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k}: {_value(old)} → {_value(new)}" for k, (old, new) in fields.items())


def _target_lines(tc: TargetChanges, new: Mapping[TargetKey, Labels]) -> list[str]:
    lines = [f"+ {address}  job={job}  {_labels(new[(job, address)])}" for job, address in tc.added]
    lines += [f"- {address}  job={job}" for job, address in tc.removed]
    lines += [f"~ {c.address}  job={c.job}  {_arrows(c.labels)}" for c in tc.changed]
    return [printable(line) for line in lines]


def _labels(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _job_lines(changes: Changes) -> list[str]:
    lines = [f"+ {job}" for job in changes.jobs_added]
    lines += [f"- {job}" for job in changes.jobs_removed]
    lines += [f"~ {c.job}  {_arrows(c.fields)}" for c in changes.jobs_changed]
    return [printable(line) for line in lines]


def as_text(
    changes: Changes, issues: Sequence[tuple[str, Issue]], new: Side, names: tuple[str, str]
) -> str:
    """Like `kubectl diff`: a header naming both sides, then `+`/`-`/`~` lines per target
    name and for the scrape jobs; the issues of NEW last, as `sdgen check` prints them."""
    out = [printable(f"--- {names[0]}"), printable(f"+++ {names[1]}")]
    for name, tc in changes.targets.items():
        out.append(printable(f"target {name}"))
        out += _target_lines(tc, new.targets.get(name, {}))
    if changes.jobs_added or changes.jobs_removed or changes.jobs_changed:
        out.append("jobs")
        out += _job_lines(changes)
    out += [issue.format(file) for file, issue in issues]
    return "\n".join(out)


def _code(text: str) -> str:
    """A markdown code span that a backtick or a newline in a name cannot break."""
    return "`" + printable(text).replace("`", "'") + "`"


def as_markdown(
    changes: Changes,
    issues: Sequence[tuple[str, Issue]],
    new: Side,
    max_lines: int = MARKDOWN_LINES,
) -> str:
    """For a pull-request comment: counts first, then at most `max_lines` lines per target."""
    added = sum(len(tc.added) for tc in changes.targets.values())
    removed = sum(len(tc.removed) for tc in changes.targets.values())
    changed = sum(len(tc.changed) for tc in changes.targets.values())
    errors = sum(1 for _, i in issues if i.severity == Severity.ERROR)
    out = [
        f"**sdgen diff**: {added} target(s) added, {removed} removed, {changed} changed; "
        f"{len(changes.jobs_added)} job(s) added, {len(changes.jobs_removed)} removed, "
        f"{len(changes.jobs_changed)} changed; {errors} config error(s)",
    ]
    if changes.targets:
        out += ["", "| target | added | removed | changed |", "|---|---|---|---|"]
        out += [
            f"| {_code(name)} | {len(tc.added)} | {len(tc.removed)} | {len(tc.changed)} |"
            for name, tc in changes.targets.items()
        ]
    for name, tc in changes.targets.items():
        out += ["", f"#### {_code(name)}", ""]
        out += _capped(_target_lines(tc, new.targets.get(name, {})), max_lines)
    jobs = _job_lines(changes)
    if jobs:
        out += ["", "#### scrape jobs", ""]
        out += _capped(jobs, max_lines)
    if issues:
        out += ["", "#### config issues", ""]
        out += [f"- {_code(issue.format(file))}" for file, issue in issues]
    return "\n".join(out)


def _capped(lines: list[str], max_lines: int) -> list[str]:
    shown = [f"- {_code(line)}" for line in lines[:max_lines]]
    if len(lines) > max_lines:
        shown.append(f"- … and {len(lines) - max_lines} more")
    return shown
