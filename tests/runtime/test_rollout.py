"""Seen → written → loaded: the versions at each step of the loop, from a script of events."""

from __future__ import annotations

from typing import Any

import pytest

from sdgen.runtime.reload import ReloadAnswer
from sdgen.runtime.rollout import ConfigStage, Rollout

# A script is a list of steps:
#   ("saw", version)
#   ("wrote", version, ticket | None, changed)
#   ("answer", ok, serves)          Prometheus answered a POST serving tickets up to `serves`
#   ("loaded", up_to)               the reloader has loaded tickets up to `up_to`; confirm
CASES: list[tuple[str, list[tuple[Any, ...]], dict[str, str], str]] = [
    ("nothing yet", [], {}, "not needed"),
    ("seen only: invalid config", [("saw", "v1")], {"seen": "v1"}, "not needed"),
    (
        "no reloader: loaded follows written",
        [("saw", "v1"), ("wrote", "v1", None, True)],
        {"seen": "v1", "written": "v1", "loaded": "v1"},
        "not needed",
    ),
    (
        "targets only changed: no reload needed",
        [("saw", "v1"), ("wrote", "v1", 0, True), ("loaded", 0)],
        {"seen": "v1", "written": "v1", "loaded": "v1"},
        "not needed",
    ),
    (
        "reload pending",
        [("saw", "v1"), ("wrote", "v1", 1, True), ("loaded", 0)],
        {"seen": "v1", "written": "v1"},
        "pending",
    ),
    (
        "reload rejected",
        [("saw", "v1"), ("wrote", "v1", 1, True), ("answer", False, 1), ("loaded", 0)],
        {"seen": "v1", "written": "v1"},
        "failure",
    ),
    (
        "reload accepted",
        [("saw", "v1"), ("wrote", "v1", 1, True), ("answer", True, 1), ("loaded", 1)],
        {"seen": "v1", "written": "v1", "loaded": "v1"},
        "success",
    ),
    (
        "an older version stays loaded while the new reload fails",
        [
            ("saw", "v1"),
            ("wrote", "v1", 1, True),
            ("answer", True, 1),
            ("loaded", 1),
            ("saw", "v2"),
            ("wrote", "v2", 2, True),
            ("answer", False, 2),
            ("loaded", 1),
        ],
        {"seen": "v2", "written": "v2", "loaded": "v1"},
        "failure",
    ),
    (
        "an answer to an older POST says nothing of the new write",
        [("wrote", "v1", 1, True), ("wrote", "v2", 2, True), ("answer", True, 1), ("loaded", 1)],
        {"written": "v2", "loaded": "v1"},
        "pending",
    ),
    (
        "an invalid edit after a load: seen moves on, written and loaded stay",
        [("saw", "v1"), ("wrote", "v1", 0, True), ("loaded", 0), ("saw", "v2")],
        {"seen": "v2", "written": "v1", "loaded": "v1"},
        "not needed",
    ),
]


def play(script: list[tuple[Any, ...]], wall: list[float] | None = None) -> Rollout:
    clock = iter(wall or range(1000))
    rollout = Rollout(wall=lambda: float(next(clock)))
    for step in script:
        if step[0] == "saw":
            rollout.saw(step[1])
        elif step[0] == "wrote":
            rollout.wrote(step[1], step[2], step[3])
        elif step[0] == "answer":
            rollout.answered(ReloadAnswer(step[1], "ok" if step[1] else "boom", step[2], 1))
        else:
            up_to = step[1]
            rollout.confirm(lambda ticket, up_to=up_to: ticket <= up_to)
    return rollout


@pytest.mark.parametrize(("name", "script", "versions", "reload"), CASES, ids=[c[0] for c in CASES])
def test_versions_and_reload_result(
    name: str, script: list[tuple[Any, ...]], versions: dict[str, str], reload: str
) -> None:
    rollout = play(script)
    assert {str(k): v for k, v in rollout.versions().items()} == versions
    assert rollout.status()["reload"]["result"] == reload


def test_status_has_times_and_prometheus_answer() -> None:
    rollout = play(
        [("saw", "v1"), ("wrote", "v1", 3, True), ("answer", False, 3)], wall=[10, 20, 30]
    )
    assert rollout.status() == {
        "seen": {"version": "v1", "at": 10.0},
        "written": {"version": "v1", "at": 20.0},
        "reload": {"result": "failure", "answer": "boom", "at": 30.0, "attempts": 1},
    }


def test_written_time_moves_only_when_files_change() -> None:
    rollout = play(
        [("wrote", "v1", None, True), ("wrote", "v1", None, False), ("wrote", "v1", None, True)]
    )
    # times: written v1 at 0, loaded at 1; unchanged write: none; changed write: 2, 3
    assert rollout.marks[ConfigStage.WRITTEN].at == 2.0
    assert rollout.marks[ConfigStage.LOADED].at == 3.0


def test_a_version_loaded_late_is_marked_even_after_later_writes() -> None:
    rollout = play(
        [
            ("wrote", "v1", 1, True),
            ("wrote", "v2", 2, True),
            ("wrote", "v3", 3, True),
            ("loaded", 1),
        ]
    )
    assert rollout.versions()[ConfigStage.LOADED] == "v1"
    rollout.confirm(lambda ticket: ticket <= 2)
    assert rollout.versions()[ConfigStage.LOADED] == "v2"
    rollout.confirm(lambda ticket: ticket <= 3)
    assert rollout.versions()[ConfigStage.LOADED] == "v3"


def test_an_answer_that_comes_before_the_write_is_recorded_counts() -> None:
    """The reloader's thread may POST and answer between `request()` and `wrote()`."""
    rollout = play([("wrote", "v1", 1, True), ("answer", True, 2), ("wrote", "v2", 2, True)])
    assert rollout.reload_state() == "success"
