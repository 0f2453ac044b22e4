"""Acceptance: the official Python client and the real kubectl work against the emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from tests.conftest import Binaries
from tests.fakeapi import FakeAPI
from tests.support.helpers import pod_manifest

# --- the official Python client -------------------------------------------------------------

# The client's generated types are loose (everything Optional, untyped helpers): use it as Any.
client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch


@pytest.fixture
def core(fakeapi: FakeAPI, kubeconfig: Path) -> Iterator[Any]:
    api_client = config.new_client_from_config(str(kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def seed(api: FakeAPI, count: int) -> None:
    for i in range(count):
        api.create(pod_manifest(f"p{i}", "demo", {"app": "web"}, ip=f"10.0.0.{i + 1}"))


def test_python_client_lists(fakeapi: FakeAPI, core: Any) -> None:
    seed(fakeapi, 3)
    fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    pods = core.list_namespaced_pod("demo", label_selector="app=web")
    assert [p.metadata.name for p in pods.items] == ["p0", "p1", "p2"]
    assert pods.items[1].status.pod_ip == "10.0.0.2"
    assert pods.metadata.resource_version == str(fakeapi.resource_version)
    assert len(core.list_pod_for_all_namespaces().items) == 3
    assert [n.metadata.name for n in core.list_namespace().items] == ["demo"]
    slices = client.DiscoveryV1Api(core.api_client).list_namespaced_endpoint_slice("demo")
    assert slices.items == []


def test_python_client_paginates(fakeapi: FakeAPI, core: Any) -> None:
    seed(fakeapi, 5)
    first = core.list_namespaced_pod("demo", limit=2)
    assert first.metadata.remaining_item_count == 3
    names = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_pod("demo", limit=2, _continue=token)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert names == ["p0", "p1", "p2", "p3", "p4"]


def test_python_client_watches_from_a_resource_version(fakeapi: FakeAPI, core: Any) -> None:
    seed(fakeapi, 1)
    rv = core.list_namespaced_pod("demo").metadata.resource_version
    fakeapi.create(pod_manifest("later", "demo"))
    fakeapi.patch("pods", "demo", "p0", {"metadata": {"labels": {"v": "2"}}})
    fakeapi.delete("pods", "demo", "later")
    seen = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_pod, "demo", resource_version=rv, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "later"), ("MODIFIED", "p0"), ("DELETED", "later")]


def compacted_version(api: FakeAPI) -> str:
    """A resourceVersion that a compaction has just put out of reach."""
    seed(api, 1)
    old = api.resource_version
    api.create(pod_manifest("later", "demo"))
    api.compact()
    return str(old)


def test_python_client_sees_410_from_a_list(fakeapi: FakeAPI, core: Any) -> None:
    old = compacted_version(fakeapi)
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod("demo", resource_version=old, resource_version_match="Exact")
    assert raised.value.status == 410
    assert json.loads(raised.value.body or "{}")["reason"] == "Expired"


def test_python_client_sees_410_in_a_watch(fakeapi: FakeAPI, core: Any) -> None:
    old = compacted_version(fakeapi)
    stream = watch.Watch().stream(core.list_namespaced_pod, "demo", resource_version=old)
    with pytest.raises(ApiException) as raised:
        next(stream)
    assert raised.value.status == 410


def test_python_client_writes(fakeapi: FakeAPI, core: Any) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    created = core.create_namespaced_config_map("demo", body)
    patched = core.patch_namespaced_config_map("c", "demo", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_config_map("c", "demo")
    assert fakeapi.get("configmaps", "demo", "c") is None


# --- kubectl -------------------------------------------------------------------------------

Kubectl = Callable[..., str]

POD_YAML = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  containers:
  - name: app
    image: example/web:1
    ports: [{containerPort: 8080, name: http}]
"""


@pytest.fixture
def kubectl(binaries: Binaries, kubeconfig: Path, tmp_path: Path) -> Kubectl:
    base = [
        str(binaries.kubectl),
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={tmp_path / 'cache'}",
    ]

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*base, *args], input=stdin, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    return run


def pod(api: FakeAPI) -> dict[str, Any]:
    found = api.get("pods", "demo", "web")
    assert found is not None
    return found


def test_kubectl_create_get_and_delete(fakeapi: FakeAPI, kubectl: Kubectl) -> None:
    assert (
        kubectl("create", "--validate=false", "-f", "-", stdin=POD_YAML).strip()
        == "pod/web created"
    )
    table = kubectl("get", "pods", "-n", "demo")
    assert table.split("\n")[0].split() == ["NAME", "CREATED", "AT"]
    assert table.split("\n")[1].split()[0] == "web"
    as_json = json.loads(kubectl("get", "po", "web", "-n", "demo", "-o", "json"))
    assert as_json["metadata"]["uid"] == pod(fakeapi)["metadata"]["uid"]
    listed = json.loads(kubectl("get", "pods", "-A", "-o", "json"))
    assert [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert kubectl("delete", "pod", "web", "-n", "demo").strip() == 'pod "web" deleted'
    assert fakeapi.get("pods", "demo", "web") is None
    assert ("GET", "/api/v1?timeout=32s") in fakeapi.requests  # discovery, then the calls


def test_kubectl_replace(fakeapi: FakeAPI, kubectl: Kubectl) -> None:
    kubectl("create", "--validate=false", "-f", "-", stdin=POD_YAML)
    current = json.loads(kubectl("get", "pod", "web", "-n", "demo", "-o", "json"))
    current["metadata"]["labels"]["version"] = "2"
    assert (
        kubectl("replace", "--validate=false", "-f", "-", stdin=json.dumps(current)).strip()
        == "pod/web replaced"
    )
    assert pod(fakeapi)["metadata"]["labels"] == {"app": "web", "version": "2"}


@pytest.mark.parametrize(
    ("kind", "patch", "check"),
    [
        (
            "merge",
            '{"metadata":{"labels":{"app":null,"m":"1"}}}',
            lambda p: p["metadata"]["labels"] == {"m": "1"},
        ),
        (
            "strategic",
            '{"spec":{"containers":[{"name":"app","image":"example/web:2"}]}}',
            lambda p: (
                p["spec"]["containers"][0]["image"] == "example/web:2"
                and p["spec"]["containers"][0]["ports"]
                == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
            ),
        ),
        (
            "json",
            '[{"op":"test","path":"/metadata/labels/app","value":"web"},'
            '{"op":"replace","path":"/metadata/labels/app","value":"shop"}]',
            lambda p: p["metadata"]["labels"] == {"app": "shop"},
        ),
    ],
)
def test_kubectl_patch(
    fakeapi: FakeAPI, kubectl: Kubectl, kind: str, patch: str, check: Any
) -> None:
    kubectl("create", "--validate=false", "-f", "-", stdin=POD_YAML)
    assert (
        kubectl("patch", "pod", "web", "-n", "demo", "--type", kind, "-p", patch).strip()
        == "pod/web patched"
    )
    assert check(pod(fakeapi))


def test_kubectl_server_side_apply(fakeapi: FakeAPI, kubectl: Kubectl) -> None:
    out = kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=POD_YAML)
    assert out.strip() == "pod/web serverside-applied"
    changed = POD_YAML.replace("{app: web}", "{app: web, tier: front}")
    kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=changed)
    assert pod(fakeapi)["metadata"]["labels"] == {"app": "web", "tier": "front"}
    kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=POD_YAML)
    assert pod(fakeapi)["metadata"]["labels"] == {"app": "web"}  # the dropped label is pruned
    assert [m["manager"] for m in pod(fakeapi)["metadata"]["managedFields"]] == ["kubectl"]


def test_kubectl_client_side_apply(fakeapi: FakeAPI, kubectl: Kubectl) -> None:
    first = POD_YAML.replace("{app: web}", "{app: web, tier: front}")
    assert kubectl("apply", "--validate=false", "-f", "-", stdin=first).strip() == "pod/web created"
    fakeapi.patch("pods", "demo", "web", {"metadata": {"labels": {"theirs": "x"}}})
    second = POD_YAML.replace("example/web:1", "example/web:2")
    assert (
        kubectl("apply", "--validate=false", "-f", "-", stdin=second).strip()
        == "pod/web configured"
    )
    live = pod(fakeapi)
    assert live["metadata"]["labels"] == {"app": "web", "theirs": "x"}  # tier was ours: removed
    assert live["spec"]["containers"][0]["image"] == "example/web:2"
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    patches = [p for m, p in fakeapi.requests if m == "PATCH"]
    assert patches == [
        "/api/v1/namespaces/demo/pods/web?fieldManager=kubectl-client-side-apply&fieldValidation=Ignore"
    ]
    assert ("GET", "/openapi/v3?timeout=32s") in fakeapi.requests  # 404, then built-in schemas


def test_kubectl_get_watch(
    fakeapi: FakeAPI, kubectl: Kubectl, binaries: Binaries, kubeconfig: Path, tmp_path: Path
) -> None:
    fakeapi.create(pod_manifest("before", "demo"))
    command = [str(binaries.kubectl), f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'c'}"]
    watching = [*command, "get", "pods", "-n", "demo", "-w", "-o", "name"]
    with subprocess.Popen(watching, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "pod/before"
            fakeapi.create(pod_manifest("after", "demo"))
            assert proc.stdout.readline().strip() == "pod/after"
        finally:
            proc.kill()
    watches = [p for m, p in fakeapi.requests if "watch=true" in p]
    assert watches == [
        f"/api/v1/namespaces/demo/pods?resourceVersion={fakeapi.resource_version - 1}&watch=true"
    ]
