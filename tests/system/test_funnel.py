"""Funnel counts, initialised counters and lint warnings from a real `sdgen run` against the
emulator: what /metrics and /status say, and what the log says once."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdgen.resolve.funnel import Stage
from tests.support.sidecar import EXAMPLES, Ops, configmap, load_yaml, samples, value

NOTHING = """
  - targetName: nothing
    type: PodMonitor
    namespaceSelector: {matchNames: [demo]}
    selector: {matchLabels: {app: no-such-app}}
    endpoints: [{port: metrics}]
"""
LINT = "targets[3].selector: warning: matches no pod (running, with an IP)"
DEMO = {  # examples/cluster.yaml: two running demo pods, one with an istio sidecar rule drops
    "namespaces_selected": 1,
    "objects_selected": 2,
    "candidates": 3,
    "dropped_by_relabel": 1,
    "dropped_by_shard": 0,
    "written": 2,
}


@pytest.fixture
def ops(fakeapi: Any, kubeconfig: Path, tmp_path: Path) -> Iterator[Ops]:
    for obj in load_yaml(EXAMPLES / "cluster.yaml"):
        fakeapi.create(obj)
    fakeapi.create(configmap((EXAMPLES / "scrape_config.yaml").read_text() + NOTHING))
    run = Ops(tmp_path, kubeconfig)
    yield run
    run.terminate()


def funnel(run: Ops, target: str) -> dict[str, float | None]:
    found = samples(run.port)
    return {
        s.value: found.get(
            ("sdgen_target_funnel", frozenset({("target", target), ("stage", s.value)}))
        )
        for s in Stage
    }


def test_funnel_metrics_status_and_lint_of_a_running_sidecar(fakeapi: Any, ops: Ops) -> None:
    ops.until(lambda: funnel(ops, "demo-app") == DEMO, what="demo-app's funnel")
    assert value(ops.port, "sdgen_targets", target="demo-app") == DEMO["written"]
    assert funnel(ops, "nothing") == {stage.value: 0 for stage in Stage} | {
        "namespaces_selected": 1
    }
    static = funnel(ops, "legacy-db")
    assert (static["namespaces_selected"], static["candidates"], static["written"]) == (0, 2, 2)

    status = ops.status()
    demo = status["targets"]["demo-app"]["funnel"]
    assert {k: demo[k] for k in DEMO} == DEMO
    assert demo["dropped_by_rule"] == [
        {"list": "relabelings", "endpoint": 0, "index": 1, "count": 1}
    ]
    assert any(LINT in issue for issue in status["config"]["issues"]), status["config"]

    # Every informer's restart and relist counters exist at 0 before the first restart.
    found = samples(ops.port)
    informers = {
        dict(labels)["informer"] for name, labels in found if name == "sdgen_informer_synced"
    }
    assert informers
    for informer in informers:
        for reason in ("closed", "expired", "stalled", "error", "unexpected"):
            key = (
                "sdgen_watch_restarts_total",
                frozenset({("informer", informer), ("reason", reason)}),
            )
            assert found[key] == 0
        for reason in ("expired", "unexpected"):
            key = ("sdgen_relists_total", frozenset({("informer", informer), ("reason", reason)}))
            assert found[key] == 0

    # A third demo pod: the counts follow (the resolver counts incrementally); the lint
    # warning, unchanged, is not logged again.
    pod = next(
        p for p in load_yaml(EXAMPLES / "cluster.yaml") if p["metadata"]["name"].endswith("fghij")
    )
    third = copy.deepcopy(pod)
    third["metadata"]["name"] = "demo-app-7d9c6b5f4-third"
    third["status"]["podIP"] = "10.244.3.3"
    fakeapi.create(third)
    more = {**DEMO, "objects_selected": 3, "candidates": 4, "written": 3}
    ops.until(lambda: funnel(ops, "demo-app") == more, what="the third pod counted")
    assert ops.log.count("matches no pod (running, with an IP)") == 1, ops.log

    # A target removed from the config takes its series with it.
    fakeapi.update(configmap((EXAMPLES / "scrape_config.yaml").read_text()))
    ops.until(lambda: funnel(ops, "nothing")["written"] is None, what="nothing's series gone")
    assert not any(LINT in issue for issue in ops.status()["config"]["issues"])
