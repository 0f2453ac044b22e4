"""Acceptance: Prometheus's own kubernetes_sd_configs (client-go) discovers through the emulator.

Prometheus 3 lists with a watch (`sendInitialEvents=true`), so its targets appearing proves the
initial-events path, and later changes arriving prove the live watch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.__main__ import load_seed
from tests.support.helpers import REPO, pod_manifest, wait_for
from tests.support.prom import PromHandle

pytestmark = pytest.mark.prometheus

SEED = REPO / "tests" / "data" / "fakeapi" / "cluster.yaml"


@pytest.fixture
def cluster() -> Iterator[FakeAPI]:
    api = FakeAPI(load_seed(SEED))
    api.start()
    yield api
    api.stop()


def config(api_server: str) -> str:
    sd = "kubernetes_sd_configs: [{role: %s, api_server: '%s'}]"
    jobs = [
        f"- job_name: {role}s\n  " + sd % (role, api_server) for role in ("pod", "endpointslice")
    ]
    return "global: {scrape_interval: 1h}\nscrape_configs:\n" + "\n".join(jobs) + "\n"


def discovered(prom: PromHandle, job: str) -> list[dict[str, str]]:
    targets = prom.targets("any")
    every = targets["activeTargets"] + targets["droppedTargets"]
    return sorted(
        (t["discoveredLabels"] for t in every if t["discoveredLabels"]["job"] == job),
        key=lambda labels: labels["__address__"],
    )


def addresses(prom: PromHandle, job: str) -> list[str]:
    return [labels["__address__"] for labels in discovered(prom, job)]


def assert_has(labels: dict[str, str], expected: dict[str, str]) -> None:
    assert {k: labels.get(k) for k in expected} == expected


def test_prometheus_discovers_seeded_pods_and_endpointslices(
    cluster: FakeAPI, prometheus: Callable[..., PromHandle]
) -> None:
    prom = prometheus(config(cluster.url))
    pods_expected = ["10.0.0.10:8080", "10.0.0.10:9090", "10.0.0.11:8080", "10.0.0.11:9090"]
    wait_for(lambda: addresses(prom, "pods") == pods_expected, timeout=60, message="pod targets")
    wait_for(
        lambda: addresses(prom, "endpointslices") == pods_expected,
        timeout=60,
        message="slice targets",
    )

    web0 = discovered(prom, "pods")[1]
    uid = cluster.get("pods", "shop", "web-0")["metadata"]["uid"]  # type: ignore[index]
    assert_has(
        web0,
        {
            "__meta_kubernetes_pod_name": "web-0",
            "__meta_kubernetes_pod_ip": "10.0.0.10",
            "__meta_kubernetes_pod_node_name": "node-1",
            "__meta_kubernetes_pod_ready": "true",
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_container_port_name": "metrics",
            "__meta_kubernetes_pod_label_app": "web",
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
            "__meta_kubernetes_pod_uid": uid,
        },
    )
    slice1 = discovered(prom, "endpointslices")[2]
    assert_has(
        slice1,
        {
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_endpointslice_name": "web-abcde",
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "false",
            "__meta_kubernetes_endpointslice_port_name": "http",
            "__meta_kubernetes_service_name": "web",
            "__meta_kubernetes_pod_name": "web-1",
        },
    )

    watch_lists = [p for m, p in cluster.requests if "sendInitialEvents=true" in p]
    assert {p.split("?")[0] for p in watch_lists} == {
        "/api/v1/pods",
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
    }


def test_prometheus_follows_changes_through_the_watch(
    cluster: FakeAPI, prometheus: Callable[..., PromHandle]
) -> None:
    prom = prometheus(config(cluster.url))
    wait_for(lambda: len(addresses(prom, "pods")) == 4, timeout=60, message="initial pod targets")
    cluster.create(pod_manifest("api-0", "shop", {"app": "api"}, ip="10.0.0.20", ports=[8000]))
    cluster.delete("pods", "shop", "web-1")
    expected = ["10.0.0.10:8080", "10.0.0.10:9090", "10.0.0.20:8000"]
    wait_for(lambda: addresses(prom, "pods") == expected, timeout=60, message="changed pod targets")
