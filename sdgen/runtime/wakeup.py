"""The wake-up: "something changed, render soon", raised by every watcher, taken by the loop.

Created before anything that can notify it (informers, the config file watcher), so the
watchers are built with its `notify` and nothing has to be rebound once the loop exists.
"""

from __future__ import annotations

import threading


class Wakeup:
    """A change flag set from informer and watchdog threads and cleared by the scheduler."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def notify(self, *_changes: object) -> None:
        """Mark a change. Informers pass the changes themselves; only their arrival counts,
        since a cycle re-reads everything from the caches."""
        self._event.set()

    @property
    def pending(self) -> bool:
        """A change arrived since the last `consume()`."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a change is pending or `timeout` seconds pass; whether one is."""
        return self._event.wait(timeout)

    def consume(self) -> None:
        """Take every change so far: the next notify marks a change made after this point."""
        self._event.clear()
