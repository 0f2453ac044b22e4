"""StaticCluster's indexes, the identity memo, the namespaces a target reads, and which
informers a config needs."""

from __future__ import annotations

import weakref
from dataclasses import fields
from typing import Any, TypeVar

import msgspec
import pytest

from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Resource, Service
from sdgen.k8s.view import ALL, NEEDABLE, ClusterNeeds, IdentityMemo, Scope, StaticCluster
from sdgen.resolve.scope import needs, selected_namespaces

R = TypeVar("R", Pod, Service, EndpointSlice, Namespace)


def _record(kind: type[R], name: str, namespace: str = "", **labels: str) -> R:
    return msgspec.convert(
        {"metadata": {"name": name, "namespace": namespace, "labels": labels}}, kind
    )


def _cluster() -> StaticCluster:
    pods = [_record(Pod, name, ns) for ns, name in [("a", "p1"), ("a", "p2"), ("b", "p3")]]
    services = [_record(Service, "web", ns) for ns in ("a", "b")]
    slices = [
        _record(EndpointSlice, name, ns, **{"kubernetes.io/service-name": "web"})
        for ns, name in [("a", "web-1"), ("a", "web-2"), ("b", "web-1")]
    ]
    slices.append(_record(EndpointSlice, "orphan", "a"))  # no service-name label
    namespaces = [_record(Namespace, n, team=t) for n, t in [("a", "x"), ("b", "y"), ("c", "x")]]
    return StaticCluster.from_objects(pods, services, slices, namespaces)


def _names(objects: Any) -> list[str]:
    return sorted(f"{o.metadata.namespace}/{o.metadata.name}" for o in objects)


def test_static_cluster_indexes_by_namespace_and_service() -> None:
    cluster = _cluster()
    assert _names(cluster.pod_map("a").values()) == ["a/p1", "a/p2"]
    assert _names(cluster.pod_map(None).values()) == ["a/p1", "a/p2", "b/p3"]
    assert _names(cluster.pod_map("missing").values()) == []
    assert _names(cluster.service_map("b").values()) == ["b/web"]
    assert _names(cluster.service_map(None).values()) == ["a/web", "b/web"]
    assert _names(cluster.endpoint_slices("a", "web")) == ["a/web-1", "a/web-2"]
    assert _names(cluster.endpoint_slices("b", "web")) == ["b/web-1"]
    assert _names(cluster.endpoint_slices("a", "other")) == []
    assert sorted(cluster.namespaces()) == ["a", "b", "c"]
    found = cluster.pod("b", "p3")
    assert found is not None and found.metadata.name == "p3"
    assert cluster.pod("a", "p3") is None


def test_static_cluster_maps_by_key_are_stable_objects() -> None:
    cluster = _cluster()
    assert sorted(cluster.pod_map(None)) == ["a/p1", "a/p2", "b/p3"]
    assert sorted(cluster.pod_map("a")) == ["a/p1", "a/p2"]
    assert cluster.pod_map("a") is cluster.pod_map("a")
    assert cluster.pod_map(None) is cluster.pod_map(None)
    assert cluster.pod_map("a")["a/p1"] is cluster.pod("a", "p1")
    assert sorted(cluster.service_map("b")) == ["b/web"]
    assert sorted(cluster.slice_map("a")) == ["a/web-1", "a/web-2"]  # only slices of a Service
    assert dict(cluster.slice_map("missing")) == {}


def test_static_cluster_can_be_empty() -> None:
    cluster = StaticCluster.from_objects()
    assert dict(cluster.pod_map(None)) == {} and dict(cluster.namespaces()) == {}


class _Key:
    """A plain object: freed by reference counting the moment its last reference goes."""


def test_a_freed_objects_id_goes_to_the_next_object() -> None:
    # The hazard the memo guards against, shown: without a reference, an id is soon reused.
    key = _Key()
    dead = id(key)
    del key
    assert id(_Key()) == dead


def test_identity_memo_holds_its_keys_so_no_new_object_takes_a_remembered_id() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    key = _Key()
    memo.put(key, value="remembered")
    alive = weakref.ref(key)
    del key
    assert alive() is not None  # the memo keeps it
    newcomers = [_Key() for _ in range(100)]  # would reuse the id, had the key been freed
    assert [memo.get(new) for new in newcomers] == [None] * 100
    assert memo.get(alive()) == "remembered"


def test_identity_memo_is_keyed_by_identity_of_each_key_object_not_by_equality() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    a, b, equal_to_a = {"k": "v"}, {"k": "w"}, {"k": "v"}
    assert memo.put(a, value="a") == "a"
    memo.put(a, b, value="a,b")
    memo.put(a, b, a, value="a,b,a")
    assert (memo.get(a), memo.get(a, b), memo.get(a, b, a)) == ("a", "a,b", "a,b,a")
    assert memo.get(equal_to_a) is None and memo.get(b, a) is None and memo.get(b) is None
    memo.put(a, None, b, value="a,None,b")  # None is a key object like any other
    assert (memo.get(a, None, b), memo.get(a), memo.get(a, b)) == ("a,None,b", "a", "a,b")
    assert len(memo) == 4
    memo.clear()
    assert memo.get(a) is None and len(memo) == 0


def test_identity_memo_forgets_everything_at_its_limit() -> None:
    memo: IdentityMemo[int] = IdentityMemo(limit=2)
    keys = [_Key() for _ in range(3)]
    for n, key in enumerate(keys):
        memo.put(key, value=n)
    assert [memo.get(key) for key in keys] == [None, None, 2]
    alive = weakref.ref(keys[0])
    del keys
    assert alive() is None  # forgotten keys are let go


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ["own"]),
        (NamespaceSelector(), ["own"]),
        (NamespaceSelector(any=True), [None]),
        (NamespaceSelector(match_names=("b", "a", "zz")), ["a", "b", "zz"]),
        (NamespaceSelector(labels=LabelSelector(match_labels=(("team", "x"),))), ["a", "c"]),
        (
            NamespaceSelector(match_names=("b",), labels=LabelSelector((("team", "x"),))),
            ["a", "b", "c"],
        ),
        (NamespaceSelector(labels=LabelSelector((("team", "none"),))), []),
    ],
    ids=["absent", "empty", "any", "names", "labels", "names+labels", "no match"],
)
def test_selected_namespaces(
    selector: NamespaceSelector | None, expected: list[str | None]
) -> None:
    assert list(selected_namespaces(selector, _cluster(), "own")) == expected


def _target(
    kind: TargetType,
    selector: NamespaceSelector | None = None,
    enabled: bool = True,
    name: str = "",
) -> Target:
    endpoint = Endpoint(addresses=("h:1",)) if kind is TargetType.STATIC_ENDPOINTS else Endpoint()
    return Target(name or f"t{id(selector)}", kind, (endpoint,), enabled, selector, LabelSelector())


POD, SVC, STATIC = TargetType.POD_MONITOR, TargetType.SERVICE_MONITOR, TargetType.STATIC_ENDPOINTS
NAMES_A = NamespaceSelector(match_names=("a",))
NAMES_B = NamespaceSelector(match_names=("b", "c"))
BY_LABEL = NamespaceSelector(labels=LabelSelector((("team", "x"),)))


def _scopes(*names: str) -> Scope:
    return frozenset(names)


ANY = NamespaceSelector(any=True)
SLICE_SCOPES = {"services": _scopes("a"), "endpointslices": _scopes("a")}
NEEDS = [
    pytest.param([], ClusterNeeds(), id="nothing"),
    pytest.param([_target(STATIC)], ClusterNeeds(), id="static only"),
    pytest.param([_target(POD)], ClusterNeeds(pods=_scopes("own")), id="own namespace"),
    pytest.param(
        [_target(POD, NAMES_A), _target(POD, NAMES_B)],
        ClusterNeeds(pods=_scopes("a", "b", "c")),
        id="names merged",
    ),
    pytest.param(
        [_target(SVC, NAMES_A)], ClusterNeeds(pods=_scopes("a"), **SLICE_SCOPES), id="service"
    ),
    pytest.param(
        [_target(POD, NAMES_B), _target(SVC, NAMES_A)],
        ClusterNeeds(pods=_scopes("a", "b", "c"), **SLICE_SCOPES),
        id="mixed kinds",
    ),
    pytest.param([_target(POD, ANY), _target(POD, NAMES_A)], ClusterNeeds(pods=ALL), id="any"),
    pytest.param([_target(POD, BY_LABEL)], ClusterNeeds(pods=ALL, namespaces=ALL), id="labels"),
    pytest.param(
        [_target(POD, NAMES_A), _target(POD, enabled=False)],
        ClusterNeeds(pods=_scopes("a")),
        id="disabled ignored",
    ),
]


@pytest.mark.parametrize(("targets", "expected"), NEEDS)
def test_needs_scopes_informers_to_the_fewest_namespaces(
    targets: list[Target], expected: ClusterNeeds
) -> None:
    assert needs(Config(targets=tuple(targets)), "own") == expected


def test_a_disabled_config_needs_nothing() -> None:
    config = Config(enabled=False, targets=(_target(POD, NamespaceSelector(any=True)),))
    assert needs(config, "own") == ClusterNeeds()


def test_resources_are_named_by_their_api_plural() -> None:
    assert [r.value for r in Resource] == [
        "pods",
        "services",
        "endpointslices",
        "namespaces",
        "secrets",
        "configmaps",
    ]
    assert Resource("endpointslices") is Resource.ENDPOINTSLICES
    assert f"{Resource.ENDPOINTSLICES}/demo" == "endpointslices/demo"  # as informer names read


def test_cluster_needs_has_a_field_per_resource_of_the_view() -> None:
    assert [f.name for f in fields(ClusterNeeds)] == [r.value for r in NEEDABLE]
    assert set(Resource) - set(NEEDABLE) == {Resource.CONFIGMAPS}  # the config's own source


def test_cluster_needs_by_resource() -> None:
    scopes: dict[Resource, Scope] = {Resource.ENDPOINTSLICES: _scopes("a"), Resource.PODS: ALL}
    needed = ClusterNeeds.from_scopes(scopes)
    assert needed == ClusterNeeds(pods=ALL, endpointslices=_scopes("a"))
    assert list(needed.wanted()) == [
        (Resource.PODS, ALL),
        (Resource.ENDPOINTSLICES, _scopes("a")),
    ]
    assert list(ClusterNeeds().wanted()) == []
