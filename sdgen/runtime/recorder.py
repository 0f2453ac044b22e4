"""Which Kubernetes Event writes an occurrence costs: deduplication into series, a rate limit
per object, and a heartbeat for series counts. Pure: the clock is passed in, nothing is sent
(the emitter in `runtime.events` performs the writes this decides on).

As client-go's events/v1 recorder: the first occurrence of an event creates it; the second
turns it into a series (`series.count: 2`) with a patch at once; later ones only count, and a
heartbeat patches `series.count` and `series.lastObservedTime` of the series that changed
since their last write. A series not seen for `finish` seconds is closed: its last count is
written and it is forgotten, so a later occurrence starts a new event. Events are the same
when they regard the same object with the same type, reason, action and note (client-go's
key leaves out the note; sdgen keeps one event per rejected target, told apart by its note).

As the core recorder's spam filter: each object has a token bucket of `burst` writes (25),
refilled at one per `refill` seconds (5 minutes), so a config flapping in a loop cannot flood
the API server. A write refused by the bucket is `THROTTLED`: a create is dropped (the next
occurrence tries again), a series patch waits for a later heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

BURST = 25
REFILL = 300.0  # seconds per token
HEARTBEAT = 60.0  # seconds between series patches (client-go: 30 min; counts go stale less)
FINISH = 360.0  # a series idle this long is closed (client-go's finishTime, 6 min)


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Regarding:
    """The object an event is about (a ConfigMap, for sdgen)."""

    namespace: str
    name: str
    uid: str = ""
    kind: str = "ConfigMap"
    api_version: str = "v1"


@dataclass(frozen=True, slots=True)
class Occurrence:
    regarding: Regarding
    type: EventType
    reason: str
    action: str
    note: str


class Write(StrEnum):
    CREATE = "created"
    PATCH = "patched"
    COUNTED = "counted"  # a repeat counted into its series; the heartbeat writes it
    THROTTLED = "throttled"


@dataclass(slots=True)
class Series:
    """What the recorder remembers of one event: its name once created, and its count."""

    occurrence: Occurrence
    first: float
    name: str = ""  # set once the create succeeded
    count: int = 1
    last: float = 0.0
    written_count: int = 1  # the count the API server has
    seq: int = 0  # tells apart the names of events created at the same clock reading


@dataclass(frozen=True, slots=True)
class Decision:
    """What to send: CREATE the event (`series.name` is made for it), or PATCH its series."""

    write: Write
    series: Series | None = None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class Recorder:
    burst: int = BURST
    refill: float = REFILL
    heartbeat_every: float = HEARTBEAT
    finish: float = FINISH
    _series: dict[Occurrence, Series] = field(default_factory=dict)
    _buckets: dict[Regarding, _Bucket] = field(default_factory=dict)
    _last_beat: float | None = None
    _created: int = 0

    def record(self, occurrence: Occurrence, now: float) -> Decision:
        """The write this occurrence needs now."""
        known = self._series.get(occurrence)
        if known is None or not known.name:
            if not self._take(occurrence.regarding, now):
                return Decision(Write.THROTTLED)
            self._created += 1
            series = Series(occurrence, now, count=1, last=now, seq=self._created)
            self._series[occurrence] = series
            return Decision(Write.CREATE, series)
        known.count += 1
        known.last = now
        if known.written_count == 1 and self._take(occurrence.regarding, now):
            return Decision(Write.PATCH, known)  # becomes a series at once, as client-go
        return Decision(Write.COUNTED, known)

    def created(self, series: Series, name: str) -> None:
        series.name = name

    def patched(self, series: Series, count: int) -> None:
        series.written_count = max(series.written_count, count)

    def failed(self, series: Series) -> None:
        """A write failed (RBAC, API down, the event expired): forget the event, so the next
        occurrence creates it again."""
        if self._series.get(series.occurrence) is series:
            del self._series[series.occurrence]

    def heartbeat(self, now: float) -> Iterator[Decision]:
        """Due every `heartbeat_every` seconds: a PATCH for each series whose count the API
        server lacks (as the bucket allows); series idle past `finish` are then forgotten."""
        if self._last_beat is not None and now - self._last_beat < self.heartbeat_every:
            return
        self._last_beat = now
        for series in list(self._series.values()):
            stale = series.count > series.written_count and series.name
            if stale and self._take(series.occurrence.regarding, now):
                yield Decision(Write.PATCH, series)
            elif not stale and now - series.last >= self.finish:
                del self._series[series.occurrence]

    def _take(self, regarding: Regarding, now: float) -> bool:
        bucket = self._buckets.get(regarding)
        if bucket is None:
            bucket = self._buckets[regarding] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill)
        bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


# --- the bodies of the writes (events.k8s.io/v1) --------------------------------------------

NOTE_LIMIT = 1024  # bytes: the API server refuses a longer note
CONTROLLER = "sdgen"
_CUT = " …(truncated)"


def truncated(note: str, limit: int = NOTE_LIMIT) -> str:
    """`note` cut to at most `limit` UTF-8 bytes, saying so, never inside a character."""
    data = note.encode()
    if len(data) <= limit:
        return note
    room = limit - len(_CUT.encode())
    return data[:room].decode("utf-8", "ignore") + _CUT


def micro_time(seconds: float) -> str:
    """RFC 3339 with microseconds, as Kubernetes MicroTime."""
    whole = int(seconds)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{stamp}.{int((seconds - whole) * 1e6):06d}Z"


def event_name(series: Series) -> str:
    """As client-go: the object's name and the time in hex nanoseconds (plus a sequence
    number, so two events made at one clock reading do not collide)."""
    return f"{series.occurrence.regarding.name}.{int(series.first * 1e9) + series.seq:x}"


def event_body(series: Series, instance: str) -> dict[str, Any]:
    """The events.k8s.io/v1 Event that creates `series` (named by `event_name`)."""
    o = series.occurrence
    regarding = {
        "apiVersion": o.regarding.api_version,
        "kind": o.regarding.kind,
        "namespace": o.regarding.namespace,
        "name": o.regarding.name,
    }
    if o.regarding.uid:
        regarding["uid"] = o.regarding.uid
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": event_name(series), "namespace": o.regarding.namespace},
        "eventTime": micro_time(series.first),
        "reportingController": CONTROLLER,
        "reportingInstance": instance[:128],
        "action": o.action,
        "reason": o.reason,
        "type": str(o.type),
        "note": truncated(o.note),
        "regarding": regarding,
    }


def series_patch(series: Series) -> dict[str, Any]:
    """The merge patch that brings the API server's series up to the recorder's count."""
    count = max(series.count, 2)  # a series starts at 2: the first repeat
    return {"series": {"count": count, "lastObservedTime": micro_time(series.last)}}
