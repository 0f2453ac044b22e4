"""The informers the current config needs, kept running, and their caches seen as a Cluster.

The config decides what to watch: `sdgen.resolve.scope.needs()` says which resources in which
namespaces.
`ensure()` starts the informers that are missing and stops the ones no longer needed, so a
config that names two namespaces watches two namespaces, and a config without Pod or
ServiceMonitor targets watches nothing. Informers are built by a factory the shell passes in,
which keeps this module free of the kubernetes client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from sdgen.cache.informer import Informer, stop_all
from sdgen.cache.store import NAMESPACE_INDEX, SERVICE_INDEX, Snapshot
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Resource, Secret
from sdgen.k8s.view import ALL, ClusterNeeds, MapsByKey

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# One informer: (resource, namespace); namespace None means cluster-wide.
InformerKey = tuple[Resource, str | None]
InformerFactory = Callable[[Resource, str | None], Informer[Any]]

# Module names for the members looked up per call (a pod per endpoint): an enum attribute
# is a slow lookup on Python 3.11.
_PODS = Resource.PODS
_SLICES = Resource.ENDPOINTSLICES
_NAMESPACES = Resource.NAMESPACES
_SECRETS = Resource.SECRETS


def scopes(needed: ClusterNeeds) -> set[InformerKey]:
    """The informers a ClusterNeeds asks for."""
    wanted: set[InformerKey] = set()
    for resource, scope in needed.wanted():
        if scope is ALL or resource == _NAMESPACES:
            wanted.add((resource, None))
        else:
            wanted.update((resource, namespace) for namespace in scope)
    return wanted


def _order(key: InformerKey) -> tuple[str, str]:
    """By informer name."""
    return key[0].value, key[1] or ""


class InformerSet:
    """The informers a `ClusterNeeds` asks for, kept running; `cluster()` reads their caches."""

    def __init__(self, factory: InformerFactory, progress_window: float = 660.0) -> None:
        self._factory = factory
        self._informers: dict[InformerKey, Informer[Any]] = {}
        self._started: dict[InformerKey, float] = {}
        self._generation = 0  # counts changes to the set of informers
        self.progress_window = progress_window

    def ensure(self, needed: ClusterNeeds) -> None:
        wanted = scopes(needed)
        gone = [key for key in self._informers if key not in wanted]
        if gone:
            log.info("stopping informers no longer needed", extra={"informers": _names(gone)})
            self._generation += 1
            stop_all(self._informers.pop(key) for key in gone)
        for key in sorted(wanted - self._informers.keys(), key=_order):
            informer = self._factory(*key)
            informer.start()
            self._generation += 1
            self._informers[key] = informer
            self._started[key] = time.monotonic()
            log.info("informer started", extra={"informer": informer.name})

    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    def synced(self) -> bool:
        return all(informer.has_synced() for informer in self._informers.values())

    def version(self) -> object:
        """Changes whenever any cache changes or the set of informers does. Every new store
        counts its versions from zero, so the generation (which counts changes to the set)
        keeps a replaced informer from repeating an earlier version."""
        return (self._generation, tuple(inf.store.version for inf in self._informers.values()))

    def cluster(self) -> InformerCluster:
        # list() copies at once: GET /explain reads this from another thread than ensure()'s
        informers = list(self._informers.items())
        return InformerCluster({key: inf.store.snapshot() for key, inf in informers})

    def stalled(self, now: float | None = None) -> list[str]:
        """Informers that made no progress (list page, watch event, bookmark) within the window."""
        now = time.monotonic() if now is None else now
        return [
            inf.name
            for key, inf in self._informers.items()
            if now - (inf.last_progress or self._started[key]) > self.progress_window
        ]

    def stop(self) -> None:
        stop_all(self._informers.values())
        self._informers.clear()


class InformerCluster(MapsByKey):
    """A Cluster over store snapshots, whether one cluster-wide or one per namespace."""

    def __init__(self, snapshots: Mapping[InformerKey, Snapshot[Any]]) -> None:
        self._snapshots = snapshots

    def namespaces(self) -> Mapping[str, Namespace]:
        wide = self._snapshots.get((_NAMESPACES, None))
        return {ns.metadata.name: ns for ns in wide} if wide is not None else {}

    def endpoint_slices(self, namespace: str, service: str) -> Iterable[EndpointSlice]:
        for key in ((_SLICES, None), (_SLICES, namespace)):
            snapshot = self._snapshots.get(key)
            if snapshot is not None:
                return snapshot.by_index(SERVICE_INDEX, f"{namespace}/{service}")
        return ()

    def pod(self, namespace: str, name: str) -> Pod | None:
        for key in ((_PODS, None), (_PODS, namespace)):
            snapshot = self._snapshots.get(key)
            if snapshot is not None:
                found: Pod | None = snapshot.get(f"{namespace}/{name}")
                return found
        return None

    def _map(self, resource: Resource, namespace: str | None) -> Mapping[str, Any]:
        wide = self._snapshots.get((resource, None))
        if wide is not None:
            return wide.items if namespace is None else wide.index_items(NAMESPACE_INDEX, namespace)
        if namespace is not None:
            scoped = self._snapshots.get((resource, namespace))
            return scoped.items if scoped is not None else _EMPTY
        merged: dict[str, Any] = {}  # several namespaces' informers: a new object each time
        for key in sorted(self._snapshots, key=_order):
            if key[0] == resource:
                merged.update(self._snapshots[key].items)
        return merged

    def secret(self, namespace: str, name: str) -> Secret | None:
        snapshot = self._snapshots.get((_SECRETS, namespace))
        found: Secret | None = snapshot.get(f"{namespace}/{name}") if snapshot else None
        return found


def _names(keys: Iterable[InformerKey]) -> str:
    return ",".join(f"{resource}/{namespace or '*'}" for resource, namespace in keys)
