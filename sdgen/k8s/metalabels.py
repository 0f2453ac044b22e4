"""Kubernetes records → the meta labels of Prometheus's `kubernetes_sd_configs` (Prometheus 3.5).

Relabel rules written for Prometheus must work unchanged on sdgen's targets, so this module
reproduces, label for label, what roles `pod` and `endpointslice` discover
(discovery/kubernetes/pod.go and endpointslice.go). As in Prometheus, a `Group` carries labels
shared by all its targets and each target's own labels, which win on a clash. Which of these
targets a PodMonitor or ServiceMonitor keeps is decided in sdgen.resolve, not here.

Where Prometheus iterates Go maps (labels, annotations) the result can depend on map order
when two keys sanitise to the same name; here keys are visited in sorted order, the last wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from sdgen.k8s.records import (
    Container,
    ContainerPort,
    ContainerStatus,
    EndpointPort,
    EndpointSlice,
    ObjectMeta,
    Pod,
    Service,
    SliceEndpoint,
)
from sdgen.k8s.view import IdentityMemo

META = "__meta_kubernetes_"
ADDRESS = "__address__"
NAMESPACE = META + "namespace"

POD_NAME = META + "pod_name"
_POD_LABEL = META + "pod_label_"
_POD_LABEL_PRESENT = META + "pod_labelpresent_"
_POD_ANNOTATION = META + "pod_annotation_"
_POD_ANNOTATION_PRESENT = META + "pod_annotationpresent_"
POD_IP = META + "pod_ip"
POD_READY = META + "pod_ready"
POD_PHASE = META + "pod_phase"
POD_NODE_NAME = META + "pod_node_name"
POD_HOST_IP = META + "pod_host_ip"
POD_UID = META + "pod_uid"
POD_CONTROLLER_KIND = META + "pod_controller_kind"
POD_CONTROLLER_NAME = META + "pod_controller_name"
CONTAINER_NAME = META + "pod_container_name"
CONTAINER_ID = META + "pod_container_id"
CONTAINER_IMAGE = META + "pod_container_image"
CONTAINER_INIT = META + "pod_container_init"
CONTAINER_PORT_NAME = META + "pod_container_port_name"
CONTAINER_PORT_NUMBER = META + "pod_container_port_number"
CONTAINER_PORT_PROTOCOL = META + "pod_container_port_protocol"
_CONTAINER_LABELS = (
    CONTAINER_NAME,
    CONTAINER_ID,
    CONTAINER_IMAGE,
    CONTAINER_INIT,
    CONTAINER_PORT_NAME,
    CONTAINER_PORT_NUMBER,
    CONTAINER_PORT_PROTOCOL,
)

SERVICE_NAME = META + "service_name"

SLICE = META + "endpointslice_"
SLICE_ADDRESS_TYPE = SLICE + "address_type"
SLICE_PORT = SLICE + "port"
SLICE_PORT_NAME = SLICE + "port_name"
SLICE_PORT_PROTOCOL = SLICE + "port_protocol"
SLICE_PORT_APP_PROTOCOL = SLICE + "port_app_protocol"
SLICE_READY = SLICE + "endpoint_conditions_ready"
SLICE_SERVING = SLICE + "endpoint_conditions_serving"
SLICE_TERMINATING = SLICE + "endpoint_conditions_terminating"
SLICE_HOSTNAME = SLICE + "endpoint_hostname"
SLICE_NODE_NAME = SLICE + "endpoint_node_name"
SLICE_ZONE = SLICE + "endpoint_zone"
SLICE_TARGET_KIND = SLICE + "address_target_kind"
SLICE_TARGET_NAME = SLICE + "address_target_name"
SLICE_TOPOLOGY = SLICE + "endpoint_topology_"
SLICE_TOPOLOGY_PRESENT = SLICE + "endpoint_topology_present_"


_INVALID = re.compile(r"[^a-zA-Z0-9_]")

_PLANS_LIMIT = 4096  # label-key sets remembered per filter; they repeat per workload

# (key, its label's name or None, its `present` twin's name or None), in key order
_MapPlan: TypeAlias = tuple[tuple[str, str | None, str | None], ...]


class LabelFilter(dict[str, bool]):
    """Which labels to build, by name: a memo its subclass fills in `__missing__`. It also
    remembers, per label map (its prefix and keys), which keys give wanted labels: pods of
    one workload share their label keys, so most pods' maps cost one lookup."""

    def __init__(self) -> None:
        super().__init__()
        self.plans: dict[tuple[str, tuple[str, ...]], _MapPlan] = {}
        self._mapped: dict[str, IdentityMemo[dict[str, str]]] = {}  # per `named` prefix
        self._pod: _PodPlan | None = None

    def pod(self) -> _PodPlan:
        """Which of a pod's own labels are wanted."""
        if self._pod is None:
            fields = tuple(item for item in _POD_FIELDS.items() if self[item[0]])
            controller = any(self[name] for name in (POD_CONTROLLER_KIND, POD_CONTROLLER_NAME))
            container = any(self[name] for name in _CONTAINER_LABELS)
            self._pod = _PodPlan(fields, self[POD_NAME], controller, container)
        return self._pod

    def __missing__(self, name: str) -> bool:
        raise NotImplementedError("a LabelFilter subclass decides names")

    def plan(self, named: str, present: str, keys: tuple[str, ...]) -> _MapPlan:
        found = self.plans.get((named, keys))
        if found is None:
            if len(self.plans) >= _PLANS_LIMIT:
                self.plans.clear()
            found = self.plans[(named, keys)] = tuple(
                (key, name, twin)
                for key in sorted(keys)
                for name, twin in [(self._name(named, key), self._name(present, key))]
                if name or twin
            )
        return found

    def mapped(self, named: str, present: str, values: Mapping[str, str]) -> dict[str, str]:
        """The wanted labels (and twins) of one label map, remembered by the map's identity
        (sdgen.k8s.view's contract): the cache's interner gives a workload's pods one shared
        map. The caller must not change the result. `present` follows from `named`."""
        memo = self._mapped.get(named)
        if memo is None:
            memo = self._mapped[named] = IdentityMemo(_PLANS_LIMIT)
        found = memo.get(values)
        if found is None:
            out: dict[str, str] = {}
            for source, name, twin in self.plan(named, present, tuple(values)):
                if name is not None:
                    out[name] = values[source]
                if twin is not None:
                    out[twin] = "true"
            found = memo.put(values, value=out)
        return found

    def _name(self, prefix: str, key: str) -> str | None:
        name = label_name(prefix, key)
        return name if self[name] else None


@dataclass(frozen=True, slots=True)
class _PodPlan:
    fields: tuple[tuple[str, Callable[[Pod], str]], ...]  # wanted, with their getters
    name: bool
    controller: bool
    container: bool  # any label of the target's container


# Which labels a caller wants; None: all of them.
Wanted: TypeAlias = LabelFilter | None


@dataclass(frozen=True, slots=True)
class Group:
    """A Prometheus target group: shared labels plus one label set per target."""

    labels: Mapping[str, str]
    targets: tuple[Mapping[str, str], ...]


@dataclass(frozen=True, slots=True)
class SliceTarget:
    """One endpointslice target before the pod's labels are merged in (done only if kept)."""

    labels: dict[str, str]
    pod: Pod | None


@lru_cache(maxsize=65536)
def label_name(prefix: str, key: str) -> str:
    """`prefix` + the sanitised key; cached, so all pods share one string per label name."""
    return prefix + _INVALID.sub("_", key)


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _add_map(
    out: dict[str, str], named: str, present: str, values: Mapping[str, str], wanted: Wanted
) -> None:
    if wanted is not None:
        out.update(wanted.mapped(named, present, values))
        return
    for key in sorted(values):
        out[label_name(named, key)] = values[key]
        out[label_name(present, key)] = "true"


def object_labels(role: str, meta: ObjectMeta, wanted: Wanted = None) -> dict[str, str]:
    """Prometheus's addObjectMetaLabels: `_<role>_name`, labels and annotations (+ present)."""
    prefix = META + role
    out = only({prefix + "_name": meta.name}, wanted)
    _add_map(out, f"{prefix}_label_", f"{prefix}_labelpresent_", meta.labels, wanted)
    _add_map(out, f"{prefix}_annotation_", f"{prefix}_annotationpresent_", meta.annotations, wanted)
    return out


# --- role pod ----------------------------------------------------------------------------


def pod_ready(pod: Pod) -> str:
    for condition in pod.status.conditions:
        if condition.type == "Ready":
            return condition.status.lower()
    return "unknown"


_POD_FIELDS: dict[str, Callable[[Pod], str]] = {
    POD_IP: lambda pod: pod.status.pod_ip,
    POD_READY: pod_ready,
    POD_PHASE: lambda pod: pod.status.phase,
    POD_NODE_NAME: lambda pod: pod.spec.node_name,
    POD_HOST_IP: lambda pod: pod.status.host_ip,
    POD_UID: lambda pod: pod.metadata.uid,
}


def pod_labels(pod: Pod, wanted: Wanted = None) -> dict[str, str]:
    """The pod-level labels (no namespace): the group of role pod, merged into slice targets;
    only the `wanted` ones when given (built from a plan: most pods want few, and alike)."""
    if wanted is None:
        out = {name: get(pod) for name, get in _POD_FIELDS.items()}
        out.update(object_labels("pod", pod.metadata))
    else:
        plan = wanted.pod()
        out = {name: get(pod) for name, get in plan.fields}
        if plan.name:
            out[POD_NAME] = pod.metadata.name
        _add_map(out, _POD_LABEL, _POD_LABEL_PRESENT, pod.metadata.labels, wanted)
        _add_map(out, _POD_ANNOTATION, _POD_ANNOTATION_PRESENT, pod.metadata.annotations, wanted)
        if not plan.controller:
            return out
    controller = next((o for o in pod.metadata.owner_references if o.controller), None)
    if controller is not None:
        controlled = {POD_CONTROLLER_KIND: controller.kind, POD_CONTROLLER_NAME: controller.name}
        out.update((k, v) for k, v in only(controlled, wanted).items() if v)
    return out


def only(labels: dict[str, str], wanted: Wanted) -> dict[str, str]:
    """`labels` (itself) or the `wanted` ones of them (a new dict)."""
    return labels if wanted is None else {k: v for k, v in labels.items() if wanted[k]}


def containers(pod: Pod) -> Iterator[tuple[Container, bool]]:
    """Containers then init containers (Prometheus's order), each with its is-init flag."""
    for container in pod.spec.containers:
        yield container, False
    for container in pod.spec.init_containers:
        yield container, True


def _container_id(statuses: tuple[ContainerStatus, ...], name: str) -> str:
    return next((s.container_id for s in statuses if s.name == name), "")


def pod_ports(pod: Pod) -> Iterator[tuple[Container, ContainerPort | None, bool]]:
    """Role pod's targets, unbuilt: (container, port, is-init) per declared port, and
    (container, None, is-init) for a container without ports."""
    for group, is_init in ((pod.spec.containers, False), (pod.spec.init_containers, True)):
        for container in group:  # not containers(): one generator less, on the hot path
            if not container.ports:
                yield container, None, is_init
            for port in container.ports:
                yield container, port, is_init


def pod_target(
    pod: Pod, container: Container, port: ContainerPort | None, is_init: bool, wanted: Wanted = None
) -> dict[str, str]:
    """One target's own labels (a portless container's address is the bare pod IP); only the
    `wanted` ones and the address when given."""
    ip = pod.status.pod_ip
    address = ip if port is None else join_host_port(ip, port.container_port)
    if wanted is not None and not wanted.pod().container:  # relabeling's usual case
        return {ADDRESS: address}
    statuses = pod.status.init_container_statuses if is_init else pod.status.container_statuses
    out = {
        ADDRESS: address,
        CONTAINER_NAME: container.name,
        CONTAINER_ID: _container_id(statuses, container.name),
        CONTAINER_IMAGE: container.image,
        CONTAINER_INIT: "true" if is_init else "false",
    }
    if port is not None:
        out[CONTAINER_PORT_NAME] = port.name
        out[CONTAINER_PORT_NUMBER] = str(port.container_port)
        out[CONTAINER_PORT_PROTOCOL] = port.protocol
    if wanted is None:
        return out
    return {k: v for k, v in out.items() if k == ADDRESS or wanted[k]}


def pod_targets(pod: Pod) -> list[dict[str, str]]:
    """Role pod's targets of a pod with an IP."""
    return [pod_target(pod, *found) for found in pod_ports(pod)]


def pod_group(pod: Pod) -> Group:
    """Exactly what role pod discovers for one pod (an empty group while it has no IP)."""
    if not pod.status.pod_ip:
        return Group({}, ())
    labels = {**pod_labels(pod), NAMESPACE: pod.metadata.namespace}
    return Group(labels, tuple(pod_targets(pod)))


# --- role endpointslice ------------------------------------------------------------------


def service_labels(service: Service) -> dict[str, str]:
    return {NAMESPACE: service.metadata.namespace, **object_labels("service", service.metadata)}


def endpointslice_labels(eps: EndpointSlice, service: Service | None) -> dict[str, str]:
    """The group labels of a slice; `service` is the one its service-name label points to."""
    out = {NAMESPACE: eps.metadata.namespace, SLICE_ADDRESS_TYPE: eps.address_type}
    out.update(object_labels("endpointslice", eps.metadata))
    if service is not None:
        out.update(service_labels(service))
    return out


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _endpoint_labels(address: str, endpoint: SliceEndpoint, port: EndpointPort) -> dict[str, str]:
    conditions = endpoint.conditions
    optional = (
        (SLICE_PORT_NAME, port.name),
        (SLICE_PORT_PROTOCOL, port.protocol),
        (SLICE_PORT, None if port.port is None else str(port.port)),
        (SLICE_PORT_APP_PROTOCOL, port.app_protocol),
        (SLICE_READY, _flag(conditions.ready)),
        (SLICE_SERVING, _flag(conditions.serving)),
        (SLICE_TERMINATING, _flag(conditions.terminating)),
        (SLICE_HOSTNAME, endpoint.hostname),
        (SLICE_TARGET_KIND, None if endpoint.target_ref is None else endpoint.target_ref.kind),
        (SLICE_TARGET_NAME, None if endpoint.target_ref is None else endpoint.target_ref.name),
        (SLICE_NODE_NAME, endpoint.node_name),
        (SLICE_ZONE, endpoint.zone),
    )
    out = {ADDRESS: address if port.port is None else join_host_port(address, port.port)}
    out.update((name, value) for name, value in optional if value is not None)
    for key in sorted(endpoint.deprecated_topology):
        out[label_name(SLICE_TOPOLOGY, key)] = endpoint.deprecated_topology[key]
        out[label_name(SLICE_TOPOLOGY_PRESENT, key)] = "true"
    return out


def _container_port_labels(
    container: Container, port: ContainerPort, is_init: bool
) -> dict[str, str]:
    return {
        CONTAINER_NAME: container.name,
        CONTAINER_IMAGE: container.image,
        CONTAINER_PORT_NAME: port.name,
        CONTAINER_PORT_NUMBER: str(port.container_port),
        CONTAINER_PORT_PROTOCOL: port.protocol,
        CONTAINER_INIT: "true" if is_init else "false",
    }


def _declaring_container(pod: Pod, number: int) -> dict[str, str]:
    """Labels of the container declaring port `number`; as in Prometheus the last one wins."""
    found: dict[str, str] = {}
    for container, is_init in containers(pod):
        port = next((p for p in container.ports if p.container_port == number), None)
        if port is not None:
            found = _container_port_labels(container, port, is_init)
    return found


def endpointslice_targets(
    eps: EndpointSlice, pod_of: Callable[[str, str], Pod | None], port_name: str | None = None
) -> list[SliceTarget]:
    """Role endpointslice's targets: per endpoint, port and address, then the container ports of
    the slice's pods that no slice port covers. `pod_of(namespace, name)` looks pods up.

    `port_name`: only the targets whose slice port has this name (those a ServiceMonitor
    endpoint with `port: <name>` keeps), in the same order; the uncovered container ports
    have no slice port, so none of them. Building every port's labels to throw most away
    was most of a ServiceMonitor's edit."""
    out: list[SliceTarget] = []
    seen: dict[tuple[str, str], Pod] = {}
    ports = eps.ports if port_name is None else [p for p in eps.ports if p.name == port_name]
    for endpoint in eps.endpoints:
        ref = endpoint.target_ref
        pod = pod_of(ref.namespace, ref.name) if ref is not None and ref.kind == "Pod" else None
        if pod is not None:
            seen.setdefault((pod.metadata.namespace, pod.metadata.name), pod)
        for port in ports:
            for address in endpoint.addresses:
                labels = _endpoint_labels(address, endpoint, port)
                if pod is not None and port.port is not None:
                    labels.update(_declaring_container(pod, port.port))
                out.append(SliceTarget(labels, pod))
    if port_name is not None:
        return out
    covered = {port.port for port in eps.ports if port.port is not None}
    for pod in seen.values():
        out.extend(_uncovered_ports(pod, covered))
    return out


def _uncovered_ports(pod: Pod, covered: set[int]) -> Iterator[SliceTarget]:
    if not pod.status.pod_ip:
        return
    for container, is_init in containers(pod):
        for port in container.ports:
            if port.container_port not in covered:
                labels = {ADDRESS: join_host_port(pod.status.pod_ip, port.container_port)}
                labels.update(_container_port_labels(container, port, is_init))
                yield SliceTarget(labels, pod)


def endpointslice_group(
    eps: EndpointSlice, service: Service | None, pod_of: Callable[[str, str], Pod | None]
) -> Group:
    """Exactly what role endpointslice discovers for one slice."""
    targets = tuple(
        {**t.labels, **pod_labels(t.pod)} if t.pod is not None else t.labels
        for t in endpointslice_targets(eps, pod_of)
    )
    return Group(endpointslice_labels(eps, service), targets)
