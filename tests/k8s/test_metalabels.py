"""Meta labels of roles pod and endpointslice, against Prometheus's own expectations (data)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
import yaml

from sdgen.k8s import metalabels
from sdgen.k8s.records import EndpointSlice, Pod, Service
from tests.support.helpers import REPO

DATA = REPO / "tests/data/targets"
POD_CASES = yaml.safe_load((DATA / "prometheus_pod.yaml").read_text())["cases"]
SLICE_CASES = yaml.safe_load((DATA / "prometheus_endpointslice.yaml").read_text())["cases"]


def _canonical(targets: Any) -> list[str]:
    """Targets as sorted JSON: Prometheus's order of some targets follows Go map order."""
    return sorted(json.dumps(dict(t), sort_keys=True) for t in targets)


def _group(group: metalabels.Group) -> dict[str, Any]:
    return {"labels": dict(group.labels), "targets": _canonical(group.targets)}


def _expected(case: Mapping[str, Any]) -> dict[str, Any]:
    expected = case["expected"]
    return {"labels": expected["labels"], "targets": _canonical(expected["targets"])}


@pytest.mark.parametrize("case", POD_CASES, ids=[c["name"] for c in POD_CASES])
def test_pod_group_matches_prometheus(case: dict[str, Any]) -> None:
    pod = msgspec.convert(case["pod"], Pod)
    assert _group(metalabels.pod_group(pod)) == _expected(case)


@pytest.mark.parametrize("case", SLICE_CASES, ids=[c["name"] for c in SLICE_CASES])
def test_endpointslice_group_matches_prometheus(case: dict[str, Any]) -> None:
    eps = msgspec.convert(case["slice"], EndpointSlice)
    service = msgspec.convert(case["service"], Service) if "service" in case else None
    pods = {
        (p.metadata.namespace, p.metadata.name): p
        for p in (msgspec.convert(raw, Pod) for raw in case.get("pods", ()))
    }
    group = metalabels.endpointslice_group(eps, service, lambda ns, name: pods.get((ns, name)))
    assert _group(group) == _expected(case)


@pytest.mark.parametrize("case", SLICE_CASES, ids=[c["name"] for c in SLICE_CASES])
def test_one_slice_ports_targets_are_those_of_all_with_its_name(case: dict[str, Any]) -> None:
    """`port_name` builds exactly the targets of all that carry that slice port name, in order
    (the uncovered container ports carry none)."""
    eps = msgspec.convert(case["slice"], EndpointSlice)
    pods = {
        (p.metadata.namespace, p.metadata.name): p
        for p in (msgspec.convert(raw, Pod) for raw in case.get("pods", ()))
    }

    def pod_of(namespace: str, name: str) -> Pod | None:
        return pods.get((namespace, name))

    every = metalabels.endpointslice_targets(eps, pod_of)
    names = {t.labels.get(metalabels.SLICE_PORT_NAME) for t in every} | {"absent", ""}
    for name in sorted(n for n in names if n is not None):
        named = metalabels.endpointslice_targets(eps, pod_of, name)
        assert named == [t for t in every if t.labels.get(metalabels.SLICE_PORT_NAME) == name]


def test_endpointslice_targets_keep_prometheus_order() -> None:
    """Endpoint, then port, then address; uncovered pod ports last."""
    case = next(c for c in SLICE_CASES if c["name"].startswith("FQDN"))
    eps = msgspec.convert(case["slice"], EndpointSlice)
    addresses = [
        t.labels[metalabels.ADDRESS] for t in metalabels.endpointslice_targets(eps, lambda *_: None)
    ]
    assert addresses == [t[metalabels.ADDRESS] for t in case["expected"]["targets"]]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app.kubernetes.io/name", "app_kubernetes_io_name"),
        ("team-name", "team_name"),
        ("plain_Key9", "plain_Key9"),
        ("ünïcode", "_n_code"),
        ("a b", "a_b"),
    ],
)
def test_label_names_are_sanitised_like_prometheus(key: str, name: str) -> None:
    assert metalabels.label_name("p_", key) == "p_" + name


class _Wants(metalabels.LabelFilter):
    """Wants the names matching a regex, as a relabel rule list's analysis would."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def __missing__(self, name: str) -> bool:
        wanted = self[name] = self.pattern.fullmatch(name) is not None
        return wanted


def test_keys_that_sanitise_alike_resolve_deterministically() -> None:
    """Prometheus's winner depends on Go map order; here the last key in sorted order wins."""
    labels = {"a/b": "slash", "a.b": "dot", "a-b": "dash"}
    pod = msgspec.convert({"metadata": {"name": "p", "labels": labels}}, Pod)
    assert (
        metalabels.object_labels("pod", pod.metadata)[metalabels.META + "pod_label_a_b"] == "slash"
    )
    assert (
        metalabels.pod_labels(pod, _Wants(".*_a_b"))[metalabels.META + "pod_label_a_b"] == "slash"
    )


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [
        ("10.0.0.1", 80, "10.0.0.1:80"),
        ("fd00::1", 80, "[fd00::1]:80"),
        ("h.example", 1, "h.example:1"),
    ],
)
def test_join_host_port_brackets_ipv6(host: str, port: int, address: str) -> None:
    assert metalabels.join_host_port(host, port) == address


def test_last_container_declaring_a_slice_port_names_it() -> None:
    """endpointslice.go breaks only out of the inner loop, so a later container overrides."""
    pod = msgspec.convert(
        {
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "containers": [
                    {"name": "first", "ports": [{"name": "a", "containerPort": 80}]},
                    {"name": "second", "ports": [{"name": "b", "containerPort": 80}]},
                ]
            },
            "status": {"podIP": "10.0.0.1"},
        },
        Pod,
    )
    eps = msgspec.convert(
        {
            "metadata": {"name": "s", "namespace": "ns"},
            "ports": [{"name": "web", "port": 80}],
            "endpoints": [
                {
                    "addresses": ["10.0.0.1"],
                    "targetRef": {"kind": "Pod", "name": "p", "namespace": "ns"},
                }
            ],
        },
        EndpointSlice,
    )
    (target,) = metalabels.endpointslice_targets(eps, lambda ns, name: pod)
    assert target.labels[metalabels.CONTAINER_NAME] == "second"
    assert target.labels[metalabels.CONTAINER_PORT_NAME] == "b"
    assert target.pod is pod


WANTS = {
    "nothing": "(?!)",
    "everything": ".*",
    "pod fields": ".*pod_(phase|node_name|ready|uid)",
    "the name": ".*pod_name",
    "some labels": ".*pod_label_(team|app)",
    "present twins only": ".*pod_(label|annotation)present_.*",
    "annotations": ".*pod_annotation_.*",
    "the controller": ".*controller_(kind|name)",
    "container labels": ".*container_(name|port_number|id)",
}


@pytest.mark.parametrize("pattern", WANTS.values(), ids=WANTS.keys())
@pytest.mark.parametrize("case", POD_CASES, ids=[c["name"] for c in POD_CASES])
def test_wanted_labels_are_exactly_the_wanted_part_of_all(
    case: dict[str, Any], pattern: str
) -> None:
    """Building only the wanted labels (twice: the second from remembered plans) gives the
    wanted part of all of them, values and clash winners included."""
    pod = msgspec.convert(case["pod"], Pod)
    wanted = _Wants(pattern)
    for _ in range(2):
        full = metalabels.pod_labels(pod)
        assert metalabels.pod_labels(pod, wanted) == {k: v for k, v in full.items() if wanted[k]}
        for found in metalabels.pod_ports(pod):
            full = metalabels.pod_target(pod, *found)
            assert metalabels.pod_target(pod, *found, wanted) == {
                k: v
                for k, v in full.items()
                if wanted[k] or k == metalabels.ADDRESS  # always there
            }
