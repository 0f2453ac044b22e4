"""Keeps a `Store` equal to what the API server holds, the way client-go's reflector does.

It lists (in pages of 500), then watches from the list's resourceVersion, and keeps watching
from the last resourceVersion it saw (events and bookmarks) across dropped, timed-out or
stalled watches; only a 410 Expired (the server no longer has that history) forces a relist,
and every relist replaces the cache, so objects deleted while disconnected disappear. Failures
back off exponentially with jitter, honouring Retry-After.

It speaks to the server only through the `ListerWatcher` protocol (raw JSON bytes in, typed
exceptions out) so it imports no Kubernetes client and is tested against fakes and the
emulator alike. Time and sleeping are injected; sleeping is the stop Event's wait, so stop
interrupts every pause. So is what happens to a record between decoding and storing, as
client-go's SetTransform does it: the informer's maker passes the interner in.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol

import msgspec

from sdgen import SdgenError
from sdgen.cache.store import Change, R, Store
from sdgen.k8s.records import ObjectList, ObjectMeta, key_of

log = logging.getLogger(__name__)

Query = Mapping[str, str]
ChangeHandler = Callable[[Sequence[Change[R]]], None]


class ApiError(SdgenError):
    """The server answered with an error status, over HTTP or as an in-stream ERROR event."""

    def __init__(self, status: int, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Expired(ApiError):
    """410 Gone: the resourceVersion or continue token is older than the server's history."""


class TransportError(SdgenError):
    """No usable answer: connection refused or cut, TLS failure, a stream ended mid-event."""


class ReadTimeout(TransportError):
    """Nothing arrived within the client read timeout: a hung server or a stalled watch."""


class _Stopped(Exception):
    """Stop was requested in the middle of a multi-request step."""


def api_error(status: int, message: str = "", retry_after: float | None = None) -> ApiError:
    """The exception for an error status: `Expired` for 410, `ApiError` otherwise."""
    return (Expired if status == 410 else ApiError)(status, message, retry_after)


class WatchStream(Protocol):
    """The raw lines of one watch response."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None:
        """Release the response; safe from another thread, where it wakes a blocked read."""


class ListerWatcher(Protocol):
    """One resource in one scope. `query` holds the API query parameters; `timeout` is the
    client read timeout in seconds. Errors are raised as `ApiError` / `TransportError`."""

    def list(self, query: Query, timeout: float) -> bytes:
        """One list page: the raw JSON body."""

    def watch(self, query: Query, timeout: float) -> WatchStream:
        """A watch (the adapter adds `watch=true`)."""


@dataclass(frozen=True, slots=True)
class ReflectorOptions:
    """Timing and paging; client-go's values by default. All seconds, as numbers."""

    page_size: int = 500
    list_timeout: float = 60.0
    watch_timeout: tuple[float, float] = (300.0, 600.0)  # server-side timeoutSeconds range
    watch_read_margin: float = 30.0  # read timeout = server timeout + margin ...
    watch_read_timeout: float | None = None  # ... unless set: the stall detector
    short_watch: float = 1.0  # a watch ending sooner with no events is a failure
    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    backoff_jitter: float = 1.0
    backoff_reset: float = 120.0  # a failure after this long healthy starts over at initial


class Backoff:
    """Exponential backoff with jitter that resets after a healthy period (client-go's)."""

    def __init__(
        self, options: ReflectorOptions, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self._options = options
        self._clock = clock
        self._rng = rng
        self._current = 0.0
        self._last: float | None = None

    def next(self) -> float:
        options, now = self._options, self._clock()
        if self._last is None or now - self._last > options.backoff_reset:
            self._current = options.backoff_initial
        else:
            self._current = min(self._current * options.backoff_factor, options.backoff_max)
        self._last = now
        jittered = self._current * (1.0 + options.backoff_jitter * self._rng.random())
        return min(jittered, options.backoff_max)


class _WatchEvent(msgspec.Struct, frozen=True):
    type: str
    object: msgspec.Raw


class Status(msgspec.Struct, frozen=True):
    """How the API server reports an error: the body of a failed request or an ERROR event."""

    message: str = ""
    reason: str = ""
    code: int = 0


class _Object(msgspec.Struct, frozen=True):
    """Any object, metadata only: enough for bookmarks."""

    metadata: ObjectMeta = ObjectMeta()


_INITIAL = "initial"
_EVENT = msgspec.json.Decoder(_WatchEvent)
_OBJECT = msgspec.json.Decoder(_Object)
_STATUS = msgspec.json.Decoder(Status)


# Every reason a watch ends or a relist happens, counted under (sdgen_watch_restarts_total,
# sdgen_relists_total): the metrics show each from the start, so `increase()` sees the first.
WATCH_END_REASONS = ("closed", "expired", "stalled", "error", "unexpected")
RELIST_REASONS = ("expired", "unexpected")


def _failure_reason(err: Exception) -> str:
    """The label a failure is counted under (watch restarts, relists)."""
    if isinstance(err, Expired):
        return "expired"
    if isinstance(err, ReadTimeout):
        return "stalled"
    if isinstance(err, ApiError | TransportError | msgspec.DecodeError):
        return "error"
    return "unexpected"


def _kind(err: Exception) -> str:
    return f"HTTP {err.status}" if isinstance(err, ApiError) else type(err).__name__


class Reflector(Generic[R]):
    """Lists and watches one resource into a store. `run()` loops until `stop` is set."""

    def __init__(
        self,
        name: str,
        record_type: type[R],
        lister_watcher: ListerWatcher,
        store: Store[R],
        stop: threading.Event,
        *,
        on_changes: ChangeHandler[R] | None = None,
        label_selector: str = "",
        field_selector: str = "",
        options: ReflectorOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        transform: Callable[[R], R] | None = None,
    ) -> None:
        """`transform`: applied to each decoded record before the store publishes it, while
        the record is still private, so it may change the record in place (an `Interner`
        does); None stores records as decoded."""
        self.name = name
        self._lw = lister_watcher
        self._store = store
        self._stop = stop
        self._on_changes = on_changes
        self._selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        self._options = options or ReflectorOptions()
        self._clock = clock
        self._sleep = sleep or stop.wait
        self._rng = rng or random.Random()
        self._backoff = Backoff(self._options, clock, self._rng)
        self._list_decoder = msgspec.json.Decoder(ObjectList[record_type])  # type: ignore[valid-type]
        self._record_decoder = msgspec.json.Decoder(record_type)
        self._transform = transform
        self._synced = threading.Event()
        self._stream: WatchStream | None = None
        self.resource_version = ""
        self.last_list_at: float | None = None
        self.last_event_at: float | None = None
        self.last_error: Exception | None = None
        self.failures = 0
        self.relists: Counter[str] = Counter()  # reason → completed relists after the first list
        self.watch_restarts: Counter[str] = Counter()  # reason → watches that ended

    def has_synced(self) -> bool:
        """True once a complete list has been written to the store."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    @property
    def last_progress(self) -> float | None:
        """Clock time of the last completed list or watch event (bookmarks included)."""
        times = [t for t in (self.last_list_at, self.last_event_at) if t is not None]
        return max(times, default=None)

    def interrupt(self) -> None:
        """Wake a blocked watch read; call after setting the stop Event."""
        stream = self._stream
        if stream is not None:
            stream.close()

    def run(self) -> None:
        relist = _INITIAL  # why the cache needs a (re)list; "" while it is current
        while not self._stop.is_set():
            try:
                if relist:
                    self.list_once()
                    if relist != _INITIAL:
                        self.relists[relist] += 1
                        log.info(
                            "%s: relisted (%s): %d objects", self.name, relist, len(self._store)
                        )
                    relist = ""
                self.watch_once()
                self.watch_restarts["closed"] += 1
            except _Stopped:
                return
            except Exception as err:
                relist = self._recover(err, relist)

    def _recover(self, err: Exception, relist: str) -> str:
        """Count and log a failure, back off, and say whether the next step is a relist."""
        if self._stop.is_set():
            return relist
        reason = _failure_reason(err)
        if not relist:
            self.watch_restarts[reason] += 1
        self.failures += 1
        self.last_error = err
        delay = self._backoff.next()
        if isinstance(err, ApiError) and err.retry_after is not None:
            delay = max(delay, err.retry_after)
        if reason == "unexpected":
            log.exception("%s: unexpected error; relisting in %.1fs", self.name, delay)
        else:
            log.warning("%s: %s: %s; retrying in %.1fs", self.name, _kind(err), err, delay)
        self._sleep(delay)
        return relist or (reason if reason in ("expired", "unexpected") else "")

    def list_once(self) -> None:
        """A complete paginated list, written to the store as a replace."""
        records, resource_version = self._list_all()
        changes = self._store.replace(records)
        self.resource_version = resource_version
        self.last_list_at = self._clock()
        self.last_error = None
        first_sync = not self._synced.is_set()
        self._synced.set()
        if first_sync:
            log.info("%s: synced: %d objects", self.name, len(records))
        log.debug("%s: listed %d at rv %s", self.name, len(records), resource_version)
        # The first sync is news even when the list is empty: whoever waits for has_synced()
        # (a render held back until every cache is complete) should not wait for a timer.
        self._notify(changes, force=first_sync)

    def watch_once(self) -> None:
        """One watch from the current resourceVersion, until the server or an error ends it."""
        server_timeout = int(self._rng.uniform(*self._options.watch_timeout))
        read_timeout = self._options.watch_read_timeout or (
            server_timeout + self._options.watch_read_margin
        )
        query = self._query(
            resourceVersion=self.resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(server_timeout),
        )
        started, events = self._clock(), 0
        stream = self._lw.watch(query, read_timeout)
        self._stream = stream
        if self._stop.is_set():
            stream.close()  # stop() may have looked before the stream was published
        try:
            for line in stream:
                if self._stop.is_set():
                    raise _Stopped
                if line.strip():
                    self._handle(line)
                    events += 1
        finally:
            self._stream = None
            stream.close()
        if events == 0 and self._clock() - started < self._options.short_watch:
            raise TransportError("watch ended at once without events")

    def _list_all(self) -> tuple[list[R], str]:
        try:
            return self._list_pages()
        except Expired:
            # An expired continue token: client-go's pager restarts from scratch, once.
            log.info("%s: list continuation expired; listing again", self.name)
            return self._list_pages()

    def _list_pages(self) -> tuple[list[R], str]:
        records: list[R] = []
        token = ""
        while True:
            query = self._query(limit=str(self._options.page_size), **{"continue": token})
            page = self._list_decoder.decode(self._lw.list(query, self._options.list_timeout))
            transform = self._transform
            records.extend(page.items if transform is None else map(transform, page.items))
            token = page.metadata.continue_
            if not token:
                return records, page.metadata.resource_version
            if self._stop.is_set():
                raise _Stopped

    def _handle(self, line: bytes) -> None:
        event = _EVENT.decode(line)
        change: Change[R] | None = None
        if event.type in ("ADDED", "MODIFIED"):
            record = self._record_decoder.decode(event.object)
            resource_version = record.metadata.resource_version
            if self._transform is not None:
                record = self._transform(record)
            change = self._store.upsert(record)
        elif event.type == "DELETED":
            meta = self._record_decoder.decode(event.object).metadata
            resource_version = meta.resource_version
            change = self._store.delete(key_of(meta))
        elif event.type == "BOOKMARK":
            resource_version = _OBJECT.decode(event.object).metadata.resource_version
        elif event.type == "ERROR":
            status = _STATUS.decode(event.object)
            raise api_error(status.code, status.message or status.reason)
        else:
            log.warning("%s: ignoring watch event of type %r", self.name, event.type)
            return
        if resource_version:
            self.resource_version = resource_version
        self.last_event_at = self._clock()
        self.last_error = None
        if change is not None:
            self._notify([change])

    def _notify(self, changes: Sequence[Change[R]], force: bool = False) -> None:
        if (changes or force) and self._on_changes is not None:
            self._on_changes(changes)

    def _query(self, **params: str) -> dict[str, str]:
        return {key: value for key, value in {**self._selectors, **params}.items() if value}
