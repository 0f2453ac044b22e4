"""Which objects a monitor selects, kept current by comparing cache mappings by identity.

A PodMonitor's sources are pods; a ServiceMonitor's are EndpointSlices, each with its Service
and the pods its endpoints point to. A selection remembers the mappings it read last and next
time looks only at keys whose record is another object (the identity contract of
sdgen.k8s.view), so a cycle costs what changed, not what exists. `update` returns that change
as a `Delta`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sdgen.k8s.labelselector import LabelSelector
from sdgen.k8s.records import SERVICE_NAME_LABEL, EndpointSlice, ObjectReference, Pod, Service
from sdgen.k8s.view import Cluster, IdentityMemo

Objects = tuple[Any, ...]  # a source's records: (pod,) or (service, slice, *pods)
Delta = dict[str, Objects | None]  # source key → its records now, or None: not selected now

FINISHED = frozenset({"Failed", "Succeeded"})  # no targets (see sdgen.resolve.candidates)


def changed_keys(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> Iterator[str]:
    """Keys added, removed or holding another object than in `previous` (None: all)."""
    if previous is None:
        yield from current
        return
    if previous is current:
        return
    changed_since = getattr(current, "changed_since", None)  # a cache's log (sdgen.k8s.view)
    logged = changed_since(previous) if changed_since is not None else None
    if logged is not None:  # keys written; one added and removed again is in neither
        yield from (key for key in logged if key in current or key in previous)
        return
    get = previous.get
    yield from (key for key, value in current.items() if get(key) is not value)
    yield from (key for key in previous if key not in current)


class Diffs:
    """`changed_keys`, remembered for one resolve by the two mappings' identity: a PodMonitor
    and a ServiceMonitor over the same pods compare the same two mappings, and comparing
    them walks every key."""

    def __init__(self) -> None:
        self._found: IdentityMemo[tuple[str, ...]] = IdentityMemo()

    def __call__(
        self, previous: Mapping[str, Any] | None, current: Mapping[str, Any]
    ) -> tuple[str, ...]:
        found = self._found.get(previous, current)
        if found is None:
            found = self._found.put(previous, current, value=tuple(changed_keys(previous, current)))
        return found


class PodSelection:
    """The pods of `namespaces` (None: all) a PodMonitor's selector picks, by pod key."""

    def __init__(self, namespaces: Sequence[str | None], selector: LabelSelector) -> None:
        self._namespaces = namespaces
        self._selector = selector
        self._seen: dict[str | None, Mapping[str, Pod]] = {}

    def update(self, cluster: Cluster, diffs: Diffs | None = None) -> Delta:
        changed = diffs or Diffs()
        delta: Delta = {}
        for namespace in self._namespaces:
            pods = cluster.pod_map(namespace)
            for key in changed(self._seen.get(namespace), pods):
                pod = pods.get(key)
                delta[key] = (pod,) if pod is not None and self._picks(pod) else None
            self._seen[namespace] = pods
        return delta

    def selected(self) -> Delta:
        """Every pod picked as of the last `update`: what a new endpoint pipeline over this
        selection starts from (sdgen.resolve.resolver keeps a selection across an edit)."""
        return {
            key: (pod,)
            for namespace in self._namespaces
            for key, pod in self._seen.get(namespace, {}).items()
            if self._picks(pod)
        }

    def _picks(self, pod: Pod) -> bool:
        """Pods without an IP or finished are no targets (see sdgen.resolve.candidates)."""
        return (
            bool(pod.status.pod_ip)
            and pod.status.phase not in FINISHED
            and self._selector.matches(pod.metadata.labels)
        )


class SliceSelection:
    """The EndpointSlices of the Services in `namespaces` (None: all) a ServiceMonitor's
    selector picks, by slice key, each with its Service and its endpoints' pods; and how
    many Services it picks (`services`), with EndpointSlices or without."""

    def __init__(self, namespaces: Sequence[str | None], selector: LabelSelector) -> None:
        self._namespaces = namespaces
        self._selector = selector
        self._seen: dict[str | None, tuple[Mapping[str, Any], ...]] = {}
        self._selected: dict[str, Objects] = {}
        self._refs: dict[str, set[str]] = {}  # pod key → keys of selected slices naming it
        self._services: set[str] = set()  # keys of the Services the selector picks

    @property
    def services(self) -> int:
        return len(self._services)

    def selected(self) -> Delta:
        """Every slice picked as of the last `update`, with its Service and pods, by key."""
        return dict(sorted(self._selected.items()))

    def update(self, cluster: Cluster, diffs: Diffs | None = None) -> Delta:
        changed = diffs or Diffs()
        delta: Delta = {}
        for namespace in self._namespaces:
            maps = (
                cluster.service_map(namespace),
                cluster.slice_map(namespace),
                cluster.pod_map(namespace),
            )
            seen = self._seen.get(namespace, (None, None, None))
            self._pick_services(maps[0], changed(seen[0], maps[0]))
            affected = set(self._affected(cluster, seen, maps, changed))
            for key in sorted(affected):
                self._evaluate(key, cluster, maps[0], maps[1], delta)
            self._seen[namespace] = maps
        return delta

    def _affected(
        self,
        cluster: Cluster,
        seen: tuple[Mapping[str, Any] | None, ...],
        maps: tuple[Mapping[str, Any], ...],
        changed: Diffs,
    ) -> Iterator[str]:
        services, slices, pods = maps
        for key in changed(seen[0], services):
            namespace, _, name = key.partition("/")
            yield from (_key(eps) for eps in cluster.endpoint_slices(namespace, name))
        yield from changed(seen[1], slices)
        refs = self._refs
        for key in changed(seen[2], pods):
            yield from refs.get(key, ())

    def _pick_services(self, services: Mapping[str, Service], keys: Iterable[str]) -> None:
        for key in keys:
            service = services.get(key)
            if service is not None and self._selector.matches(service.metadata.labels):
                self._services.add(key)
            else:
                self._services.discard(key)

    def _evaluate(
        self,
        key: str,
        cluster: Cluster,
        services: Mapping[str, Service],
        slices: Mapping[str, EndpointSlice],
        delta: Delta,
    ) -> None:
        eps = slices.get(key)
        owner = eps.metadata.labels.get(SERVICE_NAME_LABEL) if eps is not None else None
        service = services.get(f"{eps.metadata.namespace}/{owner}") if eps and owner else None
        objects: Objects | None = None
        if eps is not None and service and self._selector.matches(service.metadata.labels):
            objects = (service, eps, *_pods(eps, cluster.pod))
        old = self._selected.get(key)
        if old is not None and objects is not None and _same(old, objects):
            return
        if old is not None:
            self._link(key, old, self._unlink_one)
            del self._selected[key]
        if objects is not None:
            self._selected[key] = objects
            self._link(key, objects, self._link_one)
        if old is not None or objects is not None:
            delta[key] = objects

    def _link(self, key: str, objects: Objects, how: Callable[[str, str], None]) -> None:
        for pod_key in _pod_keys(objects[1]):
            how(pod_key, key)

    def _link_one(self, pod_key: str, key: str) -> None:
        self._refs.setdefault(pod_key, set()).add(key)

    def _unlink_one(self, pod_key: str, key: str) -> None:
        keys = self._refs.get(pod_key)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._refs[pod_key]


class StaticSelection:
    """StaticEndpoints: one source, which depends on the endpoint alone."""

    def __init__(self) -> None:
        self._done = False

    def update(self, cluster: Cluster, diffs: Diffs | None = None) -> Delta:
        if self._done:
            return {}
        self._done = True
        return {"": ()}


Selection = PodSelection | SliceSelection | StaticSelection


def pod_skipped(pod: Pod) -> str | None:
    """Why a pod yields no targets whatever selects it, in words, or None: the part of
    `PodSelection._picks` (and of a slice's targets, sdgen.resolve.candidates) that is not
    the selector. Slow, for `sdgen explain`."""
    status = pod.status
    if not status.pod_ip:
        return f"the pod has no IP yet (phase {status.phase or 'unknown'})"
    if status.phase in FINISHED:
        return (
            f"the pod's phase is {status.phase}: finished pods are not scraped "
            "(the operator's filterRunning)"
        )
    return None


def _key(eps: EndpointSlice) -> str:
    return f"{eps.metadata.namespace}/{eps.metadata.name}"


def _pod_refs(eps: EndpointSlice) -> Iterator[ObjectReference]:
    """The pods a slice's endpoints point to: their records are part of its targets."""
    for endpoint in eps.endpoints:
        ref = endpoint.target_ref
        if ref is not None and ref.kind == "Pod":
            yield ref


def _pod_keys(eps: EndpointSlice) -> Iterator[str]:
    return (f"{ref.namespace}/{ref.name}" for ref in _pod_refs(eps))


def _pods(eps: EndpointSlice, pod: Callable[[str, str], Pod | None]) -> Iterator[Pod | None]:
    return (pod(ref.namespace, ref.name) for ref in _pod_refs(eps))


def _same(a: Objects, b: Objects) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
