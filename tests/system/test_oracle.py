"""Prometheus as the oracle for meta labels: what sdgen discovers must be exactly what
Prometheus's own `kubernetes_sd_configs` discovers from the same (emulated) cluster.

Both read the emulator seeded with examples/cluster.yaml, the golden corner cases and
tests/data/e2e/oracle-cluster.yaml (the shapes sdgen deliberately skips, IPv6, UDP, Nodes).
Prometheus runs roles `pod` and `endpointslice`; sdgen runs `once --keep-meta-labels` with a
PodMonitor over every pod and a ServiceMonitor over every Service, one endpoint per port
number in the cluster (so every port is selected exactly once). The two sides must then have
the same multiset of (`__address__` + `__meta_*`) label sets: first for the seeded cluster,
then again after live changes, which Prometheus follows through its watches.

Prometheus deduplicates active targets by their final labels (an init container and a
container sharing a port would collapse), so its jobs drop every target with one rule: dropped
targets are all listed, each with its untouched `discoveredLabels`.

The deliberate differences, excluded by name (see the README and sdgen/resolve/candidates.py):
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.fakeapi.__main__ import load_seed
from tests.support.helpers import REPO, wait_for
from tests.support.prom import PromHandle

pytestmark = pytest.mark.prometheus

SEEDS = (
    REPO / "examples" / "cluster.yaml",
    REPO / "tests" / "data" / "golden" / "cluster.yaml",
    REPO / "tests" / "data" / "e2e" / "oracle-cluster.yaml",
)
ROLES = {"pod": "all-pods", "endpointslice": "all-services"}

LabelSet = frozenset[tuple[str, str]]


def _finished_pod(labels: Mapping[str, str]) -> bool:
    return labels.get("__meta_kubernetes_pod_phase") in ("Failed", "Succeeded")


def _portless_container(labels: Mapping[str, str]) -> bool:
    return "__meta_kubernetes_pod_container_port_number" not in labels


def _slice_without_service(labels: Mapping[str, str]) -> bool:
    return "__meta_kubernetes_service_name" not in labels


def _slice_port_without_number(labels: Mapping[str, str]) -> bool:
    return not (
        "__meta_kubernetes_endpointslice_port" in labels
        or "__meta_kubernetes_pod_container_port_number" in labels
    )


# role → (name, predicate): Prometheus targets sdgen deliberately does not emit.
EXCLUDED: dict[str, list[tuple[str, Callable[[Mapping[str, str]], bool]]]] = {
    "pod": [
        # Failed/Succeeded pods are not scraped (the operator's filterRunning relabeling).
        ("finished pod", _finished_pod),
        # A PodMonitor endpoint names a port; a container without ports has none to match.
        ("container without ports", _portless_container),
    ],
    "endpointslice": [
        ("finished pod", _finished_pod),
        # A ServiceMonitor selects Services: a slice no Service owns is never reached.
        ("slice without a Service", _slice_without_service),
        # `port`/`targetPort` must match a port: a slice port without a number matches none.
        ("slice port without a number", _slice_port_without_number),
    ],
}
__doc__ += "".join(
    f"\n* role {role}: {name}" for role, rules in EXCLUDED.items() for name, _ in rules
)


def _port_numbers(objects: Iterable[Mapping[str, Any]]) -> list[int]:
    """Every port number pods declare and slices list: one endpoint each covers them all."""
    numbers: set[int] = set()
    for obj in objects:
        if obj["kind"] == "Pod":
            spec = obj.get("spec", {})
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                numbers.update(p["containerPort"] for p in container.get("ports", []))
        elif obj["kind"] == "EndpointSlice":
            numbers.update(p["port"] for p in obj.get("ports") or [] if p.get("port"))
    return sorted(numbers)


def _sdgen_config(numbers: list[int]) -> str:
    targets = [
        {
            "targetName": ROLES["pod"],
            "type": "PodMonitor",
            "namespaceSelector": {"any": True},
            "selector": {},
            "endpoints": [{"port": str(n)} for n in numbers],
        },
        {
            "targetName": ROLES["endpointslice"],
            "type": "ServiceMonitor",
            "namespaceSelector": {"any": True},
            "selector": {},
            "endpoints": [{"targetPort": str(n)} for n in numbers],
        },
    ]
    return yaml.safe_dump({"targets": targets})


def _prometheus_config(api_server: str) -> str:
    jobs = [
        {
            "job_name": job,
            "kubernetes_sd_configs": [{"role": role, "api_server": api_server}],
            "relabel_configs": [{"action": "drop", "regex": ".*"}],
        }
        for role, job in ROLES.items()
    ]
    return yaml.safe_dump({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs})


def _meta(labels: Mapping[str, str]) -> LabelSet:
    return frozenset((k, v) for k, v in labels.items() if k.startswith("__meta_"))


def _sdgen_targets(out: Path) -> dict[str, Counter[LabelSet]]:
    found: dict[str, Counter[LabelSet]] = {job: Counter() for job in ROLES.values()}
    for path in sorted((out / "targets").glob("*/targets.json")):
        for group in json.loads(path.read_text()):
            labels = group["labels"]
            for address in group["targets"]:
                found[labels["job"]][_meta(labels) | {("__address__", address)}] += 1
    return found


def _excluded(role: str, labels: Mapping[str, str]) -> str | None:
    return next((name for name, rule in EXCLUDED[role] if rule(labels)), None)


def _prometheus_targets(prom: PromHandle) -> tuple[dict[str, Counter[LabelSet]], Counter[str]]:
    kept: dict[str, Counter[LabelSet]] = {job: Counter() for job in ROLES.values()}
    excluded: Counter[str] = Counter()
    data = prom.targets("any")
    assert data["activeTargets"] == []
    for target in data["droppedTargets"]:
        labels = target["discoveredLabels"]
        role = next(r for r, job in ROLES.items() if job == labels["job"])
        reason = _excluded(role, labels)
        if reason:
            excluded[f"{role}: {reason}"] += 1
        else:
            kept[labels["job"]][_meta(labels) | {("__address__", labels["__address__"])}] += 1
    return kept, excluded


def _sdgen_once(config: Path, kubeconfig: Path, out: Path) -> None:
    args = ["--config-file", str(config), "--kubeconfig", str(kubeconfig), "--output-dir", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "once", "--keep-meta-labels", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _differences(ours: Counter[LabelSet], theirs: Counter[LabelSet]) -> list[str]:
    """Readable differences: for each unmatched target, the labels only one side has."""
    only_ours, only_theirs = list((ours - theirs).elements()), list((theirs - ours).elements())
    lines = []
    for labels in only_ours:
        address = dict(labels)["__address__"]
        twin = next((t for t in only_theirs if dict(t)["__address__"] == address), frozenset())
        lines.append(
            f"{address}: sdgen only {sorted(labels - twin)}; prom only {sorted(twin - labels)}"
        )
    lines += [f"{dict(t)['__address__']}: only Prometheus has {sorted(t)}" for t in only_theirs]
    return lines


def _agree(
    prom: PromHandle, kubeconfig: Path, config: Path, out: Path, nudge: Callable[[], None]
) -> Counter[str]:
    """sdgen once against the emulator; Prometheus must converge to the same targets (calling
    `nudge` before each look). Returns Prometheus's excluded targets by reason."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    _sdgen_once(config, kubeconfig, out)
    ours = _sdgen_targets(out)
    assert all(ours[job] for job in ROLES.values())

    def converged() -> bool:
        nudge()
        return _prometheus_targets(prom)[0] == ours

    try:  # Prometheus batches discovery updates: poll until it has seen everything
        wait_for(converged, timeout=30, interval=0.5)
    except AssertionError:
        theirs = _prometheus_targets(prom)[0]
        diffs = [d for job in ROLES.values() for d in _differences(ours[job], theirs[job])]
        raise AssertionError("meta labels differ:\n" + "\n".join(diffs)) from None
    excluded = _prometheus_targets(prom)[1]
    counts = ", ".join(f"{job}={sum(ours[job].values())}" for job in ROLES.values())
    print(
        f"oracle: {sum(sum(c.values()) for c in ours.values())} targets compared ({counts}); "
        f"excluded by name: {dict(excluded)}"
    )
    return excluded


LATE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "late-0", "namespace": "other", "labels": {"app": "late"}},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "late:1",
                "ports": [{"containerPort": 9100, "protocol": "TCP"}],
            }
        ]
    },
    "status": {"phase": "Running", "podIP": "10.2.0.50", "podIPs": [{"ip": "10.2.0.50"}]},
}


def _change(api: FakeAPI) -> None:
    """Live changes both sides must follow: a pod's and a Service's labels, a deleted pod a
    slice still points at, a new pod, an endpoint turning not ready."""
    labels = {"metadata": {"labels": {"tier-level": None, "new.example.com/k": "v"}}}
    api.patch("pods", "corners", "db-0", labels)
    api.patch("services", "corners", "db", {"metadata": {"labels": {"release": "2"}}})
    api.delete("pods", "corners", "agent-x7k2p")
    api.create(LATE_POD)
    eps = api.get("endpointslices", "corners", "db-fghij")
    assert eps is not None
    eps["endpoints"][0]["conditions"] = {"ready": False, "serving": True}
    api.update(eps)


def _touch_services(api: FakeAPI) -> Callable[[], None]:
    """Prometheus 3.5's role endpointslice rebuilds a slice's targets when the slice or its
    Service changes, not when a pod it points at does: until then it keeps the pod's old
    labels (sdgen reads the current ones). Flipping a Service field that yields no label
    makes it rebuild, so the comparison tests sdgen, not that staleness."""
    flip = [False]

    def touch() -> None:
        flip[0] = not flip[0]
        for name in ("db", "jobs"):
            api.patch("services", "corners", name, {"spec": {"publishNotReadyAddresses": flip[0]}})

    return touch


def test_meta_labels_match_prometheus_kubernetes_sd(
    tmp_path: Path, prometheus: Callable[..., PromHandle]
) -> None:
    objects = [obj for path in SEEDS for obj in load_seed(path)]
    api = FakeAPI(objects)
    api.start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        api.write_kubeconfig(kubeconfig)
        config = tmp_path / "scrape_config.yaml"
        config.write_text(_sdgen_config(_port_numbers(objects)))
        prom = prometheus(_prometheus_config(api.url))
        excluded = _agree(prom, kubeconfig, config, tmp_path / "out", lambda: None)
        # Every named exclusion is exercised by the seeded cluster, so none is dead weight.
        reasons = {f"{r}: {name}" for r, rules in EXCLUDED.items() for name, _ in rules}
        assert set(excluded) == reasons
        _change(api)
        _agree(prom, kubeconfig, config, tmp_path / "out", _touch_services(api))
    finally:
        api.stop()
