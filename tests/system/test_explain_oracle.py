"""Prometheus as the oracle for `sdgen explain`'s "dropped by": for every position 0..4 of a
five-rule list, a target Prometheus drops with those rules is one sdgen explains as dropped by
the rule at that position.

Prometheus does its own discovery (`kubernetes_sd_configs`, role pod, on the emulator): a
Prometheus following sdgen's output never sees what sdgen dropped. Prometheus 3.5 does not say
which rule dropped a target, so it runs the rule list's prefixes as six jobs: `upto-<k>` has
the first k rules. A target dropped by rule i is active in `upto-0`..`upto-<i>` and dropped in
`upto-<i+1>`..`upto-5`: Prometheus itself pins the rule, and sdgen must name the same one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO, pod_manifest, wait_for
from tests.support.prom import PromHandle

pytestmark = pytest.mark.prometheus

# Prometheus's spelling; each rule drops exactly one of the pods below.
RULES: list[dict[str, Any]] = [
    {"source_labels": ["__meta_kubernetes_namespace"], "regex": "oracle", "action": "keep"},
    {"source_labels": ["__meta_kubernetes_pod_label_tier"], "regex": "batch", "action": "drop"},
    {
        "source_labels": ["__meta_kubernetes_pod_label_a"],
        "target_label": "__meta_kubernetes_pod_label_b",
        "action": "keepequal",
    },
    {
        "source_labels": [
            "__meta_kubernetes_pod_container_port_number",
            "__meta_kubernetes_pod_label_app",
        ],
        "regex": "9100;legacy",
        "action": "drop",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_label_c"],
        "target_label": "__meta_kubernetes_pod_name",
        "action": "dropequal",
    },
]
# pod name → (namespace, labels); pod-<i> is dropped by rule i, `survivor` by none
PODS: dict[str, tuple[str, dict[str, str]]] = {
    "pod-0": ("elsewhere", {}),
    "pod-1": ("oracle", {"tier": "batch"}),
    "pod-2": ("oracle", {"a": "x", "b": "y"}),
    "pod-3": ("oracle", {"app": "legacy"}),
    "pod-4": ("oracle", {"c": "pod-4"}),
    "survivor": ("oracle", {"a": "x", "b": "x", "app": "new", "c": "x"}),
}


def _camel(rule: dict[str, Any]) -> dict[str, Any]:
    names = {"source_labels": "sourceLabels", "target_label": "targetLabel"}
    return {names.get(key, key): value for key, value in rule.items()}


def _sdgen_config() -> str:
    target = {
        "targetName": "oracle",
        "type": "PodMonitor",
        "namespaceSelector": {"any": True},
        "selector": {},
        "relabelConfigs": [_camel(rule) for rule in RULES],
        "endpoints": [{"port": "9100"}],
    }
    return yaml.safe_dump({"targets": [target]})


def _prometheus_config(api_server: str) -> str:
    jobs = [
        {
            "job_name": f"upto-{k}",
            "kubernetes_sd_configs": [{"role": "pod", "api_server": api_server}],
            "relabel_configs": RULES[:k],
        }
        for k in range(len(RULES) + 1)
    ]
    return yaml.safe_dump({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs})


def _dropped_in(prom: PromHandle) -> dict[str, set[int]] | None:
    """Per pod, the k of the jobs `upto-<k>` that dropped it; None until every job has
    discovered every pod."""
    data = prom.targets("any")
    dropped: dict[str, set[int]] = {name: set() for name in PODS}
    seen: dict[str, set[int]] = {name: set() for name in PODS}
    for state, targets in (("active", data["activeTargets"]), ("dropped", data["droppedTargets"])):
        for target in targets:
            labels = target["discoveredLabels"]
            pod, k = labels["__meta_kubernetes_pod_name"], int(labels["job"].split("-")[1])
            seen[pod].add(k)
            if state == "dropped":
                dropped[pod].add(k)
    everywhere = set(range(len(RULES) + 1))
    return dropped if all(s == everywhere for s in seen.values()) else None


def _explain(kubeconfig: Path, config: Path, pod: str, tmp: Path) -> dict[str, Any]:
    namespace = PODS[pod][0]
    sources = ["--config-file", str(config), "--kubeconfig", str(kubeconfig)]
    args = ["oracle", "--object", f"pod/{namespace}/{pod}", "--json", *sources]
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "explain", *args, "--output-dir", str(tmp)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_explain_names_the_rule_prometheus_drops_a_target_with(
    tmp_path: Path, prometheus: Callable[..., PromHandle]
) -> None:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in ("oracle", "elsewhere")
    ]
    for i, (name, (namespace, labels)) in enumerate(PODS.items()):
        objects.append(pod_manifest(name, namespace, labels, ip=f"10.9.0.{i + 1}", ports=(9100,)))
    api = FakeAPI(objects)
    api.start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        api.write_kubeconfig(kubeconfig)
        config = tmp_path / "scrape_config.yaml"
        config.write_text(_sdgen_config())
        prom = prometheus(_prometheus_config(api.url))
        found: list[dict[str, set[int]]] = []

        def discovered() -> bool:
            dropped = _dropped_in(prom)
            found[:] = [dropped] if dropped is not None else []
            return dropped is not None

        wait_for(discovered, timeout=30, interval=0.5, message="Prometheus discovered every pod")
        dropped = found[0]
        for pod in PODS:
            answer = _explain(kubeconfig, config, pod, tmp_path / "out")
            (candidate,) = answer["candidates"]
            if pod == "survivor":
                assert dropped[pod] == set()
                assert candidate["outcome"] == "written" and answer["written"] == 1
                continue
            position = int(pod.split("-")[1])
            # Prometheus: the first `position` rules keep it, the next one drops it
            assert dropped[pod] == set(range(position + 1, len(RULES) + 1)), (pod, dropped[pod])
            assert candidate["outcome"] == "dropped"
            assert candidate["dropped_by"] == {
                "list": "relabelConfigs",
                "index": position,
                "action": RULES[position]["action"],
            }
            assert candidate["trace"][-1]["index"] == position
    finally:
        api.stop()
