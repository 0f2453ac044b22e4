"""The ops endpoints of a real `sdgen run` against the emulator: /readyz, /healthz, /status and
/metrics through a scripted lifecycle, plus the server's own routing and --listen parsing.

Each scenario starts the emulator in-process and `sdgen run` as a subprocess with
`--listen 127.0.0.1:<free port>`, then reads the endpoints over HTTP as a kubelet probe or a
Prometheus scrape would.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sdgen.runtime.board import Board, StatusPage
from sdgen.runtime.opsserver import OpsServer, ops_routes, parse_listen, served_routes
from tests.fakeapi import FakeAPI
from tests.support.helpers import ReloadEndpoint, free_port, pod_manifest
from tests.support.sidecar import Ops, configmap, get, total, value

WEB = """\
- targetName: web
  type: PodMonitor
  namespaceSelector: {matchNames: [demo]}
  selector: {matchLabels: {app: web}}
  endpoints: [{port: 8080}]
"""
FIXED = """\
- targetName: fixed
  type: StaticEndpoints
  endpoints: [{addresses: ['192.0.2.1:9100', '192.0.2.2:9100']}]
"""
CONFIG = "targets:\n" + WEB + FIXED
BROKEN = """\
- targetName: broken
  type: StaticEndpoints
  endpoints:
  - address: '192.0.2.3:9100'
    metricRelabelConfigs: [{sourceLabels: [__name__], regex: '(', action: drop}]
"""
INFORMERS = ("configmaps/monitoring", "pods/demo")
ORIGIN = "configmap monitoring/sdgen-config key scrape_config.yaml"


# --- HTTP and metrics helpers -----------------------------------------------------------------


@pytest.fixture
def reload_endpoint() -> Iterator[ReloadEndpoint]:
    endpoint = ReloadEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def ops(tmp_path: Path, kubeconfig: Path) -> Iterator[Any]:
    started: list[Ops] = []

    def start(*args: str) -> Ops:
        process = Ops(tmp_path / f"run-{len(started)}", kubeconfig, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        assert process.terminate() == 0, process.log


def web_pod(api: FakeAPI, name: str, ip: str) -> None:
    api.create(pod_manifest(name, "demo", {"app": "web"}, ip=ip, ports=(8080,)))


def demo_cluster(api: FakeAPI) -> FakeAPI:
    for ns in ("monitoring", "demo"):
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    web_pod(api, "web-1", "10.0.0.1")
    web_pod(api, "web-2", "10.0.0.2")
    return api


# --- lifecycle: readiness and liveness ----------------------------------------------------------


def test_readyz_waits_for_config_and_sync_and_healthz_follows_watch_progress(
    fakeapi: FakeAPI, ops: Any
) -> None:
    api = demo_cluster(fakeapi)
    run = ops("--health-window", "2s")

    # No ConfigMap yet: alive, not ready, and /status says why.
    run.until(lambda: run.get("/readyz")[0] == 503, what="/readyz answering 503")
    run.until(lambda: "not found" in run.get("/readyz")[1], what="readyz naming the ConfigMap")
    assert run.get("/healthz")[0] == 200
    assert "not found" in run.status()["waiting_for"]

    # The config needs pods, which this user may not read yet: still not ready.
    api.allow_only([("configmaps", "monitoring")])
    api.create(configmap(CONFIG))
    run.until(lambda: "not synced" in run.get("/readyz")[1], what="readyz: informers not synced")
    assert run.get("/readyz")[0] == 503
    assert value(run.port, "sdgen_informer_synced", informer="pods/demo") == 0

    # Reads allowed: the pods informer syncs, the first render is written, ready.
    api.allow_only(None)
    run.until(lambda: run.get("/readyz") == (200, "ok: rendered\n"), 40, "/readyz 200")
    assert (run.out / "targets").is_dir()
    assert run.get("/healthz") == (200, "ok: ok\n")

    # Watches silent beyond the window (no events, no bookmarks): not live.
    api.stall_watches(True)
    run.until(lambda: run.get("/healthz")[0] == 503, what="/healthz 503 while stalled")
    assert "no watch progress" in run.get("/healthz")[1]
    assert run.get("/readyz")[0] == 200  # the last good files are still being served

    # Progress again: live again.
    api.stall_watches(False)
    run.until(lambda: run.get("/healthz")[0] == 200, 30, "/healthz 200 after the stall")


def test_the_config_watch_alone_counts_for_liveness(fakeapi: FakeAPI, ops: Any) -> None:
    """With only static targets the ConfigMap informer is the only watch; a stall of it fails
    liveness too."""
    fakeapi.create(configmap("targets:\n" + FIXED))
    run = ops("--health-window", "2s")
    run.until(lambda: run.get("/readyz")[0] == 200, what="/readyz 200")
    fakeapi.stall_watches(True)
    run.until(lambda: run.get("/healthz")[0] == 503, what="/healthz 503")
    assert "configmaps/monitoring" in run.get("/healthz")[1]
    fakeapi.stall_watches(False)
    run.until(lambda: run.get("/healthz")[0] == 200, 30, "/healthz 200 again")


# --- a scripted scenario: /status and every metric ------------------------------------------------


def test_status_and_metrics_follow_a_scripted_scenario(
    fakeapi: FakeAPI, ops: Any, reload_endpoint: ReloadEndpoint
) -> None:
    api = demo_cluster(fakeapi)
    api.create(configmap(CONFIG + BROKEN))
    run = ops("--reload-url", reload_endpoint.url)
    port = run.port
    run.until(lambda: run.get("/readyz")[0] == 200, what="first render")

    # /status: where the config came from, its version, and each target.
    status = run.status()
    assert status["config"]["origin"] == ORIGIN
    expected_version = hashlib.sha256((CONFIG + BROKEN).encode()).hexdigest()[:16]
    assert status["config"]["version"] == expected_version
    assert status["config"]["valid"] is False
    assert any("targets[2].endpoints[0]" in i for i in status["config"]["issues"])
    web, fixed, broken = (status["targets"][n] for n in ("web", "fixed", "broken"))
    assert (web["endpoints"], web["targets"], web["last_error"]) == (1, 2, "")
    assert (fixed["endpoints"], fixed["targets"], fixed["last_error"]) == (1, 2, "")
    assert [f.split("/")[0] for f in web["files"]] == ["relabel", "scrape", "targets"]
    assert all((run.out / f).is_file() for f in web["files"] + fixed["files"])
    assert "regex" in broken["last_error"] and broken["files"] == []

    # /metrics after the first render: one invalid target → config_valid 0, good ones rendered.
    assert value(port, "sdgen_config_valid") == 0
    assert (value(port, "sdgen_config_last_reload_success_timestamp_seconds") or 0) > 0
    assert value(port, "sdgen_targets", target="web") == 2
    assert value(port, "sdgen_targets", target="fixed") == 2
    assert value(port, "sdgen_targets", target="broken") == 0
    written = sum(1 for p in run.out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert written == 6
    assert value(port, "sdgen_file_writes_total") == written
    assert value(port, "sdgen_file_writes_skipped_total") == 0
    assert (value(port, "sdgen_render_duration_seconds_count") or 0) >= 1
    assert value(port, "sdgen_build_info", version="0.1.0") == 1
    for informer, objects in zip(INFORMERS, (1, 2), strict=True):
        assert value(port, "sdgen_informer_synced", informer=informer) == 1
        assert value(port, "sdgen_informer_objects", informer=informer) == objects
        assert (
            value(port, "sdgen_informer_last_event_timestamp_seconds", informer=informer) or 0
        ) > 0

    # New scrape fragments → one reload POSTed and counted as a success.
    run.until(lambda: value(port, "sdgen_reload_requests_total", result="success") == 1)
    assert reload_endpoint.posts == ["/-/reload"]

    # A new pod: only web's target file changes; the other five are compared and skipped.
    web_pod(api, "web-3", "10.0.0.3")
    run.until(lambda: value(port, "sdgen_targets", target="web") == 3, what="web: 3 targets")
    assert value(port, "sdgen_informer_objects", informer="pods/demo") == 3
    assert value(port, "sdgen_file_writes_total") == written + 1
    assert value(port, "sdgen_file_writes_skipped_total") == written - 1

    # The broken target fixed: the config is valid and the broken target leaves /metrics.
    api.apply(configmap(CONFIG))
    run.until(lambda: value(port, "sdgen_config_valid") == 1, what="config_valid 1")
    run.until(lambda: value(port, "sdgen_targets", target="broken") is None)
    assert run.status()["config"]["valid"] is True

    # A lost connection restarts every watch without a relist.
    restarts = {i: total(port, "sdgen_watch_restarts_total", informer=i) for i in INFORMERS}
    api.drop_watches()
    for informer in INFORMERS:
        run.until(
            lambda i=informer: total(port, "sdgen_watch_restarts_total", informer=i) > restarts[i],
            what=f"{informer}: watch restart counted",
        )
    assert total(port, "sdgen_relists_total") == 0

    # History compacted while the watch was silent: the informer relists (410 Expired) and
    # the deleted pod leaves the targets.
    api.stall_watches(True)
    api.delete("pods", "demo", "web-1")
    api.compact()
    api.drop_watches()
    api.stall_watches(False)
    run.until(
        lambda: value(port, "sdgen_relists_total", informer="pods/demo", reason="expired") == 1,
        what="relist counted",
    )
    run.until(lambda: value(port, "sdgen_targets", target="web") == 2, what="web back to 2")


def test_failed_reloads_are_counted_and_retried(fakeapi: FakeAPI, ops: Any) -> None:
    fakeapi.create(configmap("targets:\n" + FIXED))
    run = ops("--reload-url", f"http://127.0.0.1:{free_port()}/-/reload")  # nothing listens
    run.until(lambda: run.get("/readyz")[0] == 200, what="first render")
    run.until(
        lambda: (value(run.port, "sdgen_reload_requests_total", result="failure") or 0) >= 2,
        what="two failed reload attempts counted",
    )
    assert value(run.port, "sdgen_reload_requests_total", result="success") == 0  # from the start
    assert "reload POST to" in run.log


# --- the server on its own ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        (":8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8080", "host:", "host:http", ""])
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen)


def test_routes_answer_with_probe_codes_json_and_404() -> None:
    health = {"ok": True}
    routes = ops_routes(
        CollectorRegistry(),
        healthy=lambda: (health["ok"], "fine" if health["ok"] else "stuck"),
        ready=lambda: (False, "waiting"),
        status=StatusPage(Board(), lambda: {"pods/*": {"synced": True}}),
    )
    server = OpsServer("127.0.0.1:0", routes)
    server.start()
    try:
        assert get(server.port, "/healthz") == (200, "ok: fine\n")
        health["ok"] = False
        assert get(server.port, "/healthz") == (503, "unhealthy: stuck\n")
        assert get(server.port, "/readyz?verbose") == (503, "unhealthy: waiting\n")
        code, body = get(server.port, "/status")
        assert (code, json.loads(body)["watches"]) == (200, {"pods/*": {"synced": True}})
        assert get(server.port, "/")[0] == 200  # the page, from the same document
        assert get(server.port, "/nope")[0] == 404
        assert get(server.port, "/metrics")[0] == 200
    finally:
        server.stop()


def test_served_documents_answer_with_their_bytes_and_type_and_404() -> None:
    """`sdgen serve`'s routes: exactly the bytes the lookup gives, 404 for anything else."""
    documents = {
        "/sd/0": b"[]\n",
        "/sd/0/job.p0": b"[\n{}\n]\n",
        "/scrape/0": b"scrape_configs: []\n",
    }
    routes = ops_routes(
        CollectorRegistry(),
        healthy=lambda: (True, ""),
        ready=lambda: (True, ""),
        status=StatusPage(Board(), dict),
    )
    server = OpsServer("127.0.0.1:0", routes, prefixes=served_routes(documents.get))
    server.start()
    try:
        for path, body in documents.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}") as response:
                assert response.read() == body
                kind = "application/json" if path.startswith("/sd/") else "application/yaml"
                assert response.headers["Content-Type"] == kind
        assert get(server.port, "/sd/9")[0] == 404
        assert get(server.port, "/status")[0] == 200  # the ops routes stay
    finally:
        server.stop()
