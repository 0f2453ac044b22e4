"""The kube adapter over real HTTP against the emulator: config loading, raw list and watch,
and every failure mapped to the reflector's exceptions."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sdgen.cache import apiclient
from sdgen.cache.reflector import (
    ApiError,
    Expired,
    ReadTimeout,
    ServerSharding,
    ShardingIgnored,
    TransportError,
)
from sdgen.k8s.records import ObjectList, Pod, Resource
from sdgen.k8s.shardrange import HashRange
from tests.fakeapi import FakeAPI
from tests.support.helpers import wait_for


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


@pytest.fixture
def api(fakeapi: FakeAPI) -> FakeAPI:
    return fakeapi


@pytest.fixture
def client(kubeconfig: Path) -> Any:
    return apiclient.load_api_client(str(kubeconfig))


def decode_pods(body: bytes) -> ObjectList[Pod]:
    return msgspec.json.decode(body, type=ObjectList[Pod])


# --- configuration ------------------------------------------------------------------------


def test_an_explicit_kubeconfig_wins(api: FakeAPI, tmp_path: Path) -> None:
    path = tmp_path / "explicit"
    api.write_kubeconfig(path)
    assert apiclient.load_api_client(str(path)).configuration.host == api.url


def test_kubeconfig_env_is_used_outside_a_cluster(
    api: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env"
    api.write_kubeconfig(path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert apiclient.load_api_client().configuration.host == api.url


def test_no_cluster_config_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(apiclient.NoClusterConfig, match="not in a cluster"):
        apiclient.load_api_client()


def test_in_cluster_config_comes_first_and_refreshes_its_token(
    api: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import incluster_config

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("secret-1")
    ca.write_text("not really a certificate")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    kubeconfig = tmp_path / "kubeconfig"
    api.write_kubeconfig(kubeconfig)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    configuration = apiclient.load_api_client().configuration
    assert configuration.host == "https://10.0.0.1:443"
    assert configuration.auth_settings()["BearerToken"]["value"] == "bearer secret-1"
    assert configuration.refresh_api_key_hook is not None


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        ("pods", "default", "/api/v1/namespaces/default/pods"),
        ("pods", None, "/api/v1/pods"),
        ("endpointslices", "a", "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"),
        ("namespaces", "ignored", "/api/v1/namespaces"),
        ("configmaps", "kube-system", "/api/v1/namespaces/kube-system/configmaps"),
    ],
)
def test_resource_paths(resource: str, namespace: str | None, path: str) -> None:
    assert apiclient.api_resource(resource).path(namespace) == path
    assert apiclient.RESOURCES[Resource(resource)].path(namespace) == path


def test_every_resource_has_its_place_in_the_api() -> None:
    assert set(apiclient.RESOURCES) == set(Resource)
    assert all(spec.resource is r for r, spec in apiclient.RESOURCES.items())


def test_an_unknown_resource_is_rejected() -> None:
    known = "['configmaps', 'endpointslices', 'namespaces', 'pods', 'secrets', 'services']"
    with pytest.raises(ValueError) as caught:
        apiclient.KubeListerWatcher(None, "deployments")
    assert str(caught.value) == f"unknown resource 'deployments'; known: {known}"


@pytest.mark.parametrize("resource", [Resource.ENDPOINTSLICES, "endpointslices"])
def test_informers_are_named_resource_slash_namespace(resource: Resource | str) -> None:
    assert apiclient.new_informer(None, resource, "demo").name == "endpointslices/demo"
    assert apiclient.new_informer(None, resource).name == "endpointslices/*"


# --- list and watch -----------------------------------------------------------------------


def test_list_returns_the_raw_page_and_scopes_by_namespace(api: FakeAPI, client: Any) -> None:
    api.create(pod("a", app="web"))
    api.create(pod("b", namespace="other"))
    body = apiclient.KubeListerWatcher(client, "pods", "default").list(
        {"labelSelector": "app=web"}, 5
    )
    page = decode_pods(body)
    assert [p.metadata.name for p in page.items] == ["a"]
    assert page.metadata.resource_version == str(api.resource_version)
    everywhere = decode_pods(apiclient.KubeListerWatcher(client, "pods").list({}, 5))
    assert sorted(p.metadata.name for p in everywhere.items) == ["a", "b"]
    assert ("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") in api.requests


def test_watch_streams_lines_as_they_happen(api: FakeAPI, client: Any) -> None:
    lw = apiclient.KubeListerWatcher(client, "pods", "default")
    query = {"resourceVersion": str(api.resource_version), "timeoutSeconds": "30"}
    stream = lw.watch(query, 5)
    api.create(pod("live"))
    line = next(iter(stream))
    stream.close()
    assert msgspec.json.decode(line)["type"] == "ADDED"
    assert b'"live"' in line


def test_close_from_another_thread_ends_a_blocked_watch(api: FakeAPI, client: Any) -> None:
    lw = apiclient.KubeListerWatcher(client, "pods", "default")
    stream = lw.watch({"resourceVersion": str(api.resource_version)}, 300)
    ended = threading.Event()

    def read() -> None:
        try:
            for _ in stream:
                pass
        except TransportError:
            pass
        ended.set()

    api.stall_watches(True)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stream.close()
    assert ended.wait(2.0)


def test_a_watch_cut_mid_event_is_a_transport_error(api: FakeAPI, client: Any) -> None:
    stream = apiclient.KubeListerWatcher(client, "pods", "default").watch(
        {"resourceVersion": str(api.resource_version)}, 5
    )
    api.cut_watches_mid_event()
    api.create(pod("cut"))
    with pytest.raises(TransportError):
        for _ in stream:
            pass


def test_an_in_stream_expiry_arrives_as_an_error_line(api: FakeAPI, client: Any) -> None:
    api.create(pod("a"))
    old = str(api.resource_version)
    api.create(pod("b"))
    api.compact()
    stream = apiclient.KubeListerWatcher(client, "pods", "default").watch(
        {"resourceVersion": old}, 5
    )
    event = msgspec.json.decode(next(iter(stream)))
    stream.close()
    assert (event["type"], event["object"]["code"]) == ("ERROR", 410)


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "kind"),
    [(500, None, ApiError), (503, 2, ApiError), (429, 3, ApiError), (410, None, Expired)],
)
def test_injected_failures_become_typed_errors(
    api: FakeAPI, client: Any, status: int, retry_after: int | None, kind: type[ApiError]
) -> None:
    api.fail_next(1, status=status, retry_after=retry_after)
    lw = apiclient.KubeListerWatcher(client, "pods", "default")
    with pytest.raises(kind) as caught:
        lw.list({}, 5)
    assert caught.value.status == status
    assert caught.value.retry_after == (None if retry_after is None else float(retry_after))
    lw.list({}, 5)  # the connection is usable again


def test_an_expired_continue_token_is_expired(api: FakeAPI, client: Any) -> None:
    for name in "abc":
        api.create(pod(name))
    lw = apiclient.KubeListerWatcher(client, "pods", "default")
    token = decode_pods(lw.list({"limit": "1"}, 5)).metadata.continue_
    assert token
    api.create(pod("d"))
    api.compact()
    with pytest.raises(Expired):
        lw.list({"limit": "1", "continue": token}, 5)


def test_a_bad_selector_is_an_api_error_with_the_servers_message(client: Any) -> None:
    with pytest.raises(ApiError) as caught:
        apiclient.KubeListerWatcher(client, "pods", "default").list({"labelSelector": "a in ("}, 5)
    assert caught.value.status == 400
    assert caught.value.message


def test_forbidden_is_an_api_error(api: FakeAPI, client: Any) -> None:
    api.allow_only([("pods", "other")])
    with pytest.raises(ApiError) as caught:
        apiclient.KubeListerWatcher(client, "pods", "default").list({}, 5)
    assert caught.value.status == 403


def test_a_slow_server_is_a_read_timeout(api: FakeAPI, client: Any) -> None:
    api.set_latency(2.0)
    with pytest.raises(ReadTimeout):
        apiclient.KubeListerWatcher(client, "pods", "default").list({}, 0.2)


def test_a_server_that_is_gone_is_a_transport_error(api: FakeAPI, client: Any) -> None:
    api.stop()
    with pytest.raises(TransportError):
        apiclient.KubeListerWatcher(client, "pods", "default", connect_timeout=1).list({}, 1)


# --- the informers it makes -----------------------------------------------------------------


def test_its_informers_share_equal_parts_of_their_records(api: FakeAPI, client: Any) -> None:
    api.create(pod("a", app="web"))
    api.create(pod("b", app="web"))
    informer = apiclient.new_informer(client, "pods", "default")
    informer.start()
    try:
        assert informer.wait_synced(5)
        a, b = (informer.store.get(f"default/{name}") for name in "ab")
        assert a is not None and b is not None
        assert a.metadata.labels == {"app": "web"}
        assert a.metadata.labels is b.metadata.labels  # the interner is its transform
        assert informer.name == "pods/default"
    finally:
        assert informer.stop()


# --- server-side sharding (KEP-5866) --------------------------------------------------------

SHARD_NAMESPACES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
LOW_HALF = HashRange.of_shard(2, 0)


def _seed_namespaces(api: FakeAPI) -> set[str]:
    """A pod in each namespace; the namespaces the low half of the hash space holds."""
    for ns in SHARD_NAMESPACES:
        api.create(pod("p", namespace=ns))
    mine = {ns for ns in SHARD_NAMESPACES if LOW_HALF.holds(ns)}
    assert mine and mine != set(SHARD_NAMESPACES)  # both halves have some
    return mine


def _namespaces(informer: Any) -> set[str]:
    return {p.metadata.namespace for p in informer.store.snapshot()}


@pytest.mark.parametrize("gate", [True, False], ids=["gate on", "gate off"])
def test_a_sharded_informer_holds_only_its_namespaces(
    api: FakeAPI, client: Any, gate: bool
) -> None:
    api.sharded_list_watch = gate
    mine = _seed_namespaces(api)
    informer = apiclient.new_informer(client, "pods", sharding=ServerSharding(LOW_HALF))
    informer.start()
    try:
        assert informer.wait_synced(5)
        assert _namespaces(informer) == mine
        assert informer.server_sharded() is gate
        listed = [path for method, path in api.requests if method == "GET" and "watch" not in path]
        assert any("shardSelector=shardRange" in path for path in listed)
        # watch events of other namespaces never enter, whether or not the server filtered
        other = next(ns for ns in SHARD_NAMESPACES if ns not in mine)
        api.create(pod("later", namespace=other))
        api.create(pod("later", namespace=min(mine)))
        wait_for(lambda: informer.store.get(f"{min(mine)}/later"))
        assert informer.store.get(f"{other}/later") is None
        api.delete("pods", other, "later")
        assert _namespaces(informer) == mine
    finally:
        assert informer.stop()


def test_a_watch_that_reconnects_to_a_server_without_the_gate_still_filters(
    api: FakeAPI, client: Any
) -> None:
    api.sharded_list_watch = True
    mine = _seed_namespaces(api)
    informer = apiclient.new_informer(client, "pods", sharding=ServerSharding(LOW_HALF))
    informer.start()
    try:
        assert informer.wait_synced(5)
        api.sharded_list_watch = False  # the next API server instance has no gate
        api.drop_watches()
        others = [ns for ns in SHARD_NAMESPACES if ns not in mine]
        for ns in [*others, min(mine)]:
            api.create(pod("after", namespace=ns))
        wait_for(lambda: informer.store.get(f"{min(mine)}/after"))
        assert _namespaces(informer) == mine
        assert all(informer.store.get(f"{ns}/after") is None for ns in others)
    finally:
        assert informer.stop()


def test_required_sharding_refuses_a_list_the_server_did_not_shard(
    api: FakeAPI, client: Any
) -> None:
    _seed_namespaces(api)  # the gate is off
    sharding = ServerSharding(LOW_HALF, required=True)
    informer = apiclient.new_informer(client, "pods", sharding=sharding)
    informer.start()
    try:
        error = wait_for(lambda: informer.last_error)
        assert isinstance(error, ShardingIgnored)
        assert "ShardedListAndWatch" in str(error) and "--server-side-sharding auto" in str(error)
        assert not informer.has_synced() and len(informer.store) == 0
        assert informer.server_sharded() is False
    finally:
        assert informer.stop()
