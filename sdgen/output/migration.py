"""Moving an output directory from the layout before per-job directories to today's, with no
moment where Prometheus sees no targets.

sdgen used to write `targets/<slug>.json` side by side, with 40-bit hashes in its slugs
(docs/architecture.md, "Output directory"). On the first run over such a directory, the files
sdgen wrote in that layout (`naming.is_legacy`) are held while the new files and fragments are
written, and until Prometheus has loaded the new fragments: a reload requested after they were
written succeeded, and then `GRACE` passed, because Prometheus answers a reload before its
discovery has handed the new jobs' targets to scraping (at most every 5 s). Then the old files
are removed like any file no longer wanted, which costs one more reload. Meanwhile Prometheus
runs both jobs for a few seconds: the target count doubles, it never drops. Without
`--reload-url` nothing can confirm the load, so the old files go in the cycle after the new
ones were written.

Pure: the reloader's answers and the clock are handed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sdgen.output.naming import is_legacy

GRACE = 10.0  # seconds the old files stay after the confirming reload


class LegacyFiles:
    """Whether old-layout files are still held, which paths those are, and when they may go."""

    def __init__(self, owned: Iterable[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.pending = any(is_legacy(relpath) for relpath in owned)
        self._clock = clock
        self._ticket: int | None = None  # the reload that loads the new layout; 0: none will
        self._loaded_at: float | None = None

    def holds(self, relpath: str) -> bool:
        return self.pending and is_legacy(relpath)

    def written(self, ticket: int | None) -> None:
        """The new layout was written; `ticket` is the reload requested after it (None when
        the write changed no fragment, so the last ticket still stands), 0 without reloads."""
        if self.pending and (ticket is not None or self._ticket is None):
            self._ticket = ticket

    @property
    def ticket(self) -> int | None:
        return self._ticket

    def due(self, loaded: Callable[[int], bool] | None) -> float | None:
        """Release the old files if their time has come (`loaded(ticket)`: that reload
        succeeded; None: there is no reloader). Returns the seconds still to wait, if any."""
        if not self.pending or self._ticket is None:
            return None
        if loaded is not None:
            if not loaded(self._ticket):
                return None
            if self._loaded_at is None:
                self._loaded_at = self._clock()
            left = GRACE - (self._clock() - self._loaded_at)
            if left > 0:
                return left
        self.pending = False
        return None
