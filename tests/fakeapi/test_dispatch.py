"""Discovery documents and request routing of the emulator, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.client import request
from tests.support.helpers import pod_manifest


def get(api: FakeAPI, path: str) -> Any:
    resp = request(api.url, "GET", path)
    assert resp.status == 200, resp.body
    return resp.body


def test_version_names_a_1_32_server(fakeapi: FakeAPI) -> None:
    version = get(fakeapi, "/version")
    assert (version["major"], version["minor"]) == ("1", "32")
    assert version["gitVersion"].startswith("v1.32.")


def test_core_and_group_discovery(fakeapi: FakeAPI) -> None:
    assert get(fakeapi, "/api")["versions"] == ["v1"]
    groups = get(fakeapi, "/apis")
    assert groups["kind"] == "APIGroupList"
    assert [g["name"] for g in groups["groups"]] == ["discovery.k8s.io", "events.k8s.io"]
    group = get(fakeapi, "/apis/discovery.k8s.io")
    assert group["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1"


@pytest.mark.parametrize(
    ("path", "name", "kind", "namespaced", "short"),
    [
        ("/api/v1", "pods", "Pod", True, ["po"]),
        ("/api/v1", "services", "Service", True, ["svc"]),
        ("/api/v1", "configmaps", "ConfigMap", True, ["cm"]),
        ("/api/v1", "namespaces", "Namespace", False, ["ns"]),
        ("/api/v1", "nodes", "Node", False, ["no"]),
        ("/apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True, None),
        ("/api/v1", "events", "Event", True, ["ev"]),
        ("/apis/events.k8s.io/v1", "events", "Event", True, ["ev"]),
    ],
)
def test_api_resource_lists(
    fakeapi: FakeAPI, path: str, name: str, kind: str, namespaced: bool, short: list[str] | None
) -> None:
    doc = get(fakeapi, path)
    assert doc["kind"] == "APIResourceList"
    assert doc["groupVersion"] == path.removeprefix("/api/").removeprefix("/apis/")
    entry = next(r for r in doc["resources"] if r["name"] == name)
    assert (entry["kind"], entry["namespaced"], entry.get("shortNames")) == (
        kind,
        namespaced,
        short,
    )
    assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= set(entry["verbs"])


def test_status_subresources_are_listed(fakeapi: FakeAPI) -> None:
    names = {r["name"] for r in get(fakeapi, "/api/v1")["resources"]}
    assert {"pods/status", "services/status", "nodes/status", "namespaces/status"} <= names
    assert "configmaps/status" not in names


@pytest.mark.parametrize(
    "path",
    [
        "/openapi/v2",
        "/openapi/v3",
        "/apis/apps/v1",
        "/apis/nope",
        "/api/v2",
        "/api/v1/widgets",
        "/api/v1/namespaces/demo/widgets",
        "/api/v1/namespaces/demo/pods/p/logs",
        "/api/v1/namespaces/demo/configmaps/c/status",
        "/api/v1/namespaces/demo/nodes",
        "/nothing/here",
    ],
)
def test_unknown_paths_are_404_status(fakeapi: FakeAPI, path: str) -> None:
    resp = request(fakeapi.url, "GET", path)
    assert resp.status == 404
    assert resp.body["kind"] == "Status"
    assert resp.body["reason"] == "NotFound"


def test_namespaced_and_all_namespaces_paths(fakeapi: FakeAPI) -> None:
    for ns, name in [("a", "p1"), ("b", "p2"), ("a-b", "p3")]:
        fakeapi.create(pod_manifest(name, ns))

    def names(path: str) -> list[str]:
        return [i["metadata"]["name"] for i in get(fakeapi, path)["items"]]

    assert names("/api/v1/namespaces/a/pods") == ["p1"]
    assert names("/api/v1/pods") == ["p1", "p3", "p2"]  # etcd key order: namespace, name
    assert get(fakeapi, "/api/v1/namespaces/b/pods/p2")["metadata"]["namespace"] == "b"
    assert request(fakeapi.url, "GET", "/api/v1/pods/p2").status == 404


def test_legacy_watch_prefix_is_a_watch(fakeapi: FakeAPI) -> None:
    fakeapi.create(pod_manifest("p", "a"))
    resp = request(fakeapi.url, "GET", "/api/v1/watch/namespaces/a/pods?timeoutSeconds=1")
    assert resp.status == 200
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.body["type"] == "ADDED"  # the one event, then the stream timed out


def test_creating_through_the_all_namespaces_path_is_not_allowed(fakeapi: FakeAPI) -> None:
    resp = request(fakeapi.url, "POST", "/api/v1/pods", pod_manifest("p"))
    assert resp.status == 405
    assert resp.body["reason"] == "MethodNotAllowed"


def test_health_endpoints(fakeapi: FakeAPI) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        resp = request(fakeapi.url, "GET", path)
        assert (resp.status, resp.body) == (200, b"ok")
