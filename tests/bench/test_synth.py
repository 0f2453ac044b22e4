"""The benchmark's data: the synthetic cluster is deterministic and realistic, and the emulator
seeded with it serves exactly those objects through paginated lists. No timing here."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from sdgen.config.document import parse_config
from tests.bench import emulator, synth
from tests.fakeapi import FakeAPI

PODS = 10_000
_PATHS = {
    "pods": "/api/v1/pods",
    "services": "/api/v1/services",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "configmaps": "/api/v1/configmaps",
}


def _encoded(pods: int) -> list[bytes]:
    return [msgspec.json.encode(obj) for obj in synth.objects(pods)]


@pytest.fixture(scope="module")
def seeded() -> Iterator[FakeAPI]:
    api = emulator.seeded(PODS)
    api.start()
    yield api
    api.stop()


def list_all(api: FakeAPI, resource: str, limit: int = 500) -> tuple[list[dict[str, Any]], int]:
    """Every item of a cluster-wide list, following continue tokens; and the page count."""
    items: list[dict[str, Any]] = []
    token, pages = "", 0
    while True:
        query = urllib.parse.urlencode({"limit": limit, "continue": token})
        with urllib.request.urlopen(f"{api.url}{_PATHS[resource]}?{query}", timeout=30) as resp:
            body = json.load(resp)
        items += body["items"]
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            return items, pages


def test_generator_is_deterministic() -> None:
    assert _encoded(2_000) == _encoded(2_000)


def test_cluster_has_the_promised_shape() -> None:
    kinds: dict[str, int] = {}
    first_pod: dict[str, Any] | None = None
    for obj in synth.objects(PODS):
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
        if first_pod is None and obj["kind"] == "Pod":
            first_pod = obj
    assert kinds["Pod"] == PODS
    assert kinds["Service"] == kinds["EndpointSlice"] == PODS // 100
    assert first_pod is not None
    meta, spec = first_pod["metadata"], first_pod["spec"]
    assert [m["manager"] for m in meta["managedFields"]] == ["kube-controller-manager", "kubelet"]
    assert meta["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert meta["labels"] and meta["annotations"]
    assert [len(c["ports"]) for c in spec["containers"]] == [2, 1]
    assert first_pod["status"]["phase"] == "Running"
    assert synth.expected_targets(PODS) == {synth.POD_TARGET: PODS, synth.SERVICE_TARGET: 1000}


@pytest.mark.parametrize("revision", [0, 7])
def test_scrape_config_is_valid(revision: int) -> None:
    config = parse_config(synth.scrape_config(revision), source="bench")
    assert config.usable and not config.errors and not config.rejected
    assert [t.name for t in config.targets] == [synth.POD_TARGET, synth.SERVICE_TARGET]
    assert all(len(ep.relabelings) == 5 for t in config.targets for ep in t.endpoints)


def test_emulator_pages_return_exactly_the_seeded_objects(seeded: FakeAPI) -> None:
    expected: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in _PATHS}
    plural = {"Pod": "pods", "Service": "services", "EndpointSlice": "endpointslices"}
    plural["ConfigMap"] = "configmaps"
    for obj in synth.objects(PODS):
        if obj["kind"] in plural:
            meta = obj["metadata"]
            expected[plural[obj["kind"]]][(meta["namespace"], meta["name"])] = obj
    for resource, want in expected.items():
        items, pages = list_all(seeded, resource)
        got = {}
        for item in items:
            meta = item["metadata"]
            assert meta.pop("resourceVersion")
            got[(meta["namespace"], meta["name"])] = item
        assert len(items) == len(got), f"{resource}: an object listed twice"
        assert got == want, resource
        assert pages == -(-len(want) // 500)


def test_the_tenant_bench_selects_every_deployment_once_200_tenants_of_5() -> None:
    from tests.bench.tenants import tenants

    plan = tenants(10_000)
    assert len(plan) == 200 and {len(apps) for _, _, apps in plan} == {5}
    apps = [app for _, _, members in plan for app in members]
    assert len(apps) == len(set(apps)) == 1000
    assert len({(ns, name) for ns, name, _ in plan}) == 200
