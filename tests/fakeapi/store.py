"""Objects by resource, the global resourceVersion and the event log (the emulator's etcd).

Each stored version is immutable and keeps its pre-serialised JSON, so a list page or a watch
event is a byte join, never a re-encode: that is what lets the emulator serve 100k pods
quickly. Every write gets the next global resourceVersion and appends one event; watches read
the log after their resourceVersion, lists read a snapshot taken at a resourceVersion (rebuilt
from the log for older versions), and `compact()` forgets the history before now.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .errors import expired

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

_SNAPSHOTS_KEPT = 16


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of one object: its JSON bytes plus what selectors look at."""

    key: Key
    raw: bytes
    labels: dict[str, str]
    rv: int

    def decode(self) -> dict[str, Any]:
        obj: dict[str, Any] = msgspec.json.decode(self.raw)
        return obj


def stored_from(obj: dict[str, Any], rv: int) -> Stored:
    meta = obj["metadata"]
    key = (meta.get("namespace", ""), meta["name"])
    return Stored(key, msgspec.json.encode(obj), dict(meta.get("labels") or {}), rv)


@dataclass(slots=True)
class Event:
    """A committed write. `obj` is None for deletions; `prev` is None for creations."""

    rv: int
    resource: str
    obj: Stored | None
    prev: Stored | None
    _tombstone: bytes | None = field(default=None, repr=False)

    def tombstone(self) -> bytes:
        """The previous state stamped with this event's resourceVersion (DELETED payload)."""
        if self._tombstone is None:
            assert self.prev is not None
            obj = self.prev.decode()
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._tombstone = msgspec.json.encode(obj)
        return self._tombstone


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A resource's objects at one resourceVersion, with keys sorted like etcd's."""

    rv: int
    keys: list[Key]
    objects: dict[Key, Stored]


class Store:
    """Thread-safe state. Hold `lock` across read-modify-write; waiters use `changed`."""

    def __init__(self, resources: list[str], first_rv: int = 1) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = first_rv
        self.compacted_rv = 0
        self._objects: dict[str, dict[Key, Stored]] = {r: {} for r in resources}
        self._keys: dict[str, list[Key]] = {r: [] for r in resources}
        self._log: list[Event] = []
        self._log_rvs: list[int] = []
        self._cursors: dict[object, int] = {}  # running watch -> rv it has sent up to
        self._snapshots: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()

    def get(self, resource: str, key: Key) -> Stored | None:
        return self._objects[resource].get(key)

    def next_rv(self) -> int:
        """Reserves the resourceVersion the caller's write (under `lock`) will carry."""
        return self.rv + 1

    def commit(self, resource: str, key: Key, new: Stored | None) -> Event:
        """Stores `new` (None deletes) at rv `next_rv()` and wakes every waiter."""
        with self.lock:
            self.rv += 1
            objects = self._objects[resource]
            prev = objects.get(key)
            if new is None:
                del objects[key]
                keys = self._keys[resource]
                del keys[bisect.bisect_left(keys, key)]
            else:
                if prev is None:
                    bisect.insort(self._keys[resource], key)
                objects[key] = new
            event = Event(self.rv, resource, new, prev)
            self._log.append(event)
            self._log_rvs.append(self.rv)
            self.changed.notify_all()
            return event

    def events_after(self, rv: int) -> list[Event]:
        with self.lock:
            return self._log[bisect.bisect_right(self._log_rvs, rv) :]

    def track(self, watch: object, rv: int | None) -> None:
        """Records how far a running watch has read (None: it ended)."""
        with self.lock:
            if rv is None:
                self._cursors.pop(watch, None)
                self._trim()
            else:
                self._cursors[watch] = rv

    def compact(self) -> None:
        """Refuses reads from before the current rv from now on, as etcd compaction does."""
        with self.lock:
            self.compacted_rv = self.rv
            for cached in [k for k in self._snapshots if k[1] < self.rv]:
                del self._snapshots[cached]
            self._trim()

    def _trim(self) -> None:
        floor = min([self.compacted_rv, *self._cursors.values()])
        cut = bisect.bisect_right(self._log_rvs, floor)
        del self._log[:cut], self._log_rvs[:cut]

    def current(self, resource: str) -> list[Stored]:
        with self.lock:
            keys = self._keys[resource]
            objects = self._objects[resource]
            return [objects[k] for k in keys]

    def snapshot(self, resource: str, rv: int, expired_message: str) -> Snapshot:
        """The resource at `rv` (<= current); 410 Expired once `rv` is compacted away."""
        with self.lock:
            if rv < self.compacted_rv:
                raise expired(expired_message)
            cached = self._snapshots.get((resource, rv))
            if cached is not None:
                self._snapshots.move_to_end((resource, rv))
                return cached
            objects = dict(self._objects[resource])
            keys = list(self._keys[resource])
            rewound = self._rewind(resource, rv, objects)
            snap = Snapshot(rv, sorted(objects) if rewound else keys, objects)
            self._snapshots[(resource, rv)] = snap
            while len(self._snapshots) > _SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)
            return snap

    def _rewind(self, resource: str, rv: int, objects: dict[Key, Stored]) -> bool:
        """Undoes, newest first, this resource's events after `rv`; True when any was undone."""
        undone = False
        for event in reversed(self.events_after(rv)):
            if event.resource != resource:
                continue
            key = (event.prev or event.obj).key  # type: ignore[union-attr]
            if event.prev is None:
                del objects[key]
            else:
                objects[key] = event.prev
            undone = True
        return undone
