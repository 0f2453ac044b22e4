"""LegacyFiles: old-layout files are held until the reload that loads the new layout has
succeeded and the grace has passed, or, without reloads, until the cycle after the write."""

from __future__ import annotations

import pytest

from sdgen.output.migration import GRACE, LegacyFiles

OLD = ["targets/web.4b5e57f6eb.0.json", "scrape/web.4b5e57f6eb.0.yml"]
NEW = ["targets/web.4b5e57f6eb2f42b9039b3d1e13929295.0.p0/targets.json"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_pending_without_old_files() -> None:
    legacy = LegacyFiles(NEW)
    assert not legacy.pending and not legacy.holds(NEW[0])
    assert legacy.due(lambda ticket: True) is None


def test_old_files_are_held_and_only_those() -> None:
    legacy = LegacyFiles(OLD + NEW)
    assert legacy.pending
    assert [legacy.holds(p) for p in OLD + NEW] == [True, True, False]


@pytest.mark.parametrize(
    ("loaded_tickets", "after", "released"),
    [
        (set(), GRACE + 1, False),  # the reload never succeeded
        ({1}, 0.0, False),  # loaded, but Prometheus's discovery may not have caught up
        ({1}, GRACE - 0.1, False),
        ({1}, GRACE, True),
        ({2}, GRACE, True),  # a later reload read the new fragments too
    ],
)
def test_release_waits_for_the_reload_and_the_grace(
    loaded_tickets: set[int], after: float, released: bool
) -> None:
    clock = Clock()
    legacy = LegacyFiles(OLD, clock)
    legacy.written(1)

    def loaded(ticket: int) -> bool:
        return any(t >= ticket for t in loaded_tickets)

    first = legacy.due(loaded)  # the reload is seen to have succeeded (or not) now
    assert first == (GRACE if loaded_tickets else None)
    clock.now += after
    legacy.due(loaded)
    assert legacy.pending is not released


def test_nothing_is_released_before_the_new_layout_was_written() -> None:
    legacy = LegacyFiles(OLD)
    assert legacy.due(lambda ticket: True) is None and legacy.pending
    assert legacy.due(None) is None and legacy.pending


def test_a_write_without_a_reload_keeps_the_ticket_of_the_last() -> None:
    legacy = LegacyFiles(OLD)
    legacy.written(3)
    legacy.written(None)
    assert legacy.ticket == 3
    legacy.written(4)
    assert legacy.ticket == 4


def test_without_reloads_the_old_files_go_after_the_write() -> None:
    legacy = LegacyFiles(OLD)
    legacy.written(0)
    assert legacy.due(None) is None
    assert not legacy.pending and not legacy.holds(OLD[0])
