"""When to run a cycle: now, then every `--interval`, and soon after a change; until stopped.

A change is debounced so that a burst (a rollout touching many pods) costs one cycle, not one
per event: the scheduler waits `--debounce` after a change and again while changes keep
coming, but never past MAX_DEBOUNCE after the first, so an edit always reaches the files
within a second (README, "Flags"). That holds before the first render too: a directory that
changes all the time (or sdgen's own reads of it, before they were ignored) must not run a
cycle per event while the API server is unreachable.

A failing cycle (one that raised, or could not write) is followed by a pause that doubles
with each failure in a row, from BACKOFF_FIRST up to `--interval`, and its error is logged
once while it lasts, with its count when it ends or changes (`logs.Repeats`).

Time is injected as a `Clock` that also does the waiting, so tests run the real loop in
scripted time without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sdgen.runtime.logs import Repeats
from sdgen.runtime.wakeup import Wakeup

log = logging.getLogger(__name__)

MAX_DEBOUNCE = 1.0  # an edit reaches the files at most this long after it was seen
POLL = 0.5  # how often a wait for work looks at the stop event
BACKOFF_FIRST = 0.5  # the pause after a first failed cycle; doubles up to the interval


class Waitable(Protocol):
    """Something a thread can block on until it is set: a threading.Event or a Wakeup."""

    def wait(self, timeout: float | None = None) -> bool: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wait(self, flag: Waitable, timeout: float) -> bool:
        """Block until `flag` is set or `timeout` seconds pass; whether it is set."""
        ...


class SystemClock:
    """Real time: monotonic, and waits block on the flag itself."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, flag: Waitable, timeout: float) -> bool:
        return flag.wait(timeout)


class Scheduler:
    """Runs a cycle now, after each change (debounced) and every `interval`, until `stop`."""

    def __init__(
        self,
        wakeup: Wakeup,
        stop: threading.Event,
        interval: float,
        debounce: float,
        clock: Clock | None = None,
    ) -> None:
        self._wakeup = wakeup
        self._stop = stop
        self._interval = interval
        self._debounce = debounce
        self._clock = clock or SystemClock()
        self.last_cycle = 0.0  # clock time the last cycle finished; 0 before the first
        self._failures = 0  # cycles in a row that failed
        self._errors = Repeats("render cycle failed")

    def run(self, cycle: Callable[[], bool]) -> None:
        """Run `cycle` until `stop` is set. `cycle()` answers whether it succeeded: after a
        failure (False, or an exception) the scheduler backs off."""
        while not self._stop.is_set():
            self._run_cycle(cycle)
            if self._failures and self._clock.wait(self._stop, self._backoff()):
                return
            if self._stop.is_set() or not self._wait_for_work():
                return

    def _run_cycle(self, cycle: Callable[[], bool]) -> None:
        # The cycle sees every change made so far: one arriving from now on notifies again.
        # Left pending, a change a periodic cycle already rendered would cost a second,
        # debounced cycle (and delay the next change by that debounce).
        self._wakeup.consume()
        error = ""
        try:
            ok = cycle()
        except Exception as err:  # a bug must not kill the sidecar; the next cycle retries
            ok, error = False, f"{type(err).__name__}: {err}"
            self._errors.report([error], lambda _: log.exception("render cycle failed"))
        if not error:
            self._errors.report([], log.error)
        self._failures = 0 if ok else self._failures + 1
        self.last_cycle = self._clock.now()

    def _backoff(self) -> float:
        return min(BACKOFF_FIRST * 2.0 ** min(self._failures - 1, 16), self._interval)

    def _wait_for_work(self) -> bool:
        """Wait for the next cycle's time; False when stopped instead."""
        if self._wait_for_change():
            self._let_burst_settle()
        return not self._stop.is_set()

    def _wait_for_change(self) -> bool:
        """True on a change; False when the interval passed or `stop` was set first."""
        deadline = self._clock.now() + self._interval
        while not self._clock.wait(self._wakeup, min(POLL, max(0.0, deadline - self._clock.now()))):
            if self._stop.is_set() or self._clock.now() >= deadline:
                return False
        return True

    def _let_burst_settle(self) -> None:
        """Wait while changes keep coming less than `debounce` apart, but stop waiting where
        one more wait would end past MAX_DEBOUNCE after the first change."""
        first, pause = self._clock.now(), min(self._debounce, MAX_DEBOUNCE)
        while not self._stop.is_set():
            self._wakeup.consume()
            if self._clock.wait(self._stop, pause) or not self._wakeup.pending:
                return
            if self._clock.now() - first + pause > MAX_DEBOUNCE:
                return
