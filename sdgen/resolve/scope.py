"""Which namespaces a target reads, and which informers a config needs to resolve.

A target without a namespaceSelector reads the ConfigMap's own namespace (as the Prometheus
Operator does); `needs` turns a whole config into a `ClusterNeeds`, scoped to the fewest
namespaces, so the sidecar starts only the informers the config can use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sdgen.config.model import Config, Target, TargetType, secret_refs
from sdgen.k8s.labelselector import NamespaceSelector
from sdgen.k8s.records import Resource
from sdgen.k8s.view import ALL, Cluster, ClusterNeeds, Scope


def active_targets(config: Config) -> Iterator[Target]:
    return (t for t in config.targets if t.enabled) if config.enabled else iter(())


# What each kind of target reads; a ServiceMonitor reads pods too, for its endpoints' pods.
_READS: dict[TargetType, tuple[Resource, ...]] = {
    TargetType.POD_MONITOR: (Resource.PODS,),
    TargetType.SERVICE_MONITOR: (Resource.SERVICES, Resource.ENDPOINTSLICES, Resource.PODS),
    TargetType.STATIC_ENDPOINTS: (),
}


def needs(config: Config, default_namespace: str) -> ClusterNeeds:
    scopes: dict[Resource, Scope] = {}
    for target in active_targets(config):
        if any(secret_refs(endpoint) for endpoint in target.endpoints):
            home = frozenset({target.secrets_namespace or default_namespace})
            scopes[Resource.SECRETS] = _union(scopes.get(Resource.SECRETS), home)
        if target.type is TargetType.STATIC_ENDPOINTS:
            continue
        scope = _scope(target.namespace_selector, default_namespace)
        for resource in _READS[target.type]:
            scopes[resource] = _union(scopes.get(resource), scope)
        selector = target.namespace_selector
        if selector is not None and selector.needs_namespace_labels:
            scopes[Resource.NAMESPACES] = ALL
    return ClusterNeeds.from_scopes(scopes)


def _own_namespace(selector: NamespaceSelector | None) -> bool:
    """No selector, or an empty one, means the ConfigMap's namespace (as the operator does)."""
    return selector is None or not (
        selector.any or selector.match_names or selector.labels is not None
    )


def _scope(selector: NamespaceSelector | None, default_namespace: str) -> Scope:
    if selector is None or _own_namespace(selector):
        return frozenset({default_namespace})
    if selector.any or selector.labels is not None:
        return ALL
    return frozenset(selector.match_names)


def _union(a: Scope | None, b: Scope) -> Scope:
    if a is None:
        return b
    if a is ALL or b is ALL:
        return ALL
    return a | b


def selected_namespaces(
    selector: NamespaceSelector | None, cluster: Cluster, default_namespace: str
) -> Sequence[str | None]:
    """The namespaces a target lists objects in; [None] means all of them."""
    if selector is None or _own_namespace(selector):
        return [default_namespace]
    if selector.any:
        return [None]
    names = set(selector.match_names)
    if selector.labels is not None:
        wanted = selector.labels
        names.update(
            name for name, ns in cluster.namespaces().items() if wanted.matches(ns.metadata.labels)
        )
    return sorted(names)


def selected_by(selector: NamespaceSelector | None, default_namespace: str) -> str:
    """Which selector picks a target's namespaces, in words (for `sdgen explain`)."""
    if selector is None or _own_namespace(selector):
        return f"no namespaceSelector: the ConfigMap's own namespace {default_namespace!r}"
    if selector.any:
        return "namespaceSelector any: true (every namespace)"
    terms = []
    if selector.match_names:
        terms.append(f"matchNames ({', '.join(selector.match_names)})")
    if selector.labels is not None:
        terms.append(f"namespace labels {selector.labels}")
    return "namespaceSelector " + " or ".join(terms)


def namespace_mismatch(
    selector: NamespaceSelector | None, namespace: str, cluster: Cluster, default_namespace: str
) -> str | None:
    """Why a target reads no objects in `namespace`, in words; None when it does. Decided by
    `selected_namespaces` itself, so it agrees with what the resolver reads."""
    names = selected_namespaces(selector, cluster, default_namespace)
    if None in names or namespace in names:
        return None
    if selector is None or _own_namespace(selector):
        return f"{namespace!r} is not the ConfigMap's namespace {default_namespace!r}"
    found = cluster.namespaces().get(namespace)
    if found is None and selector.labels is not None:
        return f"namespace {namespace!r} is not in the cache, so its labels cannot match"
    return selector.mismatch(namespace, found.metadata.labels if found else {})
