"""Monitors → candidate targets: which discovered targets an endpoint selects, and the
standard labels the Prometheus Operator's generated relabelings give them.

A PodMonitor reads role pod's targets, a ServiceMonitor role endpointslice's (both from
`meta`), StaticEndpoints its addresses. The operator expresses the port choice and the
`namespace`/`pod`/`container`/`service`/`endpoint`/`node` labels as relabel rules; here they
are plain lookups, so a config costs no regex per target before its own rules run. Which
objects a target selects, and which of them changed, is sdgen.resolve.selection's.

Deliberate difference to Prometheus's role pod: pods without an IP and Failed/Succeeded pods
yield nothing (the operator's default `filterRunning` relabeling drops the latter as well).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, TypeAlias

from sdgen import SdgenError
from sdgen.config.model import Endpoint, Target, TargetType
from sdgen.k8s import metalabels
from sdgen.k8s.metalabels import Wanted
from sdgen.k8s.records import (
    Container,
    ContainerPort,
    EndpointSlice,
    Pod,
    Service,
)
from sdgen.k8s.view import Cluster, IdentityMemo
from sdgen.resolve.scope import selected_namespaces
from sdgen.resolve.selection import (
    FINISHED,
    Objects,
    PodSelection,
    Selection,
    SliceSelection,
    StaticSelection,
)

Matcher: TypeAlias = Callable[[Mapping[str, str]], bool]


class TargetError(SdgenError):
    """This target cannot be resolved; the message is shown as the target's error."""


class Candidate(NamedTuple):  # a tuple: made per candidate, far cheaper than a dataclass
    """One discovered target: its address, standard labels, whether the port it was chosen
    by is named https, and `meta()`, which builds its meta labels as a new dict (merged as
    Prometheus merges a group's and a target's labels). They are built on demand, not kept:
    relabeling reads them once, `sdgen targets` perhaps later, and every target's meta
    labels held at once would outweigh the rest of the cache. `meta(wanted)` builds only the
    wanted labels (relabeling needs few), `meta(None)` all."""

    address: str
    standard: dict[str, str]
    https: bool
    meta: Callable[[Wanted], dict[str, str]]


@dataclass(frozen=True, slots=True)
class Source:
    """The candidates one source yields (a pod; a slice with its Service and its endpoints'
    pods), built when called; `namespace`: the object's, which the namespace shard scheme
    hashes (None for static addresses)."""

    candidates: Callable[[], Iterator[Candidate]]
    namespace: str | None = None


_Port: TypeAlias = tuple[Container, ContainerPort | None, bool]  # (container, port, is-init)


@dataclass(slots=True)
class SharedParts:
    """What one resolve builds once and many targets share, remembered by the identity of
    what it was built from (sdgen.k8s.view's contract): `labels`, object-level meta labels
    (a pod's, a slice's group) per object and wanted set; `slices`, a slice's group labels
    and targets, which the endpoints of a ServiceMonitor share; `matching`, the ports a
    workload's containers offer an endpoint."""

    labels: IdentityMemo[dict[str, str]] = field(default_factory=IdentityMemo)
    slices: IdentityMemo[_BuiltSlice] = field(default_factory=IdentityMemo)
    matching: IdentityMemo[list[_Port]] = field(default_factory=IdentityMemo)

    def __call__(self, pod: Pod, wanted: Wanted) -> dict[str, str]:
        return self.shared(pod, wanted, partial(metalabels.pod_labels, pod, wanted))

    def shared(
        self, obj: object, wanted: Wanted, build: Callable[[], dict[str, str]]
    ) -> dict[str, str]:
        found = self.labels.get(obj, wanted)
        if found is None:
            found = self.labels.put(obj, wanted, value=build())
        return found

    def ports(self, pod: Pod, matches: Callable[[ContainerPort | None], bool]) -> list[_Port]:
        """The pod's (container, port, is-init) that `matches` picks; pods of a workload share
        their containers (sdgen.cache.interner), so this is worked out once per workload."""
        spec = pod.spec
        found = self.matching.get(spec.containers, spec.init_containers, matches)
        if found is None:
            picked = [port for port in metalabels.pod_ports(pod) if matches(port[1])]
            found = self.matching.put(spec.containers, spec.init_containers, matches, value=picked)
        return found

    def clear(self) -> None:
        self.labels.clear()
        self.slices.clear()
        self.matching.clear()


def namespaces_of(
    target: Target, cluster: Cluster | None, default_namespace: str
) -> tuple[str | None, ...]:
    """The namespaces `target` reads objects from (None: all); a TargetError when it cannot
    be resolved at all."""
    if target.type is TargetType.STATIC_ENDPOINTS:
        return ()
    if cluster is None:
        raise TargetError(f"no cluster: {target.type.value} needs a Kubernetes API")
    if target.selector is None:
        raise TargetError(f"selector is required for a {target.type.value}")
    return tuple(selected_namespaces(target.namespace_selector, cluster, default_namespace))


def new_selection(target: Target, namespaces: tuple[str | None, ...]) -> Selection:
    """What `target` selects in `namespaces`, to be kept current with `update(cluster)`."""
    if target.type is TargetType.STATIC_ENDPOINTS or target.selector is None:
        return StaticSelection()
    if target.type is TargetType.POD_MONITOR:
        return PodSelection(namespaces, target.selector)
    return SliceSelection(namespaces, target.selector)


def source_builder(
    target: Target, endpoint: Endpoint, cluster: Cluster | None, shared: SharedParts
) -> Callable[[Objects], Source]:
    """The source of one endpoint made of a selection's objects."""
    if target.type is TargetType.STATIC_ENDPOINTS or cluster is None:
        return lambda objects: Source(partial(_static_candidates, endpoint))
    if target.type is TargetType.POD_MONITOR:
        matches = _container_port_matcher(endpoint.port)
        return lambda objects: Source(
            partial(_pod_candidates, objects[0], endpoint, matches, shared),
            objects[0].metadata.namespace,
        )

    # `port: <name>` keeps only that slice port's targets: build no others (_slice_port_matcher)
    port_name = (
        endpoint.port if endpoint.port is not None and not _is_number(endpoint.port) else None
    )

    def slice_source(objects: Objects) -> Source:
        service, eps = objects[0], objects[1]
        build = partial(_built_slice, shared.slices, service, eps, cluster, port_name)
        return Source(
            partial(_slice_candidates, service, endpoint, build, shared),
            service.metadata.namespace,
        )

    return slice_source


def _static_candidates(endpoint: Endpoint) -> Iterator[Candidate]:
    for address in endpoint.addresses:
        yield Candidate(address, {}, False, partial(_static_meta, address))


def _static_meta(address: str, wanted: Wanted) -> dict[str, str]:
    return {metalabels.ADDRESS: address}


def _pod_candidates(
    pod: Pod,
    endpoint: Endpoint,
    matches: Callable[[ContainerPort | None], bool],
    shared: SharedParts,
) -> Iterator[Candidate]:
    ip = pod.status.pod_ip
    for container, port, is_init in shared.ports(pod, matches):
        address = ip if port is None else metalabels.join_host_port(ip, port.container_port)
        yield Candidate(
            address,
            _pod_standard(pod, container.name, endpoint),
            port is not None and port.name == "https",
            partial(_pod_meta, shared, pod, container, port, is_init),
        )


def _pod_meta(
    shared: SharedParts,
    pod: Pod,
    container: Container,
    port: ContainerPort | None,
    init: bool,
    wanted: Wanted,
) -> dict[str, str]:
    # few labels are wanted, quickly built: a per-pod cache would cost more than it saves
    labels = dict(shared(pod, None)) if wanted is None else metalabels.pod_labels(pod, wanted)
    if wanted is None or wanted[metalabels.NAMESPACE]:
        labels[metalabels.NAMESPACE] = pod.metadata.namespace
    labels.update(metalabels.pod_target(pod, container, port, init, wanted))
    return labels


def _container_port_matcher(port: str | None) -> Callable[[ContainerPort | None], bool]:
    """PodMonitor `port`: a declared port's name or number; none given: every target."""
    if port is None:
        return lambda declared: True
    if _is_number(port):
        number = int(port)
        return lambda declared: declared is not None and declared.container_port == number
    return lambda declared: declared is not None and declared.name == port


def _pod_standard(pod: Pod, container: str, endpoint: Endpoint) -> dict[str, str]:
    standard = {
        "namespace": pod.metadata.namespace,
        "container": container,
        "pod": pod.metadata.name,
    }
    if endpoint.port:
        standard["endpoint"] = endpoint.port
    if endpoint.add_node_label and pod.spec.node_name:
        standard["node"] = pod.spec.node_name
    return standard


_BuiltSlice: TypeAlias = tuple[dict[str, str], list[metalabels.SliceTarget]]


def _built_slice(
    built: IdentityMemo[_BuiltSlice],
    service: Service,
    eps: EndpointSlice,
    cluster: Cluster,
    port_name: str | None,
) -> _BuiltSlice:
    """The slice's group labels and targets (all, or those of the slice port `port_name`),
    shared by the endpoints that ask for the same."""
    found = built.get(eps, port_name)
    if found is None:
        made = (metalabels.endpointslice_labels(eps, service), _running(eps, cluster, port_name))
        found = built.put(eps, port_name, value=made)
    return found


def _slice_candidates(
    service: Service,
    endpoint: Endpoint,
    build: Callable[[], _BuiltSlice],
    shared: SharedParts,
) -> Iterator[Candidate]:
    group, slice_targets = build()
    matches = _slice_port_matcher(endpoint, service)
    for target in slice_targets:
        if not matches(target.labels):
            continue
        names = (
            target.labels.get(metalabels.SLICE_PORT_NAME),
            target.labels.get(metalabels.CONTAINER_PORT_NAME),
        )
        yield Candidate(
            target.labels[metalabels.ADDRESS],
            _slice_standard(service, group, target, endpoint),
            "https" in names,
            partial(_slice_meta, shared, group, target),
        )


def _slice_meta(
    shared: SharedParts, group: dict[str, str], target: metalabels.SliceTarget, wanted: Wanted
) -> dict[str, str]:
    pod = shared(target.pod, wanted) if target.pod is not None else {}
    if wanted is None:
        return {**group, **pod, **target.labels}
    wanted_group = shared.shared(group, wanted, partial(metalabels.only, group, wanted))
    return {**wanted_group, **pod, **metalabels.only(target.labels, wanted)}


def _running(
    eps: EndpointSlice, cluster: Cluster, port_name: str | None = None
) -> list[metalabels.SliceTarget]:
    """The slice's targets (of the slice port `port_name` only, when given), without those of
    finished pods (the operator's filterRunning)."""
    targets = metalabels.endpointslice_targets(eps, cluster.pod, port_name)
    return [t for t in targets if t.pod is None or t.pod.status.phase not in FINISHED]


def _slice_port_matcher(endpoint: Endpoint, service: Service) -> Matcher:
    """`port`: the Service port (name, or number → its name, as the slice names its ports);
    `targetPort`: the endpoint's port number or the container port's (or targetPort's) name."""
    if endpoint.port is not None:
        port = endpoint.port
        if _is_number(port):
            names = {p.name for p in service.spec.ports if p.port == int(port)}
            return lambda labels: labels.get(metalabels.SLICE_PORT_NAME) in names
        return lambda labels: labels.get(metalabels.SLICE_PORT_NAME) == port
    if endpoint.target_port is not None:
        target_port = endpoint.target_port
        if _is_number(target_port):
            number = str(int(target_port))
            return lambda labels: (
                number
                in (
                    labels.get(metalabels.SLICE_PORT),
                    labels.get(metalabels.CONTAINER_PORT_NUMBER),
                )
            )
        names = {p.name for p in service.spec.ports if p.target_port == target_port}
        return lambda labels: (
            labels.get(metalabels.CONTAINER_PORT_NAME) == target_port
            or labels.get(metalabels.SLICE_PORT_NAME) in names
        )
    return lambda labels: True


def _slice_standard(
    service: Service, group: Mapping[str, str], target: metalabels.SliceTarget, endpoint: Endpoint
) -> dict[str, str]:
    """The operator's rules: a Node target names `node`, a cached pod `pod` and `container`."""
    own, pod = target.labels, target.pod
    standard = {"namespace": group[metalabels.NAMESPACE], "service": service.metadata.name}
    if own.get(metalabels.SLICE_TARGET_KIND) == "Node" and own.get(metalabels.SLICE_TARGET_NAME):
        standard["node"] = own[metalabels.SLICE_TARGET_NAME]
    if pod is not None and pod.metadata.name:
        standard["pod"] = pod.metadata.name
    if own.get(metalabels.CONTAINER_NAME):
        standard["container"] = own[metalabels.CONTAINER_NAME]
    if endpoint.port or endpoint.target_port:
        standard["endpoint"] = endpoint.port or endpoint.target_port or ""
    if endpoint.add_node_label and "node" not in standard:
        node = own.get(metalabels.SLICE_NODE_NAME) or (
            pod.spec.node_name if pod is not None else ""
        )
        if node:
            standard["node"] = node
    return standard


def _is_number(port: str) -> bool:
    return port.isascii() and port.isdigit()


# --- why no candidate: slow, for `sdgen explain` ---------------------------------------------


def port_mismatch(target: Target, endpoint: Endpoint, objects: Objects) -> str:
    """Why one source yields no candidate for `endpoint`, in words: the port the endpoint
    asks for and the port names and numbers the objects have (what the matchers above
    compare), and the targets of finished pods a slice lists (`_running` skips them)."""
    if target.type is TargetType.POD_MONITOR:
        pod: Pod = objects[0]
        offered = ", ".join(_container_port(c, p) for c, p, _ in metalabels.pod_ports(pod))
        return f"no port matched: endpoint port {endpoint.port!r}; the pod has {offered}"
    service: Service = objects[0]
    eps: EndpointSlice = objects[1]
    wanted = (
        f"port {endpoint.port!r}"
        if endpoint.port is not None
        else f"targetPort {endpoint.target_port!r}"
    )
    slice_ports = ", ".join(f"{p.name or '(unnamed)'}/{p.port}" for p in eps.ports) or "none"
    service_ports = ", ".join(
        f"{p.name or '(unnamed)'} {p.port}→{p.target_port}" for p in service.spec.ports
    )
    pods = [p for p in objects[2:] if p is not None]
    container_ports = sorted(
        {_container_port(c, p) for pod in pods for c, p, _ in metalabels.pod_ports(pod) if p}
    )
    finished = sorted({p.metadata.name for p in pods if p.status.phase in FINISHED})
    why = (
        f"no port matched: endpoint {wanted}; the EndpointSlice has ports {slice_ports}, "
        f"the Service {service_ports or 'none'}"
    )
    if container_ports:
        why += f", its pods' containers {', '.join(container_ports)}"
    if finished:
        why += f"; targets of finished pods are skipped: {', '.join(finished)}"
    return why


def _container_port(container: Container, port: ContainerPort | None) -> str:
    if port is None:
        return f"container {container.name} without ports"
    name = f"{port.name}/" if port.name else ""
    return f"{container.name} {name}{port.container_port}"
