"""Events over one store, seen as core/v1 and events.k8s.io/v1, and read by the real kubectl
(`kubectl describe configmap`, `kubectl events --for`) as it reads a real API server's."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Binaries
from tests.fakeapi import FakeAPI
from tests.fakeapi.client import request
from tests.fakeapi.events import to_core, to_view

V1 = "/apis/events.k8s.io/v1/namespaces/monitoring/events"
CORE = "/api/v1/namespaces/monitoring/events"


def configmap(api: FakeAPI, name: str = "sdgen-config") -> dict[str, Any]:
    return api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "monitoring"},
            "data": {"k": "v"},
        }
    )


def event(
    cm: dict[str, Any], name: str, reason: str = "ConfigInvalid", **extra: Any
) -> dict[str, Any]:
    meta = cm["metadata"]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "monitoring"},
        "eventTime": "2026-12-06T05:00:00.000000Z",
        "reportingController": "sdgen",
        "reportingInstance": "prometheus-0",
        "action": "Reconcile",
        "reason": reason,
        "type": "Warning",
        "note": f"{reason} happened",
        "regarding": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "namespace": "monitoring",
            "name": meta["name"],
            "uid": meta["uid"],
        },
        **extra,
    }


ROUND_TRIPS = [
    ({"note": "n", "regarding": {"name": "x"}}, {"message": "n", "involvedObject": {"name": "x"}}),
    ({"reportingController": "sdgen"}, {"reportingComponent": "sdgen"}),
    (
        {"series": {"count": 3, "lastObservedTime": "2026-12-06T05:00:09.500000Z"}},
        {
            "series": {"count": 3, "lastObservedTime": "2026-12-06T05:00:09.500000Z"},
            "count": 3,
            "lastTimestamp": "2026-12-06T05:00:09Z",
        },
    ),
    (
        {"deprecatedCount": 2, "deprecatedSource": {"component": "c"}},
        {"count": 2, "source": {"component": "c"}},
    ),
]


@pytest.mark.parametrize(("view", "core"), ROUND_TRIPS)
def test_conversion(view: dict[str, Any], core: dict[str, Any]) -> None:
    assert to_core(view) == {"apiVersion": "v1", "kind": "Event", **core}
    back = to_view(to_core(view))
    assert {k: v for k, v in back.items() if k in view} == view


def test_one_store_two_views_with_create_patch_list_and_field_selectors(fakeapi: FakeAPI) -> None:
    cm = configmap(fakeapi)
    other = configmap(fakeapi, "other")
    created = request(fakeapi.url, "POST", V1, event(cm, "e1"))
    assert created.status == 201, created.body
    assert created.body["regarding"]["uid"] == cm["metadata"]["uid"]
    assert request(fakeapi.url, "POST", V1, event(other, "e2")).status == 201
    core = request(fakeapi.url, "GET", f"{CORE}/e1").body
    assert core["involvedObject"]["name"] == "sdgen-config"
    assert core["message"] == "ConfigInvalid happened"
    assert core["reportingComponent"] == "sdgen"

    series = {"series": {"count": 2, "lastObservedTime": "2026-12-06T05:00:10.000000Z"}}
    patched = request(fakeapi.url, "PATCH", f"{V1}/e1", series, "application/merge-patch+json")
    assert patched.status == 200, patched.body
    assert patched.body["series"]["count"] == 2
    assert request(fakeapi.url, "GET", f"{CORE}/e1").body["count"] == 2

    uid = cm["metadata"]["uid"]
    selector = "involvedObject.kind=ConfigMap,involvedObject.name=sdgen-config"
    selector += f",involvedObject.uid={uid}"
    listed = request(fakeapi.url, "GET", f"{CORE}?fieldSelector={selector}").body
    assert [e["metadata"]["name"] for e in listed["items"]] == ["e1"]
    listed = request(fakeapi.url, "GET", f"{V1}?fieldSelector=regarding.name=other").body
    assert [e["metadata"]["name"] for e in listed["items"]] == ["e2"]
    assert listed["items"][0]["note"] == "ConfigInvalid happened"
    bad = request(fakeapi.url, "GET", f"{CORE}?fieldSelector=spec.x=1")
    assert bad.status == 400


def test_events_k8s_io_validation_keeps_clients_within_the_limits(fakeapi: FakeAPI) -> None:
    cm = configmap(fakeapi)
    too_long = request(fakeapi.url, "POST", V1, event(cm, "e1", note="x" * 1025))
    assert (too_long.status, too_long.reason) == (422, "Invalid")
    assert "note" in too_long.body["message"]
    no_action = event(cm, "e2")
    del no_action["action"]
    assert request(fakeapi.url, "POST", V1, no_action).status == 422
    bad_series = event(cm, "e3", series={"count": 1, "lastObservedTime": "2026-12-06T05:00:00Z"})
    assert request(fakeapi.url, "POST", V1, bad_series).status == 422


def kubectl(binaries: Binaries, kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        [str(binaries.kubectl), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_describe_and_events_show_events_written_as_events_k8s_io(
    fakeapi: FakeAPI, kubeconfig: Path, binaries: Binaries
) -> None:
    cm = configmap(fakeapi)
    configmap(fakeapi, "other")
    assert request(fakeapi.url, "POST", V1, event(cm, "e1", "ConfigInvalid")).status == 201
    series = {"series": {"count": 4, "lastObservedTime": "2026-12-06T05:00:10.000000Z"}}
    request(fakeapi.url, "PATCH", f"{V1}/e1", series, "application/merge-patch+json")
    applied = event(cm, "e2", "ConfigApplied", type="Normal", note="version abc: 3 targets")
    assert request(fakeapi.url, "POST", V1, applied).status == 201
    described = kubectl(
        binaries, kubeconfig, "-n", "monitoring", "describe", "configmap", "sdgen-config"
    )
    events = described.split("Events:", 1)[1]
    assert "Warning  ConfigInvalid" in events and "(x4 over" in events, described
    assert "Normal   ConfigApplied" in events and "version abc: 3 targets" in events
    assert "sdgen" in events
    listed = kubectl(
        binaries, kubeconfig, "-n", "monitoring", "events", "--for", "configmap/sdgen-config"
    )
    assert "ConfigInvalid" in listed and "ConfigApplied" in listed, listed
    assert "ConfigMap/sdgen-config" in listed
    other = kubectl(binaries, kubeconfig, "-n", "monitoring", "events", "--for", "configmap/other")
    assert "Config" not in other, other
