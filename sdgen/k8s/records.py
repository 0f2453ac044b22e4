"""Slim typed records of the Kubernetes objects sdgen reads, decoded straight from raw JSON.

The kubernetes client's generated models are large and slow to build per pod; these msgspec
structs keep only the fields target discovery needs (unknown fields such as `managedFields`
are skipped by the decoder, never materialised), so a large cluster's cache stays small and
a list decodes at close to JSON speed. Records are frozen: the store hands them out to other
threads. Adding a field (with a default) is cheap; every field here must be used by someone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, TypeVar

import msgspec


class _Record(msgspec.Struct, frozen=True, rename="camel", gc=False, omit_defaults=True):
    """Base: camelCase on the wire, frozen, and invisible to the cycle GC (no cycles)."""


class OwnerReference(_Record, frozen=True):
    kind: str = ""
    name: str = ""
    controller: bool = False


class ObjectMeta(_Record, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: tuple[OwnerReference, ...] = ()
    deletion_timestamp: str | None = None


# --- core/v1 Pod --------------------------------------------------------------------------


class ContainerPort(_Record, frozen=True):
    container_port: int = 0
    name: str = ""
    protocol: str = "TCP"


class Container(_Record, frozen=True):
    name: str = ""
    image: str = ""
    ports: tuple[ContainerPort, ...] = ()


class PodSpec(_Record, frozen=True):
    node_name: str = ""
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()


class PodCondition(_Record, frozen=True):
    type: str = ""
    status: str = ""


class ContainerStatus(_Record, frozen=True):
    name: str = ""
    container_id: str = msgspec.field(default="", name="containerID")
    ready: bool = False


class PodStatus(_Record, frozen=True):
    phase: str = ""
    pod_ip: str = msgspec.field(default="", name="podIP")
    host_ip: str = msgspec.field(default="", name="hostIP")
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    init_container_statuses: tuple[ContainerStatus, ...] = ()


class Pod(_Record, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()


# --- core/v1 Service ----------------------------------------------------------------------


class ServicePort(_Record, frozen=True):
    name: str = ""
    port: int = 0
    target_port: int | str | None = None
    protocol: str = "TCP"


class ServiceSpec(_Record, frozen=True):
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str = msgspec.field(default="", name="clusterIP")
    type: str = ""


class Service(_Record, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: ServiceSpec = ServiceSpec()


# --- discovery.k8s.io/v1 EndpointSlice ------------------------------------------------------


class EndpointConditions(_Record, frozen=True):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ObjectReference(_Record, frozen=True):
    kind: str = ""
    name: str = ""
    namespace: str = ""


class SliceEndpoint(_Record, frozen=True):
    addresses: tuple[str, ...] = ()
    conditions: EndpointConditions = EndpointConditions()
    hostname: str | None = None
    node_name: str | None = None
    zone: str | None = None
    target_ref: ObjectReference | None = None
    deprecated_topology: dict[str, str] = {}  # Prometheus still labels it (_endpoint_topology_*)


class EndpointPort(_Record, frozen=True):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSlice(_Record, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    address_type: str = ""
    endpoints: tuple[SliceEndpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


# --- core/v1 Namespace, ConfigMap, Secret ---------------------------------------------------------


class Namespace(_Record, frozen=True):
    metadata: ObjectMeta = ObjectMeta()


class ConfigMap(_Record, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    data: dict[str, str] = {}
    binary_data: dict[str, str] = {}


class Secret(_Record, frozen=True):
    """Only watched with --materialize-secrets; `data` values are base64, as on the wire."""

    metadata: ObjectMeta = ObjectMeta()
    data: dict[str, str] = {}
    type: str = ""


# --- lists and watch events ---------------------------------------------------------------

# The label that links an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

T = TypeVar("T")


class ShardInfo(_Record, frozen=True):
    """The shard selector a server applied to a list (KEP-5866), echoed back."""

    selector: str = ""


class ListMeta(_Record, frozen=True):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")
    remaining_item_count: int | None = None
    shard_info: ShardInfo | None = None  # present only when the server sharded the list


class ObjectList(_Record, Generic[T], frozen=True):
    """Any `…List` response: the list's metadata and the items as records of type T."""

    metadata: ListMeta = ListMeta()
    items: tuple[T, ...] = ()


Record = Pod | Service | EndpointSlice | Namespace | ConfigMap | Secret


class Resource(StrEnum):
    """The API resources sdgen reads, by the API's plural name: the name in their URLs, in
    informer names (`pods/demo`) and in RBAC rules."""

    PODS = "pods"
    SERVICES = "services"
    ENDPOINTSLICES = "endpointslices"
    NAMESPACES = "namespaces"
    SECRETS = "secrets"
    CONFIGMAPS = "configmaps"


def key_of(meta: ObjectMeta) -> str:
    """The store key client-go uses: `namespace/name`, or `name` for cluster objects."""
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
