"""The `sdgen diff` comparison and reports, on hand-made sides (pure, table-driven)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sdgen.cli.changes import Changes, Side, as_json, as_markdown, as_text, compare
from sdgen.config.model import Issue

A = ("j.p0", "10.0.0.1:80")
B = ("j.p0", "10.0.0.2:80")


def side(targets: dict[str, Any] | None = None, jobs: dict[str, Any] | None = None) -> Side:
    return Side(targets or {}, jobs or {})


CASES = [
    ("nothing", side(), side(), {}),
    ("same", side({"t": {A: {"x": "1"}}}), side({"t": {A: {"x": "1"}}}), {}),
    (
        "added",
        side({"t": {A: {}}}),
        side({"t": {A: {}, B: {}}}),
        {"t": {"added": ["10.0.0.2:80"], "removed": [], "changed": []}},
    ),
    (
        "removed name",
        side({"t": {A: {}}}),
        side(),
        {"t": {"added": [], "removed": ["10.0.0.1:80"], "changed": []}},
    ),
    (
        "label appears, changes, disappears",
        side({"t": {A: {"a": "1", "b": "2"}}}),
        side({"t": {A: {"b": "3", "c": "4"}}}),
        {
            "t": {
                "added": [],
                "removed": [],
                "changed": [
                    {
                        "job": "j.p0",
                        "address": "10.0.0.1:80",
                        "labels": {"a": ["1", None], "b": ["2", "3"], "c": [None, "4"]},
                    }
                ],
            }
        },
    ),
    (
        "same address in another job is another target",
        side({"t": {A: {}}}),
        side({"t": {("k.p0", A[1]): {}}}),
        {"t": {"added": ["10.0.0.1:80"], "removed": ["10.0.0.1:80"], "changed": []}},
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "targets"), CASES, ids=[c[0] for c in CASES])
def test_targets(name: str, old: Side, new: Side, targets: dict[str, Any]) -> None:
    found = compare(old, new)
    assert json.loads(as_json(found, []))["targets"] == targets
    assert bool(found) == bool(targets)


def test_jobs_added_removed_and_changed_fields() -> None:
    old = side(jobs={"a": {"scrape_interval": "10s"}, "b": {}, "c": {"scheme": "http"}})
    new = side(
        jobs={
            "a": {"scrape_interval": "15s", "tls_config": {"x": 1}},
            "d": {},
            "c": {"scheme": "http"},
        }
    )
    jobs = json.loads(as_json(compare(old, new), []))["jobs"]
    assert jobs == {
        "added": ["d"],
        "removed": ["b"],
        "changed": [
            {
                "job": "a",
                "fields": {"scrape_interval": ["10s", "15s"], "tls_config": [None, {"x": 1}]},
            }
        ],
    }


def test_markdown_counts_first_and_caps_lines_per_target() -> None:
    many = {("j.p0", f"10.0.0.{i}:80"): {} for i in range(25)}
    new = side({"t": many})
    text = as_markdown(compare(side(), new), [], new, max_lines=10)
    lines = text.splitlines()
    assert lines[0].startswith("**sdgen diff**: 25 target(s) added, 0 removed, 0 changed;")
    assert sum(1 for line in lines if line.startswith("- `+ ")) == 10
    assert "- … and 15 more" in lines


def test_issues_print_as_sdgen_check_prints_them() -> None:
    issue = Issue("targets[0].x", "bad\nline", 7)
    text = as_text(Changes(), [("new.yaml", issue)], side(), ("a", "b"))
    assert text.splitlines() == ["--- a", "+++ b", "new.yaml:7: targets[0].x: bad\\nline"]
    [document] = json.loads(as_json(Changes(), [("new.yaml", issue)]))["issues"]
    assert document == {
        "file": "new.yaml",
        "line": 7,
        "path": "targets[0].x",
        "message": "bad\nline",
        "severity": "error",
    }
