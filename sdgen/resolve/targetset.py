"""One endpoint's scrape targets, kept current source by source instead of rebuilt.

A cycle in a large cluster usually changes a handful of its pods. Each source (a pod, an
EndpointSlice) contributes encoded file_sd groups ("lines"); the endpoint's file is all of
them, without repeats, sorted. Here the sorted, deduplicated lines are kept and patched by
binary search when one source's contribution changes, so a cycle costs what changed, not
what exists; many changes at once (a first resolve, a relist) rebuild with one sort instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from sdgen.resolve.funnel import Counted, Tally

_REBUILD_SHARE = 8  # more than 1/8 of the sources changed: one sort beats that many patches


class Contribution(Counted, Protocol):
    """What one source gave an endpoint: its lines, why any candidate was refused, and its
    funnel counts."""

    @property
    def lines(self) -> tuple[bytes, ...]: ...
    @property
    def dropped(self) -> tuple[str, ...]: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...


C = TypeVar("C", bound=Contribution)


class TargetSet(Generic[C]):
    """Sources' contributions by key; `lines` is their union, sorted, each line once. A
    `lines` handed out is never changed: a change makes a new list (the identity contract of
    sdgen.k8s.view), so readers may keep one and tell "unchanged" by `is`. `tally`: the
    funnel counts over all sources, kept as they change; None when not `counting`;
    `by_namespace`: it counts sources per namespace too (for a target of every namespace)."""

    def __init__(self, *, counting: bool = True, by_namespace: bool = False) -> None:
        self._by_source: dict[str, C] = {}
        self._lines: list[bytes] = []
        self._shared = True  # `_lines` may have been handed out: copy before patching
        self._repeats: dict[bytes, int] = {}  # a line given more often than once: extra count
        self._troubled: set[str] = set()  # sources with dropped targets or warnings
        self.tally = Tally(by_namespace=by_namespace) if counting else None

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def lines(self) -> list[bytes]:
        """Sorted, unique; the caller must not change it."""
        self._shared = True
        return self._lines

    def contributions(self) -> Iterator[C]:
        """In source-key order."""
        return (self._by_source[key] for key in sorted(self._by_source))

    def update(self, changes: dict[str, C | None]) -> None:
        """Set (or, with None, remove) the contributions of the given sources."""
        changes = {k: v for k, v in changes.items() if v is not None or k in self._by_source}
        tally = self.tally
        if len(changes) * _REBUILD_SHARE > len(self._by_source):
            self._apply(changes)
            self._rebuild()
            if tally is not None:  # counted afresh in bulk, as the lines are sorted afresh
                self.tally = Tally.of(self._by_source, by_namespace=tally.by_namespace)
            return
        gone: list[bytes] = []
        for key, new in changes.items():  # adds first, removals after: a line that only
            old = self._by_source.get(key)  # moves between sources leaves `lines` alone
            if old is not None:
                gone.extend(old.lines)
                if tally is not None:
                    tally.add(key, old, -1)
            for line in new.lines if new is not None else ():
                self._add(line)
            if new is not None and tally is not None:
                tally.add(key, new, 1)
            self._put(key, new)
        for line in gone:
            self._remove(line)

    def problems(self) -> tuple[Counter[str], list[str]]:
        """Dropped targets counted by reason, and the warnings, in source-key order."""
        dropped: Counter[str] = Counter()
        warnings: list[str] = []
        for key in sorted(self._troubled):
            contribution = self._by_source[key]
            dropped.update(contribution.dropped)
            warnings.extend(contribution.warnings)
        return dropped, warnings

    def _put(self, key: str, new: C | None) -> None:
        if new is None:
            self._by_source.pop(key, None)
            self._troubled.discard(key)
            return
        self._by_source[key] = new
        if new.dropped or new.warnings:
            self._troubled.add(key)
        else:
            self._troubled.discard(key)

    def _apply(self, changes: dict[str, C | None]) -> None:
        for key, new in changes.items():
            self._put(key, new)

    def _rebuild(self) -> None:
        counts = Counter(line for c in self._by_source.values() for line in c.lines)
        lines = sorted(counts)
        if lines != self._lines:  # an equal list stays the same object: "unchanged"
            self._lines, self._shared = lines, False
        self._repeats = {line: n - 1 for line, n in counts.items() if n > 1}

    def _add(self, line: bytes) -> None:
        i = bisect_left(self._lines, line)
        if i < len(self._lines) and self._lines[i] == line:
            self._repeats[line] = self._repeats.get(line, 0) + 1
        else:
            self._own().insert(i, line)

    def _remove(self, line: bytes) -> None:
        extra = self._repeats.get(line, 0)
        if extra > 1:
            self._repeats[line] = extra - 1
        elif extra:
            del self._repeats[line]
        else:
            del self._own()[bisect_left(self._lines, line)]

    def _own(self) -> list[bytes]:
        if self._shared:  # handed out, so never changed: copy once, then patch the copy
            self._lines, self._shared = self._lines.copy(), False
        return self._lines
