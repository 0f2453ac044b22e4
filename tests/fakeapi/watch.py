"""Watch streams: initial state, replay from a resourceVersion, live events, bookmarks, faults.

A watch is served on its request thread: it waits on the store's condition for new events,
translates each event through the watch's selection (an object entering the selection is
ADDED, one leaving it is DELETED with its last state, as the watch cache does), and writes
newline-delimited JSON chunks. A start below the compaction mark yields one in-stream ERROR 410
and the end of the stream; a running watch is not affected by later compactions (like an etcd
watch). `timeoutSeconds` ends the
stream cleanly; `allowWatchBookmarks` adds a BOOKMARK every bookmark period; with
`sendInitialEvents=true` the initial ADDED burst ends with the `k8s.io/initial-events-end`
BOOKMARK (sent when bookmarks are allowed, as client-go always asks).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from .errors import expired
from .listing import Filter, ListOptions, wait_for_rv
from .resources import Resource
from .state import State
from .store import Event

_CHUNK = 64 * 1024
_TICK = 0.25


class StreamConn(Protocol):
    """The HTTP side of a watch: a chunked response on one connection."""

    def start_stream(self) -> None: ...
    def write_chunk(self, data: bytes) -> None: ...
    def end_stream(self) -> None: ...
    def client_gone(self) -> bool: ...
    def cut(self) -> None: ...


def line(kind: str, raw: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"


def translate(event: Event, selected: Filter) -> tuple[str, bytes] | None:
    """What this watch sends for `event` (type, object), or None when it is invisible to it."""
    now_in = event.obj is not None and selected.matches(event.obj)
    was_in = event.prev is not None and selected.matches(event.prev)
    if now_in and event.obj is not None:
        return ("MODIFIED" if was_in else "ADDED"), event.obj.raw
    return ("DELETED", event.tombstone()) if was_in else None


def _same(raw: bytes) -> bytes:
    return raw


class Watch:
    def __init__(
        self,
        state: State,
        res: Resource,
        namespace: str | None,
        opts: ListOptions,
        render: Callable[[bytes], bytes] = _same,
    ) -> None:
        self.render = render  # object encoding, e.g. as a Table row for kubectl
        self.store, self.faults, self.res, self.opts = state.store, state.faults, res, opts
        self.selected = Filter(namespace, opts, res.plural)
        self.bookmark_period = state.bookmark_period
        self.too_large_wait = state.too_large_wait
        self.closing = state.closing
        self.drop_generation = self.faults.drop_generation
        self.cut_generation = self.faults.cut_generation

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        # Like a real API server's: the resourceVersion (and the initial-events-end annotation)
        # and nothing else, no creationTimestamp.
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version, "metadata": meta}
        return line("BOOKMARK", msgspec.json.encode(obj))

    def _start(self) -> tuple[int, list[bytes]]:
        """Where the watch starts and what it sends first (initial state or an ERROR)."""
        opts, store = self.opts, self.store
        wanted = opts.requested_rv()
        initial = opts.send_initial_events
        if initial is None:
            initial = wanted is None
        if wanted is not None and initial:
            wait_for_rv(store, wanted, self.too_large_wait)
        with store.lock:
            lines: list[bytes] = []
            start = store.rv if initial or wanted is None else wanted
            if initial:
                objs = [o for o in store.current(self.res.plural) if self.selected.matches(o)]
                lines = [line("ADDED", self.render(o.raw)) for o in objs]
                if opts.send_initial_events and opts.allow_bookmarks:
                    lines.append(self._bookmark(store.rv, initial_end=True))
            elif start < store.compacted_rv:
                return -1, [self._too_old(start)]
            store.track(self, start)
            return start, lines

    def _too_old(self, rv: int) -> bytes:
        status = expired(f"too old resource version: {rv} ({self.store.compacted_rv})").status
        return line("ERROR", msgspec.json.encode(status))

    def serve(self, conn: StreamConn) -> None:
        """Streams until the client goes, the server stops or drops it, or the stream ends."""
        last, first = self._start()
        try:
            with contextlib.suppress(OSError):  # the client went away
                conn.start_stream()
                if not self._send(conn, first):
                    return
                if last < 0 or self._loop(conn, last):
                    conn.end_stream()
        finally:
            self.store.track(self, None)

    def _send(self, conn: StreamConn, lines: list[bytes]) -> bool:
        """Writes lines in chunks; False when an armed cut ended the connection instead."""
        if not lines:
            return True
        if self.faults.cut_generation != self.cut_generation:
            conn.write_chunk(lines[0][: max(1, len(lines[0]) // 2)])
            conn.cut()
            return False
        batch: list[bytes] = []
        size = 0
        for item in lines:
            batch.append(item)
            size += len(item)
            if size >= _CHUNK:
                conn.write_chunk(b"".join(batch))
                batch, size = [], 0
        if batch:
            conn.write_chunk(b"".join(batch))
        return True

    def _loop(self, conn: StreamConn, last: int) -> bool:
        """Streams live events; True when the stream should end cleanly (timeout)."""
        timeout = self.opts.timeout_seconds
        deadline = time.monotonic() + timeout if timeout else None
        period = self.bookmark_period if self.opts.allow_bookmarks else None
        next_bookmark = time.monotonic() + period if period else None
        while True:
            lines, last, ended = self._next(conn, last, deadline, next_bookmark)
            if lines is None:
                return False
            if next_bookmark is not None and time.monotonic() >= next_bookmark:
                lines.append(self._bookmark(last))
                next_bookmark = time.monotonic() + (period or 0)
            if not self._send(conn, lines):
                return False
            if ended:
                return True

    def _next(
        self, conn: StreamConn, last: int, deadline: float | None, bookmark: float | None
    ) -> tuple[list[bytes] | None, int, bool]:
        """Waits for something to send: (lines, new last rv, timed out); lines None = close."""
        store, faults = self.store, self.faults
        with store.changed:
            while True:
                if self.closing.is_set() or faults.drop_generation != self.drop_generation:
                    conn.cut()
                    return None, last, False
                now = time.monotonic()
                if not faults.stalled:
                    timed_out = deadline is not None and now >= deadline
                    due = bookmark is not None and now >= bookmark
                    if store.rv > last or timed_out or due:
                        events = store.events_after(last)
                        mine = [e for e in events if e.resource == self.res.plural]
                        sent = [t for t in (translate(e, self.selected) for e in mine) if t]
                        lines = [line(kind, self.render(raw)) for kind, raw in sent]
                        store.track(self, store.rv)
                        return lines, store.rv, timed_out
                if conn.client_gone():
                    return None, last, False
                waits = [_TICK] + [t - now for t in (deadline, bookmark) if t is not None]
                store.changed.wait(max(0.001, min(waits)))
