"""End to end with a real Prometheus: does it scrape what the ConfigMap says, with the labels
the user expects?

All on loopback: small exporters (tests/support/exporters.py) listen on 127.0.0.x addresses, the
emulator holds pods and EndpointSlices with those IPs, `sdgen run` watches it and POSTs
`--reload-url`, and Prometheus (`--web.enable-lifecycle`, 1s scrapes) reads
`scrape_config_files: [<out>/scrape/*.yml]`. Prometheus starts with no fragments at all, so
every job it scrapes arrived through sdgen's reload. Everything is asserted through
Prometheus's HTTP API; edits go through `kubectl apply --server-side` and the emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.exporters import Exporter
from tests.support.helpers import REPO, free_port, wait_for
from tests.support.prom import PromHandle
from tests.support.sidecar import SidecarProcess, configmap

pytestmark = pytest.mark.prometheus

TLS = REPO / "tests" / "data" / "e2e" / "tls"
# name → loopback IP; the TLS certificate names 127.0.0.4 and 127.0.0.14 (see its SAN).
HOSTS = {
    "web-0": "127.0.0.2",
    "web-1": "127.0.0.3",
    "api-0": "127.0.0.4",
    "static": "127.0.0.5",
    "web-2": "127.0.0.6",
    "static2": "127.0.0.7",
}
METRIC_RELABELINGS: list[dict[str, Any]] = [
    {"sourceLabels": ["__name__"], "regex": "demo_.*", "action": "keep"},
    {
        "sourceLabels": ["code"],
        "regex": "(\\d)..",
        "targetLabel": "code_class",
        "replacement": "${1}xx",
    },
    {"action": "labeldrop", "regex": "secret"},
]


def pod(name: str, ip: str, port: int, app: str, port_name: str = "metrics") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {
                    "name": "app",
                    "image": "example/app:1",
                    "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def api_service(port: int) -> list[dict[str, Any]]:
    """Service `api` and its slice: one ready endpoint, the TLS exporter's pod."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
    }
    endpoint = {
        "addresses": [HOSTS["api-0"]],
        "conditions": {"ready": True},
        "targetRef": {"kind": "Pod", "name": "api-0", "namespace": "shop"},
    }
    eps = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "api-x1",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "api"},
        },
        "addressType": "IPv4",
        "endpoints": [endpoint],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    return [service, eps]


def web_target(
    keep: str, relabelings: list[dict[str, Any]], extra_rules: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    """PodMonitor `web` (pods app=web in shop): METRIC_RELABELINGS keeping `keep`, then
    `extra_rules`."""
    rules = [{**METRIC_RELABELINGS[0], "regex": keep}, *METRIC_RELABELINGS[1:], *extra_rules]
    return {
        "targetName": "web",
        "type": "PodMonitor",
        "namespaceSelector": {"matchNames": ["shop"]},
        "selector": {"matchLabels": {"app": "web"}},
        "endpoints": [{"port": "metrics", "relabelings": relabelings, "metricRelabelings": rules}],
    }


def scrape_config(exporters: dict[str, Exporter], statics: list[str], keep: str) -> str:
    targets: list[dict[str, Any]] = [
        web_target(keep, [{"targetLabel": "team", "replacement": "storefront"}]),
        {
            "targetName": "api",
            "type": "ServiceMonitor",
            "namespaceSelector": {"matchNames": ["shop"]},
            "selector": {"matchLabels": {"app": "api"}},
            "endpoints": [
                {"port": "https", "scheme": "https", "tlsConfig": {"caFile": str(TLS / "tls.crt")}}
            ],
        },
    ]
    targets += [
        {
            "targetName": name,
            "type": "StaticEndpoints",
            "endpoints": [{"address": exporters[name].address}],
        }
        for name in statics
    ]
    return yaml.safe_dump({"scrapingInterval": "1s", "targets": targets})


@dataclass
class Stack:
    api: FakeAPI
    exporters: dict[str, Exporter]
    sdgen: SidecarProcess
    prom: PromHandle
    kubeconfig: Path
    tmp: Path

    def active(self) -> dict[str, dict[str, Any]]:
        """Active targets by instance."""
        return {t["labels"]["instance"]: t for t in self.prom.targets()["activeTargets"]}

    def up(self, job: str) -> list[str]:
        """Instances of `job` that Prometheus scraped successfully, sorted."""
        return sorted(
            i for i, t in self.active().items() if t["labels"]["job"] == job and t["health"] == "up"
        )

    def until(self, predicate: Callable[[], Any], what: str) -> Any:
        try:
            return wait_for(predicate, timeout=30, interval=0.2, message=what)
        except AssertionError as err:
            raise AssertionError(
                f"{err}\n--- sdgen log ---\n{self.sdgen.log}\n--- prometheus log (tail) ---\n"
                + "\n".join(self.prom.log().splitlines()[-30:])
            ) from None

    def address(self, name: str) -> str:
        return self.exporters[name].address


@pytest.fixture
def stack(
    fakeapi: FakeAPI,
    kubeconfig: Path,
    tmp_path: Path,
    prometheus: Callable[..., PromHandle],
) -> Iterator[Stack]:
    exporters: dict[str, Exporter] = {}
    sdgen: SidecarProcess | None = None
    try:
        for name, host in HOSTS.items():
            tls = (TLS / "tls.crt", TLS / "tls.key") if name == "api-0" else None
            exporters[name] = Exporter(host, tls=tls)
        fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        for name in ("web-0", "web-1"):
            fakeapi.create(pod(name, HOSTS[name], exporters[name].port, "web"))
        api_port = exporters["api-0"].port
        fakeapi.create(pod("api-0", HOSTS["api-0"], api_port, "api", port_name="https"))
        for obj in api_service(api_port):
            fakeapi.create(obj)
        fakeapi.create(configmap(scrape_config(exporters, ["static"], "demo_.*")))
        out = tmp_path / "sdgen" / "out"
        prom = prometheus(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            f"scrape_config_files: ['{out}/scrape/*.yml']\n"
        )
        sdgen = SidecarProcess(
            tmp_path / "sdgen",
            [
                *("--kubeconfig", str(kubeconfig), "--configmap", "monitoring/sdgen-config"),
                *("--reload-url", f"{prom.url}/-/reload"),
            ],
        )
        yield Stack(fakeapi, exporters, sdgen, prom, kubeconfig, tmp_path)
    finally:
        if sdgen is not None:
            sdgen.terminate()
        for exporter in exporters.values():
            exporter.stop()


def kubectl_apply(stack: Stack, kubectl: Path, manifest: dict[str, Any]) -> None:
    path = stack.tmp / "configmap.yaml"
    path.write_text(yaml.safe_dump(manifest))
    args = ["--kubeconfig", str(stack.kubeconfig), "apply", "--server-side", "--validate=false"]
    subprocess.run(
        [str(kubectl), *args, "-f", str(path)], check=True, capture_output=True, timeout=60
    )


def metrics_text(prom: PromHandle) -> str:
    with urllib.request.urlopen(f"{prom.url}/metrics", timeout=10) as response:
        return str(response.read().decode())


def series(stack: Stack, expr: str) -> list[dict[str, str]]:
    return sorted((r["metric"] for r in stack.prom.query(expr)), key=lambda m: sorted(m.items()))


def test_targets_are_up_with_exact_labels(stack: Stack, binaries: Any) -> None:
    web = [stack.address("web-0"), stack.address("web-1")]
    stack.until(lambda: stack.up("web") == sorted(web), "web targets up")
    stack.until(lambda: stack.up("api") == [stack.address("api-0")], "TLS target up (caFile)")
    stack.until(lambda: stack.up("static") == [stack.address("static")], "static target up")

    labels = {i: t["labels"] for i, t in stack.active().items()}
    common_web = {"job": "web", "namespace": "shop", "container": "app", "endpoint": "metrics"}
    assert labels == {
        **{
            address: {**common_web, "instance": address, "pod": name, "team": "storefront"}
            for name, address in zip(("web-0", "web-1"), web, strict=True)
        },
        stack.address("api-0"): {
            "job": "api",
            "instance": stack.address("api-0"),
            "namespace": "shop",
            "service": "api",
            "pod": "api-0",
            "container": "app",
            "endpoint": "https",
        },
        stack.address("static"): {"job": "static", "instance": stack.address("static")},
    }
    stack.until(lambda: len(stack.prom.query("up == 1")) == 4, "up == 1 for all four")
    assert stack.active()[stack.address("api-0")]["scrapeUrl"].startswith("https://")

    # promtool accepts Prometheus's config with the fragments sdgen generated.
    checked = subprocess.run(
        [str(binaries.promtool), "check", "config", str(stack.prom.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") >= 1


def test_metric_relabelings_keep_replace_and_labeldrop(stack: Stack) -> None:
    web0 = stack.address("web-0")
    stack.until(lambda: series(stack, f'demo_requests_total{{instance="{web0}"}}'), "web scraped")
    stack.until(lambda: series(stack, "other_noise{job='static'}"), "static scraped")

    # keep: only demo_* series from the web job (the static job, without rules, has the rest)
    names = {m["__name__"] for m in series(stack, '{job="web", __name__=~"demo_.*|other_.*"}')}
    assert names == {"demo_requests_total", "demo_temperature_celsius"}
    # replace: code_class from code; labeldrop: no `secret`
    requests = series(stack, f'demo_requests_total{{instance="{web0}"}}')
    assert [(m["code"], m.get("code_class"), m.get("secret")) for m in requests] == [
        ("200", "2xx", None),
        ("503", "5xx", None),
    ]
    static = series(stack, 'demo_requests_total{job="static"}')
    assert {m.get("secret") for m in static} == {"s3cr3t"} and "code_class" not in static[0]


def test_configmap_edits_change_scraping_without_restarts(stack: Stack, binaries: Any) -> None:
    stack.until(lambda: stack.up("static") == [stack.address("static")], "static target up")
    stack.until(lambda: stack.up("web"), "web targets up")
    assert series(stack, 'other_noise{job="web"}') == []
    pids = (stack.prom.proc.pid, stack.sdgen.proc.pid)

    # A new target, a changed metric relabel regex and a removed target in one apply.
    edited = scrape_config(stack.exporters, ["static2"], "(demo|other)_.*")
    kubectl_apply(stack, binaries.kubectl, configmap(edited))

    stack.until(lambda: stack.up("static2") == [stack.address("static2")], "new target up")
    stack.until(
        lambda: not any(t["labels"]["job"] == "static" for t in stack.active().values()),
        "removed target gone",
    )
    stack.until(lambda: series(stack, 'other_noise{job="web"}'), "new keep regex applied")
    assert (stack.prom.proc.pid, stack.sdgen.proc.pid) == pids
    assert stack.prom.proc.poll() is None and stack.sdgen.proc.poll() is None
    # /api/v1/status/config shows only the main file; the reloads are in Prometheus's metrics.
    assert "prometheus_config_last_reload_successful 1" in metrics_text(stack.prom)


def test_scaling_pods_changes_active_targets(stack: Stack) -> None:
    web = {name: stack.address(name) for name in ("web-0", "web-1", "web-2")}
    stack.until(lambda: stack.up("web") == sorted([web["web-0"], web["web-1"]]), "two web pods")

    stack.api.create(pod("web-2", HOSTS["web-2"], stack.exporters["web-2"].port, "web"))
    stack.until(lambda: stack.up("web") == sorted(web.values()), "scaled up to three")
    stack.api.delete("pods", "shop", "web-0")
    stack.api.delete("pods", "shop", "web-1")
    stack.until(
        lambda: (
            [i for i, t in stack.active().items() if t["labels"]["job"] == "web"] == [web["web-2"]]
        ),
        "scaled down to one",
    )
    assert stack.up("web") == [web["web-2"]]


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_make_demo_scrapes_the_examples_and_stops_everything_on_ctrl_c(
    tmp_path: Path, binaries: Any
) -> None:
    ports = {name: free_port() for name in ("API", "SDGEN", "PROMETHEUS")}
    env = {f"DEMO_{name}_PORT": str(port) for name, port in ports.items()}
    env |= {"DEMO_STATE": str(tmp_path / "demo"), "PROMETHEUS": str(binaries.prometheus)}
    # Its exporters listen on fixed ports: a network of their own avoids a running demo.
    env["DEMO_NET"] = f"127.{ports['API'] >> 8}.{ports['API'] & 255}"
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "tools" / "demo")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, **env},
    )
    started: list[int] = []
    try:
        url = f"http://127.0.0.1:{ports['PROMETHEUS']}"
        output = tmp_path / "demo.log"
        wait_for(lambda: "Ctrl-C" in output.read_text(), timeout=60, message="demo banner")
        assert f"{url}/targets" in output.read_text()
        started = children(demo.pid)
        assert len(started) == 5  # two exporter processes, emulator, Prometheus, sdgen

        def up(job: str) -> int:
            with urllib.request.urlopen(f"{url}/api/v1/query?query=up", timeout=5) as response:
                results = json.load(response)["data"]["result"]
            return sum(r["value"][1] == "1" for r in results if r["metric"]["job"] == job)

        # demo-app scrapes every 15s and the TLS kube-apiserver endpoints every 30s
        wait_for(lambda: up("demo-app") == 2 and up("kube-apiserver") == 2, timeout=60)
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0, (tmp_path / "demo.log").read_text()
        log.close()
    assert [pid for pid in started if Path(f"/proc/{pid}").exists()] == []
