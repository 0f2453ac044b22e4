"""Moving an output directory from the layout before per-job directories to today's, with no
moment where Prometheus sees no targets.

sdgen used to write `targets/<slug>.json` side by side, with 40-bit hashes in its slugs
(docs/architecture.md, "Output"). On the first run over such a directory, the files sdgen
wrote in that layout (`naming.is_legacy`) are held while the new files and fragments are
written, and until Prometheus has loaded the new fragments (a reload requested after they
were written succeeded). Then they are removed like any file no longer wanted, and that
removal of old fragments costs one more reload. Meanwhile Prometheus runs both jobs for a few
seconds: the target count doubles, it never drops. Without `--reload-url` nothing can confirm
the load, so the old files go in the cycle after the new ones were written.
"""

from __future__ import annotations

from collections.abc import Iterable

from sdgen.output.naming import is_legacy


class LegacyFiles:
    """Whether old-layout files are still held, and which paths those are."""

    def __init__(self, owned: Iterable[str]) -> None:
        self.pending = any(is_legacy(relpath) for relpath in owned)

    def holds(self, relpath: str) -> bool:
        return self.pending and is_legacy(relpath)

    def release(self) -> None:
        """The new files are in use: the old ones may go."""
        self.pending = False
