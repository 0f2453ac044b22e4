"""One shared copy of the parts records have in common, so a large cluster's cache fits in memory.

msgspec decodes every occurrence of a value into a new object, but the pods of one ReplicaSet
carry equal labels, annotations, owner references and containers, almost every pod has the
same conditions, and node names, namespaces and phases repeat everywhere; shared, a pod costs
a fraction of its decoded size. An `Interner` is an informer's reflector transform
(sdgen.cache.apiclient.new_informer passes one in): it shrinks each record right after
decoding, before the store publishes it, while it is still private, so it is shrunk in place,
and readers see ordinary frozen records.

The table only grows while objects come and go, so it is emptied when it gets large: later
records then start sharing anew, which costs memory for a while, never correctness.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeVar

import msgspec
from msgspec.structs import force_setattr

from sdgen.k8s.records import (
    EndpointSlice,
    Namespace,
    ObjectMeta,
    Pod,
    Service,
    SliceEndpoint,
)

H = TypeVar("H", bound=Hashable)
R = TypeVar("R")

_LIMIT = 1 << 18  # entries; several times what a large cluster's shared parts need


class Interner:
    """Shrinks records (see the module docstring). One per informer: not thread-safe."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._limit = limit
        self._values: dict[Hashable, Any] = {}
        self._maps: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._values) + len(self._maps)

    def __call__(self, record: R) -> R:
        if len(self) > self._limit:
            self._values.clear()
            self._maps.clear()
        if isinstance(record, Pod):
            self._pod(record)
        elif isinstance(record, EndpointSlice):
            self._slice(record)
        elif isinstance(record, Service):
            self._meta(record.metadata)
            self._share(record.spec, "ports", "type")
        elif isinstance(record, Namespace):
            self._meta(record.metadata)
        return record

    def value(self, value: H) -> H:
        """The shared copy of an immutable value (a string, a tuple of frozen records)."""
        shared: H = self._values.setdefault(value, value)
        return shared

    def mapping(self, value: dict[str, str]) -> dict[str, str]:
        """The shared copy of a string map; records never mutate theirs."""
        return self._maps.setdefault(tuple(value.items()), value)

    def _share(self, obj: msgspec.Struct, *fields: str) -> None:
        for name in fields:
            force_setattr(obj, name, self.value(getattr(obj, name)))

    def _meta(self, meta: ObjectMeta) -> None:
        self._share(meta, "namespace", "owner_references")
        force_setattr(meta, "labels", self.mapping(meta.labels))
        force_setattr(meta, "annotations", self.mapping(meta.annotations))

    def _pod(self, pod: Pod) -> None:
        self._meta(pod.metadata)
        self._share(pod.spec, "node_name", "containers", "init_containers")
        status = pod.status
        self._share(status, "phase", "host_ip", "conditions")
        for container in (*status.container_statuses, *status.init_container_statuses):
            self._share(container, "name")

    def _slice(self, eps: EndpointSlice) -> None:
        self._meta(eps.metadata)
        self._share(eps, "address_type", "ports")
        for endpoint in eps.endpoints:
            self._endpoint(endpoint)

    def _endpoint(self, endpoint: SliceEndpoint) -> None:
        self._share(endpoint, "conditions", "node_name", "zone")
        force_setattr(endpoint, "deprecated_topology", self.mapping(endpoint.deprecated_topology))
        if endpoint.target_ref is not None:
            self._share(endpoint.target_ref, "kind", "namespace")
