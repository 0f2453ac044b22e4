"""The read-only cluster view target resolution reads, which parts of it a config needs, and
the identity contract everything downstream of the caches relies on.

Resolution reads pods, Services and EndpointSlices by key, per namespace or all of them, a
Service's EndpointSlices and a pod by name (for an endpoint's targetRef); `--materialize-secrets`
needs Secrets by name. The informer caches, a `kubectl get -o yaml` snapshot and the tests all
offer that through the `Cluster` protocol, so resolution stays pure and testable.
`ClusterNeeds` says which informers to run (sdgen.resolve.scope works it out from a config).

The identity contract: the same object means unchanged. Written down here once; the modules
that rely on it point here.

- Records are immutable. A changed object is a new record; the cache shrinks a record (the
  reflector's transform) before it publishes it, and never touches it afterwards.
- A store, and so a `Cluster`, hands out the same mapping object for as long as nothing in it
  changed (sdgen.cache.store's snapshots, `StaticCluster`'s maps).
- So a reader that kept the last mapping tells "nothing changed" by `is`, and otherwise
  compares record by record by `is` (sdgen.resolve.selection), and whatever is worked out
  from an object can be remembered by the object's identity (`IdentityMemo`, below).
- A mapping may also say which keys changed since an earlier one: a method
  `changed_since(earlier) -> Iterable[str] | None` (a superset of the keys whose record is
  another object; None when it cannot tell). The informer caches' mappings log their recent
  writes (sdgen.cache.store), so a resolve after one pod changed need not compare every key.
- The stages after that keep the contract going: an endpoint's target lines stay the same list
  while unchanged (sdgen.resolve.targetset), so its targets file is the same bytes object
  (sdgen.output.render), which the output directory recognises without comparing
  (sdgen.output.outputdir).

An identity is only good while its object lives: once an object is freed, `id()` may give a
new object its number. Whatever remembers by identity therefore holds the object itself, as
`IdentityMemo` does, or compares objects it holds with `is`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from itertools import chain
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from sdgen.k8s.records import (
    SERVICE_NAME_LABEL,
    EndpointSlice,
    Namespace,
    Pod,
    Resource,
    Secret,
    Service,
    key_of,
)

T = TypeVar("T")
V = TypeVar("V")

_MEMO_LIMIT = 1 << 20  # entries; more than one resolve of a large cluster remembers


class IdentityMemo(Generic[V]):
    """Values remembered by the identity of up to three objects (see the module docstring):
    the same objects give the same value whatever they hold, so only objects that are never
    changed make keys (records and their shared parts, frozen config values, functions).

    Each entry holds its key objects, so no other object can take their ids while it is
    remembered. At `limit` entries it forgets them all: that costs making values again, never
    a wrong one. It sits on the per-object path of a resolve, so it is plain dict operations
    and nothing more; `None` cannot be remembered (`get` says "not found" with it). Not
    thread-safe: one per owner."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = _MEMO_LIMIT) -> None:
        # Keyed by one id, or a tuple of three: one object, the most common key, hashes fastest.
        self._entries: dict[int | tuple[int, int, int], tuple[object, object, object, V]] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, first: object, second: object = None, third: object = None) -> V | None:
        """The value remembered for exactly these objects, or None."""
        if second is None and third is None:
            found = self._entries.get(id(first))
        else:
            found = self._entries.get((id(first), id(second), id(third)))
        return None if found is None else found[3]

    def put(self, first: object, second: object = None, third: object = None, *, value: V) -> V:
        """Remember `value` for these objects (holding them) and return it."""
        entries = self._entries
        if len(entries) >= self._limit:
            entries.clear()
        key = id(first) if second is None and third is None else (id(first), id(second), id(third))
        entries[key] = (first, second, third, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


class Cluster(Protocol):
    def namespaces(self) -> Mapping[str, Namespace]:
        """Namespaces by name; may be empty when namespaces are not watched."""
        ...

    def endpoint_slices(self, namespace: str, service: str) -> Iterable[EndpointSlice]:
        """The slices labelled `kubernetes.io/service-name=<service>` in `namespace`."""
        ...

    def pod(self, namespace: str, name: str) -> Pod | None: ...

    def secret(self, namespace: str, name: str) -> Secret | None:
        """A Secret by name; only watched (in the default namespace) with --materialize-secrets."""
        ...

    # By key (`namespace/name`), of one namespace or of all (None): the same mapping object
    # while unchanged (the identity contract, in the module docstring).

    def pod_map(self, namespace: str | None) -> Mapping[str, Pod]: ...

    def service_map(self, namespace: str | None) -> Mapping[str, Service]: ...

    def slice_map(self, namespace: str | None) -> Mapping[str, EndpointSlice]: ...


class MapsByKey:
    """Cluster's typed `*_map` methods over one `_map(resource, namespace)`."""

    def _map(self, resource: Resource, namespace: str | None) -> Mapping[str, Any]:
        raise NotImplementedError

    def pod_map(self, namespace: str | None) -> Mapping[str, Pod]:
        return self._map(Resource.PODS, namespace)

    def service_map(self, namespace: str | None) -> Mapping[str, Service]:
        return self._map(Resource.SERVICES, namespace)

    def slice_map(self, namespace: str | None) -> Mapping[str, EndpointSlice]:
        return self._map(Resource.ENDPOINTSLICES, namespace)


class StaticCluster(MapsByKey):
    """A Cluster over fixed sequences of records, indexed once so every lookup is a dict hit."""

    def __init__(
        self,
        pods: Mapping[str, list[Pod]],
        services: Mapping[str, list[Service]],
        slices: Mapping[tuple[str, str], list[EndpointSlice]],
        namespaces: Mapping[str, Namespace],
        secrets: Mapping[tuple[str, str], Secret] | None = None,
    ) -> None:
        self._slices = slices
        self._namespaces = namespaces
        self._secrets = secrets or {}
        self._pods = _by_key(_all(pods))
        self._maps = {
            Resource.PODS: self._pods,
            Resource.SERVICES: _by_key(_all(services)),
            Resource.ENDPOINTSLICES: _by_key(_all(slices)),
        }
        self._scoped: dict[tuple[Resource, str], Mapping[str, Any]] = {}

    @classmethod
    def from_objects(
        cls,
        pods: Iterable[Pod] = (),
        services: Iterable[Service] = (),
        endpoint_slices: Iterable[EndpointSlice] = (),
        namespaces: Iterable[Namespace] = (),
        secrets: Iterable[Secret] = (),
    ) -> StaticCluster:
        pods_by_ns: defaultdict[str, list[Pod]] = defaultdict(list)
        for pod in pods:
            pods_by_ns[pod.metadata.namespace].append(pod)
        services_by_ns: defaultdict[str, list[Service]] = defaultdict(list)
        for service in services:
            services_by_ns[service.metadata.namespace].append(service)
        slices: defaultdict[tuple[str, str], list[EndpointSlice]] = defaultdict(list)
        for eps in endpoint_slices:
            owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
            if owner is not None:
                slices[(eps.metadata.namespace, owner)].append(eps)
        by_name = {ns.metadata.name: ns for ns in namespaces}
        by_key = {(s.metadata.namespace, s.metadata.name): s for s in secrets}
        return cls(dict(pods_by_ns), dict(services_by_ns), dict(slices), by_name, by_key)

    def namespaces(self) -> Mapping[str, Namespace]:
        return self._namespaces

    def endpoint_slices(self, namespace: str, service: str) -> Iterable[EndpointSlice]:
        return self._slices.get((namespace, service), ())

    def pod(self, namespace: str, name: str) -> Pod | None:
        found: Pod | None = self._pods.get(f"{namespace}/{name}")
        return found

    def secret(self, namespace: str, name: str) -> Secret | None:
        return self._secrets.get((namespace, name))

    def _map(self, resource: Resource, namespace: str | None) -> Mapping[str, Any]:
        every = self._maps[resource]
        if namespace is None:
            return every
        found = self._scoped.get((resource, namespace))
        if found is None:  # built once: the same object on every call
            prefix = f"{namespace}/"
            found = {k: v for k, v in every.items() if k.startswith(prefix)}
            self._scoped[(resource, namespace)] = found
        return found


def _all(by_namespace: Mapping[Any, list[T]]) -> Iterable[T]:
    return chain.from_iterable(by_namespace.values())


def _by_key(records: Iterable[Any]) -> dict[str, Any]:
    return {key_of(r.metadata): r for r in records}


# --- which parts of the view a config needs ---------------------------------------------------


class Everywhere(Enum):
    ALL = "ALL"


ALL = Everywhere.ALL  # a scope meaning "cluster-wide"
Scope: TypeAlias = "frozenset[str] | Literal[Everywhere.ALL]"


@dataclass(frozen=True, slots=True)
class ClusterNeeds:
    """Which informers the config needs (None: not at all) and the namespaces they watch.
    Each field is named after its `Resource` (a misnamed one fails on import)."""

    pods: Scope | None = None
    services: Scope | None = None
    endpointslices: Scope | None = None
    namespaces: Scope | None = None
    secrets: Scope | None = None  # only ever the default namespace

    @classmethod
    def from_scopes(cls, scopes: Mapping[Resource, Scope]) -> ClusterNeeds:
        return cls(**{resource.value: scope for resource, scope in scopes.items()})

    def wanted(self) -> Iterator[tuple[Resource, Scope]]:
        """Each resource needed, with its scope, in field order."""
        for resource in NEEDABLE:
            scope: Scope | None = getattr(self, resource.value)
            if scope is not None:
                yield resource, scope


NEEDABLE = tuple(Resource(f.name) for f in fields(ClusterNeeds))  # all but configmaps
