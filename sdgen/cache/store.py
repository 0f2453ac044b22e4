"""The informer cache: records by `namespace/name`, with indexes, handed out as snapshots.

This is the only place in the informer layer that holds a lock. The reflector thread writes;
renders read a `Snapshot`, an immutable view that stays consistent however long a render takes.
A snapshot is built at most once per store version and cached, so asking for one when nothing
changed is free, and building one costs a dict copy plus the index buckets that changed (not a
re-index). Every write returns the `Change`s it made, so the caller can notify listeners
outside the lock. Indexes follow client-go's Indexer: a name and a function from a record to
the index values it belongs to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from sdgen.k8s.records import SERVICE_NAME_LABEL, ObjectMeta, key_of


class HasMetadata(Protocol):
    @property
    def metadata(self) -> ObjectMeta: ...


R = TypeVar("R", bound=HasMetadata)

IndexFunc = Callable[[R], Iterable[str]]

NAMESPACE_INDEX = "namespace"
SERVICE_INDEX = "service"


def by_namespace(record: HasMetadata) -> tuple[str, ...]:
    return (record.metadata.namespace,)


def by_service(record: HasMetadata) -> tuple[str, ...]:
    """EndpointSlices by the Service that owns them, as `namespace/service`."""
    service = record.metadata.labels.get(SERVICE_NAME_LABEL)
    return (f"{record.metadata.namespace}/{service}",) if service else ()


class ChangeType(Enum):
    ADDED = "added"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Change(Generic[R]):
    """One effective write: `old` is None when ADDED, `new` is None when DELETED."""

    type: ChangeType
    key: str
    old: R | None
    new: R | None


class _Index(Generic[R]):
    """One indexer's buckets (value → keys); frozen copies are cached per bucket for snapshots."""

    def __init__(self, func: IndexFunc[R]) -> None:
        self._func = func
        self._buckets: dict[str, set[str]] = {}
        self._frozen: dict[str, frozenset[str]] = {}
        self._dirty: set[str] = set()

    def update(self, key: str, old: R | None, new: R | None) -> None:
        before = set(self._func(old)) if old is not None else set()
        after = set(self._func(new)) if new is not None else set()
        for value in before - after:
            bucket = self._buckets[value]
            bucket.discard(key)
            if not bucket:
                del self._buckets[value]
        for value in after - before:
            self._buckets.setdefault(value, set()).add(key)
        self._dirty |= before ^ after

    def freeze(self) -> dict[str, frozenset[str]]:
        for value in self._dirty:
            bucket = self._buckets.get(value)
            if bucket:
                self._frozen[value] = frozenset(bucket)
            else:
                self._frozen.pop(value, None)
        self._dirty.clear()
        return dict(self._frozen)


_LOG_VERSIONS = 64  # versions whose changed keys a store remembers
_LOG_KEYS = 1024  # a write changing more keys is logged as "unknown" (a relist: diff it whole)

_Log = tuple[tuple[int, frozenset[str] | None], ...]  # (version, keys it changed) in order


def _readonly(*_: object, **__: object) -> None:
    raise TypeError("a snapshot's records cannot be changed")


class SnapshotItems(dict[str, R]):
    """A snapshot's records by key: a dict readers must not change (its writers raise), that
    can say which keys changed since an earlier snapshot of the same store
    (`changed_since`, from the store's log of recent writes), so a resolve after one pod
    changed looks at that pod's key instead of comparing every key of a 100k-pod mapping.
    Lookups are plain dict lookups (none is overridden)."""

    __slots__ = ("_log", "_store", "version")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __init__(self, items: dict[str, R], store: object, version: int, log: _Log) -> None:
        super().__init__(items)
        self._store, self.version, self._log = store, version, log

    def changed_since(self, earlier: Mapping[str, object]) -> frozenset[str] | None:
        """The keys written between `earlier` (a snapshot's items of the same store) and this
        one: a superset of those whose record is another object. None when unknown (another
        store, not a snapshot's items, or writes older than the log or too large for it)."""
        if earlier is self:
            return frozenset()
        if not isinstance(earlier, SnapshotItems) or earlier._store is not self._store:
            return None
        start, log = earlier.version, self._log
        if start > self.version:
            return None
        if start == self.version:
            return frozenset()
        if not log or log[0][0] > start + 1:
            return None  # the log no longer reaches back to `earlier`
        keys: set[str] = set()
        for version, changed in log:
            if start < version <= self.version:
                if changed is None:
                    return None
                keys |= changed
        return frozenset(keys)

    def __reduce__(self) -> tuple[object, ...]:
        return (dict, (dict(self),))


class Snapshot(Generic[R]):
    """The store's content at one version; immutable, so any thread may read it. The mappings
    it hands out are the same objects for as long as the snapshot lives, and the store reuses
    a snapshot until a write: the identity contract of sdgen.k8s.view."""

    __slots__ = ("_by_index", "_indices", "_items", "version")

    def __init__(
        self,
        version: int,
        items: dict[str, R],
        indices: dict[str, dict[str, frozenset[str]]],
        *,
        store: object = None,
        log: _Log = (),
    ) -> None:
        """`store` and `log`: which store this is a version of, and its recent writes (see
        `SnapshotItems`); without them every snapshot is from a store of its own."""
        self.version = version
        self._items: SnapshotItems[R] = SnapshotItems(
            items, object() if store is None else store, version, log
        )
        self._indices = indices
        self._by_index: dict[tuple[str, str], Mapping[str, R]] = {}

    @property
    def items(self) -> Mapping[str, R]:
        """Every record by key."""
        return self._items

    def index_items(self, index: str, value: str) -> Mapping[str, R]:
        """The records under `value` in the named index, by key; built once per snapshot."""
        found = self._by_index.get((index, value))
        if found is None:
            keys = self.index_keys(index, value)
            built = MappingProxyType({key: self._items[key] for key in sorted(keys)})
            # setdefault is atomic: a reader on another thread (GET /explain) building the same
            # mapping at once cannot leave two objects for one index value
            found = self._by_index.setdefault((index, value), built)
        return found

    def get(self, key: str) -> R | None:
        return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[R]:
        return iter(self._items.values())

    def index_keys(self, index: str, value: str) -> frozenset[str]:
        """Keys of the records the named index files under `value` (KeyError: no such index)."""
        return self._indices[index].get(value, frozenset())

    def by_index(self, index: str, value: str) -> list[R]:
        """The records under `value` in the named index, in no particular order."""
        return [self._items[key] for key in self.index_keys(index, value)]

    def index_values(self, index: str) -> frozenset[str]:
        return frozenset(self._indices[index])


class Store(Generic[R]):
    """A thread-safe keyed cache of records; `version` changes on every effective write."""

    def __init__(self, indexers: Mapping[str, IndexFunc[R]] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, R] = {}
        self._indices = {name: _Index(func) for name, func in (indexers or {}).items()}
        self._version = 0
        self._snapshot: Snapshot[R] | None = None
        self._log: _Log = ()  # recent writes; replaced, never changed: snapshots share it

    @property
    def version(self) -> int:
        return self._version

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> R | None:
        with self._lock:
            return self._items.get(key)

    def upsert(self, record: R) -> Change[R] | None:
        """Add or replace a record; None when it is identical to the cached one."""
        key = key_of(record.metadata)
        with self._lock:
            change = self._diff(key, self._items.get(key), record)
            if change is not None:
                self._apply([change])
        return change

    def delete(self, key: str) -> Change[R] | None:
        """Remove a record; None when it was not cached."""
        with self._lock:
            old = self._items.get(key)
            if old is None:
                return None
            change = Change(ChangeType.DELETED, key, old, None)
            self._apply([change])
        return change

    def replace(self, records: Iterable[R]) -> list[Change[R]]:
        """Make the cache exactly `records` (a relist): cached records not among them are
        deleted. Returns the changes, deletions first."""
        fresh = {key_of(record.metadata): record for record in records}
        with self._lock:
            changes = [
                Change(ChangeType.DELETED, key, old, None)
                for key, old in self._items.items()
                if key not in fresh
            ]
            for key, record in fresh.items():
                change = self._diff(key, self._items.get(key), record)
                if change is not None:
                    changes.append(change)
            self._apply(changes)
        return changes

    def snapshot(self) -> Snapshot[R]:
        with self._lock:
            if self._snapshot is None or self._snapshot.version != self._version:
                indices = {name: index.freeze() for name, index in self._indices.items()}
                self._snapshot = Snapshot(
                    self._version, self._items, indices, store=self, log=self._log
                )
            return self._snapshot

    @staticmethod
    def _diff(key: str, old: R | None, new: R) -> Change[R] | None:
        if old is None:
            return Change(ChangeType.ADDED, key, None, new)
        if old == new:
            return None
        return Change(ChangeType.UPDATED, key, old, new)

    def _apply(self, changes: list[Change[R]]) -> None:
        """Write changes into items and indexes; the caller holds the lock."""
        for change in changes:
            if change.new is None:
                del self._items[change.key]
            else:
                self._items[change.key] = change.new
            for index in self._indices.values():
                index.update(change.key, change.old, change.new)
        if changes:
            self._version += 1
            keys = frozenset(c.key for c in changes) if len(changes) <= _LOG_KEYS else None
            self._log = (*self._log[1 - _LOG_VERSIONS :], (self._version, keys))
