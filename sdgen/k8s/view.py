"""The read-only cluster view target resolution reads, and which parts of it a config needs.

Resolution reads pods, Services and EndpointSlices by key, per namespace or all of them (as
mappings that stay the same object while unchanged), a Service's EndpointSlices and a pod by
name (for an endpoint's targetRef); `--materialize-secrets` needs Secrets by name. The informer
caches, a `kubectl get -o yaml` snapshot and the tests all offer that through the `Cluster`
protocol, so resolution stays pure and testable.
`ClusterNeeds` says which informers to run (sdgen.resolve.scope works it out from a config).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from sdgen.k8s.records import (
    SERVICE_NAME_LABEL,
    EndpointSlice,
    Namespace,
    Pod,
    Secret,
    Service,
    key_of,
)

T = TypeVar("T")


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

    # By key (`namespace/name`), of one namespace or of all (None). While a cache is unchanged
    # these return the very same mapping object, so a resolver that kept the last one can
    # tell "nothing changed" by identity, and otherwise compare record by record by identity.

    def pod_map(self, namespace: str | None) -> Mapping[str, Pod]: ...

    def service_map(self, namespace: str | None) -> Mapping[str, Service]: ...

    def slice_map(self, namespace: str | None) -> Mapping[str, EndpointSlice]: ...


class MapsByKey:
    """Cluster's typed `*_map` methods over one `_map(resource, namespace)`."""

    def _map(self, resource: str, namespace: str | None) -> Mapping[str, Any]:
        raise NotImplementedError

    def pod_map(self, namespace: str | None) -> Mapping[str, Pod]:
        return self._map("pods", namespace)

    def service_map(self, namespace: str | None) -> Mapping[str, Service]:
        return self._map("services", namespace)

    def slice_map(self, namespace: str | None) -> Mapping[str, EndpointSlice]:
        return self._map("endpointslices", namespace)


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
        self._maps = {
            "pods": _by_key(_all(pods)),
            "services": _by_key(_all(services)),
            "endpointslices": _by_key(_all(slices)),
        }

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
        found: Pod | None = self._maps["pods"].get(f"{namespace}/{name}")
        return found

    def secret(self, namespace: str, name: str) -> Secret | None:
        return self._secrets.get((namespace, name))

    def _map(self, kind: str, namespace: str | None) -> Mapping[str, Any]:
        every = self._maps[kind]
        if namespace is None:
            return every
        key = f"{kind}/{namespace}"
        if key not in self._maps:  # built once: the same object on every call
            prefix = f"{namespace}/"
            self._maps[key] = {k: v for k, v in every.items() if k.startswith(prefix)}
        return self._maps[key]


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
    """Which informers the config needs (None: not at all) and the namespaces they watch."""

    pods: Scope | None = None
    services: Scope | None = None
    endpoint_slices: Scope | None = None
    namespaces: Scope | None = None
    secrets: Scope | None = None  # only ever the default namespace
