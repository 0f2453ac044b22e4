"""Writes through the emulator's HTTP API and its Python API: what every write guarantees."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fakeapi import ApiError, FakeAPI
from tests.fakeapi.client import Response, request
from tests.support.helpers import pod_manifest

PODS = "/api/v1/namespaces/demo/pods"
CMS = "/api/v1/namespaces/demo/configmaps"


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    metadata = {"name": name, **meta}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {}}


def call(
    api: FakeAPI, method: str, path: str, body: Any = None, ctype: str = "application/json"
) -> Response:
    return request(api.url, method, path, body, ctype)


def test_create_fills_in_identity_and_a_global_resource_version(fakeapi: FakeAPI) -> None:
    first = call(fakeapi, "POST", CMS, configmap("a"))
    second = call(fakeapi, "POST", "/api/v1/namespaces/other/pods", pod_manifest("p", "other"))
    assert (first.status, second.status) == (201, 201)
    meta = first.body["metadata"]
    assert meta["namespace"] == "demo"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert isinstance(meta["resourceVersion"], str)
    assert int(second.body["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert int(second.body["metadata"]["resourceVersion"]) == fakeapi.resource_version
    assert (first.body["apiVersion"], first.body["kind"]) == ("v1", "ConfigMap")


def test_create_twice_is_409_already_exists(fakeapi: FakeAPI) -> None:
    call(fakeapi, "POST", CMS, configmap("a"))
    again = call(fakeapi, "POST", CMS, configmap("a"))
    assert again.status == 409
    assert again.body["reason"] == "AlreadyExists"
    assert again.body["details"] == {"name": "a", "kind": "configmaps"}
    assert again.body["message"] == 'configmaps "a" already exists'


def test_generate_name(fakeapi: FakeAPI) -> None:
    created = call(fakeapi, "POST", CMS, configmap("", generateName="gen-"))
    assert created.status == 201
    assert re.fullmatch(r"gen-[a-z0-9]{5}", created.body["metadata"]["name"])


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (CMS, configmap(""), 422),
        (CMS, configmap("Not_Valid"), 422),
        (CMS, configmap("a", namespace="elsewhere"), 400),
        (CMS, {**configmap("a"), "kind": "Secret"}, 400),
        (CMS, {**configmap("a"), "apiVersion": "v2"}, 400),
        (CMS, b"{not json", 400),
        (CMS + "?dryRun=All", configmap("a"), 400),
    ],
)
def test_bad_creates(fakeapi: FakeAPI, path: str, body: Any, code: int) -> None:
    resp = call(fakeapi, "POST", path, body)
    assert resp.status == code
    assert resp.body["kind"] == "Status"
    assert resp.body["code"] == code


def test_cluster_scoped_objects_have_no_namespace(fakeapi: FakeAPI) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "x"}}
    created = call(fakeapi, "POST", "/api/v1/nodes", node)
    assert created.status == 201
    assert "namespace" not in created.body["metadata"]
    assert call(fakeapi, "GET", "/api/v1/nodes/n1").body["metadata"]["name"] == "n1"


def test_namespaces_get_their_name_label_and_phase(fakeapi: FakeAPI) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    created = call(fakeapi, "POST", "/api/v1/namespaces", ns).body
    assert created["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    assert created["status"] == {"phase": "Active"}


def test_put_replaces_and_stale_resource_version_is_409_conflict(fakeapi: FakeAPI) -> None:
    created = call(fakeapi, "POST", CMS, configmap("a", {"k": "1"})).body
    created["data"] = {"k": "2"}
    updated = call(fakeapi, "PUT", f"{CMS}/a", created)
    assert updated.status == 200
    assert updated.body["data"] == {"k": "2"}
    assert updated.body["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(updated.body["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    stale = call(fakeapi, "PUT", f"{CMS}/a", created)  # still carries the old resourceVersion
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"
    del created["metadata"]["resourceVersion"]  # unconditional update
    assert call(fakeapi, "PUT", f"{CMS}/a", created).status == 200


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (f"{CMS}/missing", configmap("missing"), 404),
        (f"{CMS}/a", configmap("b"), 400),
    ],
)
def test_bad_puts(fakeapi: FakeAPI, path: str, body: Any, code: int) -> None:
    fakeapi.create(configmap("a", namespace="demo"))
    assert call(fakeapi, "PUT", path, body).status == code


def test_a_write_that_changes_nothing_keeps_the_resource_version(fakeapi: FakeAPI) -> None:
    created = call(fakeapi, "POST", CMS, configmap("a", {"k": "1"})).body
    same = call(fakeapi, "PUT", f"{CMS}/a", created).body
    patched = call(
        fakeapi, "PATCH", f"{CMS}/a", {"data": {"k": "1"}}, "application/merge-patch+json"
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert patched.body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert fakeapi.resource_version == int(created["metadata"]["resourceVersion"])


def test_status_is_a_subresource_for_pods(fakeapi: FakeAPI) -> None:
    running = pod_manifest("p", "demo", ip="10.0.0.1")
    created = call(fakeapi, "POST", PODS, running).body
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}  # create resets it
    created["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
    created["metadata"]["labels"] = {"x": "y"}
    main = call(fakeapi, "PUT", f"{PODS}/p", created).body
    assert main["status"]["phase"] == "Pending"
    assert main["metadata"]["labels"] == {"x": "y"}
    status = call(fakeapi, "PUT", f"{PODS}/p/status", {**created, "metadata": main["metadata"]})
    assert status.body["status"] == {"phase": "Running", "podIP": "10.0.0.1"}
    patch = {"status": {"podIP": "10.0.0.2"}}
    patched = call(fakeapi, "PATCH", f"{PODS}/p/status", patch, "application/merge-patch+json")
    assert patched.body["status"]["podIP"] == "10.0.0.2"
    assert call(fakeapi, "GET", f"{PODS}/p/status").body["status"]["podIP"] == "10.0.0.2"


@pytest.mark.parametrize(
    ("ctype", "patch", "expected_labels"),
    [
        (
            "application/merge-patch+json",
            {"metadata": {"labels": {"a": None, "c": "3"}}},
            {"b": "2", "c": "3"},
        ),
        (
            "application/strategic-merge-patch+json",
            {"metadata": {"labels": {"c": "3"}}},
            {"a": "1", "b": "2", "c": "3"},
        ),
        (
            "application/json-patch+json",
            [
                {"op": "test", "path": "/metadata/labels/a", "value": "1"},
                {"op": "remove", "path": "/metadata/labels/a"},
            ],
            {"b": "2"},
        ),
    ],
)
def test_patch_types(
    fakeapi: FakeAPI, ctype: str, patch: Any, expected_labels: dict[str, str]
) -> None:
    fakeapi.create(pod_manifest("p", "demo", {"a": "1", "b": "2"}))
    resp = call(fakeapi, "PATCH", f"{PODS}/p", patch, ctype)
    assert resp.status == 200, resp.body
    assert resp.body["metadata"]["labels"] == expected_labels


def test_strategic_patch_merges_containers_by_name(fakeapi: FakeAPI) -> None:
    pod = pod_manifest("p", "demo")
    pod["spec"]["containers"].append({"name": "side", "image": "side:1"})
    fakeapi.create(pod)
    patch = {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}
    resp = call(fakeapi, "PATCH", f"{PODS}/p", patch, "application/strategic-merge-patch+json")
    assert [c["image"] for c in resp.body["spec"]["containers"]] == ["example/app:1", "side:2"]


@pytest.mark.parametrize(
    ("path", "ctype", "patch", "code"),
    [
        (f"{PODS}/p", "application/xml", {}, 415),
        (f"{PODS}/missing", "application/merge-patch+json", {}, 404),
        (
            f"{PODS}/p",
            "application/json-patch+json",
            [{"op": "test", "path": "/kind", "value": "X"}],
            422,
        ),
        (f"{PODS}/p", "application/merge-patch+json", {"metadata": {"resourceVersion": "1"}}, 409),
        (
            f"{PODS}/p",
            "application/apply-patch+yaml",
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\n",
            422,
        ),
    ],
)
def test_bad_patches(fakeapi: FakeAPI, path: str, ctype: str, patch: Any, code: int) -> None:
    fakeapi.create(pod_manifest("p", "demo"))
    resp = call(fakeapi, "PATCH", path, patch, ctype)
    assert resp.status == code
    assert resp.body["kind"] == "Status"


def test_server_side_apply_creates_updates_and_prunes(fakeapi: FakeAPI) -> None:
    path = f"{CMS}/a?fieldManager=me"
    applied = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v, old: o}\n"
    created = call(fakeapi, "PATCH", path, applied, "application/apply-patch+yaml")
    assert created.status == 201
    assert created.body["data"] == {"k": "v", "old": "o"}
    fakeapi.patch("configmaps", "demo", "a", {"data": {"theirs": "t"}})  # another writer's field
    reapplied = applied.replace(", old: o", "").replace("k: v", "k: w")
    updated = call(fakeapi, "PATCH", path, reapplied, "application/apply-patch+yaml")
    assert updated.status == 200
    assert updated.body["data"] == {"k": "w", "theirs": "t"}
    managers = [(m["manager"], m["operation"]) for m in updated.body["metadata"]["managedFields"]]
    assert managers == [("me", "Apply")]


def test_api_writes_record_managed_fields_by_manager(fakeapi: FakeAPI) -> None:
    created = call(fakeapi, "POST", CMS + "?fieldManager=creator", configmap("a")).body
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["creator"]
    assert created["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"] == {"f:name": {}}
    ctype, agent = "application/merge-patch+json", {"User-Agent": "curl/8.0"}
    patched = request(fakeapi.url, "PATCH", f"{CMS}/a", {"data": {"k": "v"}}, ctype, agent)
    managers = [m["manager"] for m in patched.body["metadata"]["managedFields"]]
    assert managers == ["creator", "curl"]  # without fieldManager: the user agent's name


def test_delete_returns_the_pod_or_a_status(fakeapi: FakeAPI) -> None:
    fakeapi.create(pod_manifest("p", "demo"))
    cm = fakeapi.create(configmap("a", namespace="demo"))
    deleted_pod = call(fakeapi, "DELETE", f"{PODS}/p")
    assert (deleted_pod.status, deleted_pod.body["kind"]) == (200, "Pod")
    # the deleted state is stamped with the deletion's resourceVersion
    assert deleted_pod.body["metadata"]["resourceVersion"] == str(fakeapi.resource_version)
    deleted_cm = call(fakeapi, "DELETE", f"{CMS}/a")
    assert deleted_cm.body["status"] == "Success"
    assert deleted_cm.body["details"] == {
        "name": "a",
        "kind": "configmaps",
        "uid": cm["metadata"]["uid"],
    }
    assert call(fakeapi, "GET", f"{CMS}/a").status == 404
    assert call(fakeapi, "DELETE", f"{CMS}/a").status == 404


def test_delete_preconditions(fakeapi: FakeAPI) -> None:
    fakeapi.create(configmap("a", namespace="demo"))
    options = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"resourceVersion": "1"},
    }
    assert call(fakeapi, "DELETE", f"{CMS}/a", options).status == 409
    assert fakeapi.get("configmaps", "demo", "a") is not None


def test_delete_collection_with_a_selector(fakeapi: FakeAPI) -> None:
    for name, tier in [("a", "web"), ("b", "db"), ("c", "web")]:
        fakeapi.create(configmap(name, namespace="demo", labels={"tier": tier}))
    resp = call(fakeapi, "DELETE", f"{CMS}?labelSelector=tier%3Dweb")
    assert [i["metadata"]["name"] for i in resp.body["items"]] == ["a", "c"]
    assert [c["metadata"]["name"] for c in fakeapi.list("configmaps")] == ["b"]


# --- the Python API ---------------------------------------------------------------------------


def test_python_api_round_trip() -> None:
    api = FakeAPI()  # not started: the Python API works on the state alone
    created = api.create(pod_manifest("p", "demo", ip="10.0.0.1"))
    assert created["status"]["podIP"] == "10.0.0.1"  # Python writes keep status
    created["status"]["podIP"] = "10.0.0.2"
    assert api.update(created)["status"]["podIP"] == "10.0.0.2"
    assert api.apply(pod_manifest("p", "demo", {"v": "2"}))["metadata"]["labels"] == {"v": "2"}
    assert api.patch("po", "demo", "p", {"metadata": {"labels": {"w": "3"}}})["metadata"][
        "labels"
    ] == {"v": "2", "w": "3"}
    assert [p["metadata"]["name"] for p in api.list("pods", "demo")] == ["p"]
    assert api.list("pods", "other") == []
    api.delete("pods", "demo", "p")
    assert api.get("pods", "demo", "p") is None


def test_python_api_errors_are_status_errors() -> None:
    api = FakeAPI()
    first = api.create(configmap("a"))
    assert first["metadata"]["namespace"] == "default"
    with pytest.raises(ApiError) as exists:
        api.create(configmap("a"))
    assert exists.value.code == 409
    with pytest.raises(ApiError) as stale:
        api.update({**first, "metadata": {**first["metadata"], "resourceVersion": "0"}})
    assert stale.value.status["reason"] == "Conflict"
    with pytest.raises(ApiError) as missing:
        api.delete("configmaps", "default", "nope")
    assert missing.value.code == 404
    with pytest.raises(KeyError):
        api.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})


def test_port_protocols_default_to_tcp_as_the_api_server_does(fakeapi: FakeAPI) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "initContainers": [{"name": "i", "ports": [{"containerPort": 1}]}],
            "containers": [{"name": "c", "ports": [{"containerPort": 2, "protocol": "UDP"}]}],
        },
    }
    created = fakeapi.create(pod)
    assert created["spec"]["initContainers"][0]["ports"][0]["protocol"] == "TCP"
    assert created["spec"]["containers"][0]["ports"][0]["protocol"] == "UDP"
    service = fakeapi.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    assert service["spec"]["ports"][0]["protocol"] == "TCP"
    eps = fakeapi.create(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "e", "namespace": "default"},
            "addressType": "IPv4",
            "endpoints": [],
            "ports": [{"port": 80}],
        }
    )
    assert eps["ports"][0]["protocol"] == "TCP"
