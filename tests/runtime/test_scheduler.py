"""The scheduler: when cycles run, in scripted time (no sleeps), and the first render of a
real cycle under the real clock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sdgen.output.outputdir import OutputDir
from sdgen.runtime.board import Board
from sdgen.runtime.cycle import Cycle, Options
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.scheduler import MAX_DEBOUNCE, POLL, Scheduler, Waitable
from sdgen.runtime.wakeup import Wakeup
from tests.support.helpers import wait_for

CONFIG = """\
targets:
  - targetName: static
    type: StaticEndpoints
    endpoints:
      - addresses: ["192.0.2.1:9100"]
"""
MAX_CYCLES = 100  # a run is stopped after this many cycles whatever the script says


class ScriptedClock:
    """Time that passes only while the scheduler waits; scripted actions (a change, a stop)
    happen at their times, and a wait ends early when its flag is set by one of them."""

    def __init__(self, script: list[tuple[float, Callable[[], None]]]) -> None:
        self.time = 0.0
        self._script = sorted(script, key=lambda step: step[0])

    def now(self) -> float:
        return self.time

    def wait(self, flag: Waitable, timeout: float) -> bool:
        if flag.wait(0):
            return True
        deadline = self.time + timeout
        while self._script and self._script[0][0] <= deadline:
            at, action = self._script.pop(0)
            self.time = max(self.time, at)
            action()
            if flag.wait(0):
                return True
        self.time = deadline
        return False


@dataclass
class Run:
    """What a scheduler did in scripted time: when each cycle began, and when run() ended."""

    cycles: list[float] = field(default_factory=list)
    ended: float = 0.0


def schedule(
    *,
    changes: tuple[float, ...] = (),
    stop_at: float = 40.0,
    ok: bool = True,
    pending_at_start: bool = False,
    change_during: tuple[int, ...] = (),
    failing: tuple[int, ...] = (),
    interval: float = 15.0,
    debounce: float = 0.25,
) -> Run:
    """Run a scheduler whose cycles record their start time; `changes` notify at their times,
    cycles numbered in `change_during` notify while they run, those in `failing` raise, and
    the others answer `ok`."""
    wakeup, stop, run = Wakeup(), threading.Event(), Run()
    clock = ScriptedClock([*((at, wakeup.notify) for at in changes), (stop_at, stop.set)])
    scheduler = Scheduler(wakeup, stop, interval, debounce, clock)

    def cycle() -> bool:
        run.cycles.append(clock.now())
        if len(run.cycles) >= MAX_CYCLES:  # a scheduler that never waits must fail, not hang
            stop.set()
        if len(run.cycles) - 1 in change_during:
            wakeup.notify()
        if len(run.cycles) - 1 in failing:
            raise RuntimeError("a bug in the cycle")
        return ok

    if pending_at_start:
        wakeup.notify()
    scheduler.run(cycle)
    run.ended = clock.now()
    assert scheduler.last_cycle == run.cycles[-1], "cycles take no scripted time"
    return run


BURST = tuple(5.0 + 0.125 * i for i in range(9))  # a change every 125 ms from 5 s to 6 s

# Binary fractions only, so the debounce arithmetic is exact and the table can say `==`.
CASES = {
    "periodic: every interval when nothing changes": (dict(), [0.0, 15.0, 30.0]),
    "a change renders one debounce after it": (
        dict(changes=(5.0,)),
        [0.0, 5.25, 20.25, 35.25],
    ),
    "the interval restarts after a change's cycle": (
        dict(changes=(5.0, 22.0)),
        [0.0, 5.25, 20.25, 22.25, 37.25],
    ),
    "a change within the debounce waits one more": (
        dict(changes=(5.0, 5.125)),
        [0.0, 5.5, 20.5, 35.5],
    ),
    "a burst renders one second after its first change, and once": (
        dict(changes=BURST),
        [0.0, 6.0, 21.0, 36.0],
    ),
    "changes after the cut start a burst of their own": (
        dict(changes=(*BURST, 6.125, 6.25)),
        [0.0, 6.0, 6.625, 21.625, 36.625],
    ),
    "a change made before a cycle began is consumed by it": (
        dict(pending_at_start=True),
        [0.0, 15.0, 30.0],
    ),
    "a change made during a cycle gets a cycle of its own": (
        dict(change_during=(0,)),
        [0.0, 0.25, 15.25, 30.25],
    ),
    "a failing cycle does not stop the loop; each failure adds a longer pause": (
        dict(failing=(0, 1)),
        [0.0, 15.5, 31.5],
    ),
    "a cycle that cannot write backs off like one that raises": (
        # pauses 0.5, 1, 2, 4: the change at 6.0 comes during the third, and waits for it
        dict(ok=False, changes=(2.0, 4.0, 6.0)),
        [0.0, 2.25, 4.25, 6.5, 25.5],
    ),
    "before the first render too, a change is debounced": (
        dict(changes=(5.0, 5.125)),
        [0.0, 5.5, 20.5, 35.5],
    ),
    "the pause never exceeds the interval": (
        dict(ok=False, interval=1.0, stop_at=8.0),
        [0.0, 1.5, 3.5, 5.5, 7.5],
    ),
    "a debounce of zero renders at the change": (
        dict(changes=(5.0,), debounce=0.0),
        [0.0, 5.0, 20.0, 35.0],
    ),
}


@pytest.mark.parametrize(("kwargs", "cycles"), CASES.values(), ids=CASES.keys())
def test_cycles_run_at_these_times(kwargs: dict[str, object], cycles: list[float]) -> None:
    assert schedule(**kwargs).cycles == cycles  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "cycles", "ended"),
    [
        (dict(stop_at=7.0), [0.0], 7.0),
        (dict(changes=(5.0,), stop_at=5.125), [0.0], 5.125),  # during the debounce
        (dict(changes=(5.0,), stop_at=5.25), [0.0], 5.25),  # when the debounce ends
    ],
    ids=["while waiting", "while debouncing", "as the debounce ends"],
)
def test_stop_ends_the_run_without_another_cycle(
    kwargs: dict[str, object], cycles: list[float], ended: float
) -> None:
    run = schedule(**kwargs)  # type: ignore[arg-type]
    assert run.cycles == cycles
    assert ended <= run.ended <= ended + POLL


def test_a_stop_before_run_runs_no_cycle() -> None:
    stop = threading.Event()
    stop.set()
    ran = threading.Event()

    def cycle() -> bool:
        ran.set()
        return True

    Scheduler(Wakeup(), stop, 15.0, 0.2, ScriptedClock([])).run(cycle)
    assert not ran.is_set()


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[tuple[Path, FileSource]]:
    path = tmp_path / "scrape_config.yaml"
    source = FileSource(path, lambda: None)
    yield path, source
    source.stop()


def test_the_first_render_is_debounced_but_never_past_max_debounce(
    tmp_path: Path, config_file: tuple[Path, FileSource]
) -> None:
    """Before anything was rendered a change is debounced too (a busy directory must not run
    a cycle per event), under the real clock, and a long --debounce still ends within
    MAX_DEBOUNCE."""
    config, source = config_file
    out = OutputDir(tmp_path / "out", create=True)
    out.prepare()
    cycle, board = Cycle(source, None, out, Options(default_namespace="default")), Board()
    wakeup, stop = Wakeup(), threading.Event()

    def tick() -> bool:
        board.record(cycle.run())
        return True

    loop = threading.Thread(
        target=Scheduler(wakeup, stop, 600.0, 600.0).run, args=(tick,), daemon=True
    )
    loop.start()
    try:
        wait_for(lambda: board.waiting_for != "", timeout=10)  # ran once: no config yet
        config.write_text(CONFIG)
        notified = time.monotonic()
        wakeup.notify()
        wait_for(lambda: board.rendered_once, timeout=10)  # not after the 600 s debounce
        assert time.monotonic() - notified >= MAX_DEBOUNCE * 0.9
    finally:
        stop.set()
        loop.join(5)
    assert not loop.is_alive()
    assert list((tmp_path / "out" / "targets").iterdir())


def test_a_recurring_failure_is_logged_once_with_its_count_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="sdgen.runtime"):
        run = schedule(failing=(0, 1, 2, 3), interval=1.0, stop_at=10.0)
    assert run.cycles[:6] == [0.0, 1.5, 3.5, 5.5, 7.5, 8.5]
    lines = [(r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records]
    assert lines == [
        ("ERROR", "render cycle failed", True),
        (
            "INFO",
            "render cycle failed 4 times in a row, no longer: RuntimeError: a bug in the cycle",
            False,
        ),
    ]
