"""InformerSet keeps exactly the informers the config needs, over real HTTP to the emulator,
and shows their caches as one Cluster whether they are cluster-wide or per namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdgen.cache import apiclient
from sdgen.cache.informerset import InformerSet, scopes
from sdgen.k8s.records import Resource
from sdgen.k8s.view import ALL, ClusterNeeds
from tests.support.helpers import wait_for


def pod(namespace: str, name: str, ip: str, app: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "m", "containerPort": 80}]}]},
        "status": {"phase": "Running", "podIP": ip},
    }


@pytest.mark.parametrize(
    ("needs", "expected"),
    [
        (ClusterNeeds(), set()),
        (ClusterNeeds(pods=frozenset({"a", "b"})), {("pods", "a"), ("pods", "b")}),
        (ClusterNeeds(pods=ALL, namespaces=ALL), {("pods", None), ("namespaces", None)}),
        (
            ClusterNeeds(
                services=frozenset({"a"}), endpointslices=frozenset({"a"}), pods=frozenset({"a"})
            ),
            {("services", "a"), ("endpointslices", "a"), ("pods", "a")},
        ),
        # namespaces are cluster objects: one cluster-wide informer whatever the scope says
        (ClusterNeeds(namespaces=frozenset({"a"})), {("namespaces", None)}),
    ],
)
def test_scopes(needs: ClusterNeeds, expected: set[tuple[str, str | None]]) -> None:
    found = scopes(needs)
    assert found == expected
    assert all(isinstance(resource, Resource) for resource, _ in found)


@pytest.fixture
def informer_set(fakeapi: Any, kubeconfig: Path) -> Iterator[InformerSet]:
    client = apiclient.load_api_client(str(kubeconfig))
    found = InformerSet(lambda resource, ns: apiclient.new_informer(client, resource, ns))
    yield found
    found.stop()


def test_informers_follow_the_config_and_the_view_reads_them(
    fakeapi: Any, informer_set: InformerSet
) -> None:
    for ns, name, ip in (("a", "p1", "10.0.0.1"), ("b", "p2", "10.0.0.2"), ("c", "p3", "10.0.0.3")):
        fakeapi.create(pod(ns, name, ip))

    informer_set.ensure(ClusterNeeds(pods=frozenset({"a"})))
    wait_for(informer_set.synced)
    assert [i.name for i in informer_set.informers()] == ["pods/a"]
    assert [p.metadata.name for p in informer_set.cluster().pod_map("a").values()] == ["p1"]
    assert list(informer_set.cluster().pod_map("b").values()) == []
    first = informer_set.informers()[0]

    # Re-scoped: a is kept (same informer), b is added; nothing is listed twice.
    informer_set.ensure(ClusterNeeds(pods=frozenset({"a", "b"})))
    wait_for(informer_set.synced)
    assert sorted(i.name for i in informer_set.informers()) == ["pods/a", "pods/b"]
    assert first in informer_set.informers()
    assert sorted(p.metadata.name for p in informer_set.cluster().pod_map(None).values()) == [
        "p1",
        "p2",
    ]
    assert sorted(informer_set.cluster().pod_map(None)) == ["a/p1", "b/p2"]
    assert list(informer_set.cluster().pod_map("b")) == ["b/p2"]
    assert dict(informer_set.cluster().pod_map("c")) == {}

    # Cluster-wide replaces the per-namespace informers, which are stopped.
    informer_set.ensure(ClusterNeeds(pods=ALL))
    wait_for(informer_set.synced)
    assert [i.name for i in informer_set.informers()] == ["pods/*"]
    assert first.join(2), "the replaced per-namespace informer has stopped"
    cluster = informer_set.cluster()
    assert sorted(p.metadata.name for p in cluster.pod_map(None).values()) == ["p1", "p2", "p3"]
    assert [p.metadata.name for p in cluster.pod_map("c").values()] == ["p3"]
    assert cluster.pod("b", "p2") is not None
    assert sorted(cluster.pod_map(None)) == ["a/p1", "b/p2", "c/p3"]
    assert list(cluster.pod_map("c")) == ["c/p3"]
    assert informer_set.cluster().pod_map(None) is cluster.pod_map(None)  # nothing changed

    version = informer_set.version()
    fakeapi.create(pod("c", "p4", "10.0.0.4"))
    wait_for(lambda: informer_set.version() != version)
    assert sorted(p.metadata.name for p in informer_set.cluster().pod_map("c").values()) == [
        "p3",
        "p4",
    ]
    assert informer_set.cluster().pod_map(None) is not cluster.pod_map(None)

    informer_set.ensure(ClusterNeeds())
    assert informer_set.informers() == []


def test_a_replaced_informer_never_repeats_an_earlier_version(
    fakeapi: Any, informer_set: InformerSet
) -> None:
    # A new informer's store counts its versions from zero again: with the same objects it
    # reaches the same store version as the one it replaces, yet the set has changed.
    fakeapi.create(pod("a", "p1", "10.0.0.1"))
    informer_set.ensure(ClusterNeeds(pods=frozenset({"a"})))
    wait_for(informer_set.synced)
    seen = [informer_set.version()]
    informer_set.ensure(ClusterNeeds())
    seen.append(informer_set.version())
    informer_set.ensure(ClusterNeeds(pods=frozenset({"a"})))
    wait_for(informer_set.synced)
    assert informer_set.version() not in seen
