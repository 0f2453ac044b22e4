"""Agents as consumers, for real: vmagent and Prometheus in agent mode (and, to compare, a full
Prometheus) follow sdgen's output, scrape the test exporters and remote-write into a real
VictoriaMetrics single-node, and the series found there carry the labels the ConfigMap asks
for. Prometheus hands new targets to scraping at most every 5 s, so its runs take ~11 s each,
vmagent's ~4 s.

One stack per consumer (tests/support/agents.py): the API emulator holds the ConfigMap, a Pod
and a Secret; `sdgen run` writes the fragments in the consumer's dialect (`--fragment-format`)
and POSTs the consumer's `/-/reload`; the consumer starts with no fragments at all, so every
job it scrapes arrived through sdgen. Each endpoint exercises one per-endpoint setting against
an exporter that can tell whether it was applied (TLS verification, an exact Authorization
header, the query string, a sample limit), and `SETTINGS` is the measured table the README's
consumer section repeats. vmagent's fragments hold `%{...}` in user text, which must reach it
unchanged (its own environment expansion would replace it, or refuse the whole file).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.agents import Agent, Store, start_prometheus_writer, start_store, start_vmagent
from tests.support.exporters import Exporter
from tests.support.helpers import binary, wait_for
from tests.support.sidecar import SidecarProcess, configmap
from tests.system.test_e2e import TLS, pod, web_target
from tests.system.test_secrets import secret

pytestmark = pytest.mark.prometheus

# name → loopback IP; the TLS certificate names 127.0.0.14 (see its SAN).
HOSTS = {
    "web-0": "127.0.0.2",
    "api": "127.0.0.14",
    "basic": "127.0.0.15",
    "bearer": "127.0.0.16",
    "probe": "127.0.0.17",
    "limited": "127.0.0.18",
    "late": "127.0.0.19",
}
BASIC = ("scraper", "pa%{ss}")  # the password comes from a Secret, materialised by sdgen
TOKEN = "t0ken"
# vmagent would expand both (HOME is set: silently; the other is not: the file is refused).
UNEXPANDED = "%{HOME}/%{SDGEN_SURELY_UNSET}"

# What each consumer was measured to honour (README, "Consumers"); every row is asserted below.
SETTINGS = ("file_sd", "tls", "basic_auth", "authorization", "params", "metric_relabels", "limits")
CONSUMERS = {
    "vmagent": set(SETTINGS),
    "prometheus-agent": set(SETTINGS),
    "prometheus": set(SETTINGS),
}


def scrape_config(exporters: dict[str, Exporter], tokens: Path, *, edited: bool = False) -> str:
    def static(name: str, **endpoint: Any) -> dict[str, Any]:
        address = exporters[name].address
        return {
            "targetName": name,
            "type": "StaticEndpoints",
            "endpoints": [{"address": address, **endpoint}],
        }

    keep = "(demo|other)_.*" if edited else "demo_.*"
    tmpl = {"targetLabel": "tmpl", "replacement": UNEXPANDED, "action": "replace"}
    targets = [
        web_target(keep, [{"targetLabel": "note", "replacement": UNEXPANDED}], (tmpl,)),
        static("api", scheme="https", tlsConfig={"caFile": str(TLS / "tls.crt")}),
        static(
            "basic",
            basicAuth={"username": BASIC[0], "password": {"name": "scrape-auth", "key": "pass"}},
        ),
        static("bearer", authorization={"credentialsFile": str(tokens)}),
        static("probe", params={"module": ["http_2xx"], "target": ["a%{b}"]}),
        static("limited", sampleLimit=2),
    ]
    if edited:
        targets.append(static("late"))
    return yaml.safe_dump({"scrapingInterval": "1s", "targets": targets})


@dataclass
class Stack:
    consumer: str
    api: FakeAPI
    exporters: dict[str, Exporter]
    sdgen: SidecarProcess
    agent: Agent
    store: Store
    kubeconfig: Path
    tmp: Path

    def until(self, predicate: Callable[[], Any], what: str) -> Any:
        try:
            return wait_for(predicate, timeout=30, interval=0.2, message=what)
        except AssertionError as err:
            raise AssertionError(
                f"{err}\n--- sdgen log ---\n{self.sdgen.log}\n--- {self.agent.name} log ---\n"
                f"{self.agent.log()}"
            ) from None

    def up(self) -> dict[str, float]:
        """The latest `up` the consumer wrote to the store, by job."""
        self.store.request("/internal/force_flush")
        body = self.store.request("/api/v1/export", **{"match[]": "up"})
        return {
            record["metric"]["job"]: record["values"][-1]
            for record in map(json.loads, body.splitlines())
        }


def sighups(agent: Agent) -> int:
    """Reloads vmagent began: its /-/reload raises SIGHUP, and it logs each one. (Its
    vm_promscrape_config_reloads_total lagged a reload that had already taken effect, in
    about one run of three.)"""
    return agent.log_path.read_text().count("SIGHUP received")


def main_config(consumer: str, out: Path, store: Store) -> str:
    """The consumer's own config: every fragment sdgen writes, nothing else."""
    if consumer == "vmagent":  # remote write is a flag of vmagent's
        return f"global: {{scrape_interval: 1s}}\nscrape_config_files: ['{out}/scrape/*.yml']\n"
    return (
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_config_files: ['{out}/scrape/*.yml']\n"
        f"remote_write: [{{url: '{store.write_url}', "
        "queue_config: {batch_send_deadline: 100ms}}]\n"
    )


@pytest.fixture(params=sorted(CONSUMERS))
def stack(request: Any, fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> Iterator[Stack]:
    consumer: str = request.param
    exporters: dict[str, Exporter] = {}
    started: list[Any] = []
    try:
        basic_header = "Basic " + base64.b64encode(":".join(BASIC).encode()).decode()
        auth = {"basic": basic_header, "bearer": f"Bearer {TOKEN}"}
        for name, host in HOSTS.items():
            tls = (TLS / "tls.crt", TLS / "tls.key") if name == "api" else None
            exporters[name] = Exporter(host, tls=tls, auth=auth.get(name))
        tokens = tmp_path / "token"
        tokens.write_text(TOKEN)
        fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        fakeapi.create(pod("web-0", HOSTS["web-0"], exporters["web-0"].port, "web"))
        fakeapi.create(secret("scrape-auth", "monitoring", **{"pass": BASIC[1]}))
        fakeapi.create(configmap(scrape_config(exporters, tokens)))
        store = start_store(tmp_path)
        started.append(store)
        out = tmp_path / "sdgen" / "out"
        config = tmp_path / f"{consumer}.yml"
        config.write_text(main_config(consumer, out, store))
        if consumer == "vmagent":
            agent = start_vmagent(config, store, tmp_path)
            dialect = ["--fragment-format", "vmagent"]
        else:
            agent = start_prometheus_writer(config, tmp_path, agent=consumer != "prometheus")
            dialect = []
        started.append(agent)
        sdgen = SidecarProcess(
            tmp_path / "sdgen",
            [
                *("--kubeconfig", str(kubeconfig), "--configmap", "monitoring/sdgen-config"),
                *("--reload-url", f"{agent.url}/-/reload", "--materialize-secrets", *dialect),
            ],
        )
        started.append(sdgen)
        yield Stack(consumer, fakeapi, exporters, sdgen, agent, store, kubeconfig, tmp_path)
    finally:
        for process in reversed(started):
            process.terminate() if isinstance(process, SidecarProcess) else process.stop()
        for exporter in exporters.values():
            exporter.stop()


def test_agent_honours_the_fragments_and_remote_writes_to_the_store(stack: Stack) -> None:
    honoured = CONSUMERS[stack.consumer]
    web0, late = stack.exporters["web-0"].address, stack.exporters["late"].address
    want_up = {"web": 1.0, "api": 1.0, "basic": 1.0, "bearer": 1.0, "probe": 1.0, "limited": 0.0}
    stack.until(lambda: stack.up() == want_up, f"up by job is {want_up}")
    measured = {
        "file_sd": stack.up()["web"] == 1.0,
        "tls": stack.up()["api"] == 1.0,  # verified against the caFile: an unknown CA fails
        "basic_auth": stack.up()["basic"] == 1.0,  # else the exporter answers 401
        "authorization": stack.up()["bearer"] == 1.0,
        "params": "/metrics?module=http_2xx&target=a%25%7Bb%7D"
        in stack.exporters["probe"].requests,
        "limits": stack.up()["limited"] == 0.0
        and not stack.store.export('{job="limited",__name__!~"up|scrape_.*"}'),
    }
    web = stack.until(
        lambda: stack.store.export(f'{{instance="{web0}",__name__=~"demo_.*|other_.*"}}'),
        "web series in the store",
    )
    common = {
        "job": "web",
        "instance": web0,
        "namespace": "shop",
        "pod": "web-0",
        "container": "app",
        "endpoint": "metrics",
        "note": UNEXPANDED,  # a target label (targets file)
        "tmpl": UNEXPANDED,  # a metric relabel (fragment)
        "exporter": HOSTS["web-0"],
    }
    expected = [
        {
            **common,
            "__name__": "demo_requests_total",
            "code": "200",
            "code_class": "2xx",
            "path": "/",
        },
        {
            **common,
            "__name__": "demo_requests_total",
            "code": "503",
            "code_class": "5xx",
            "path": "/",
        },
        {**common, "__name__": "demo_temperature_celsius", "room": "lab"},
    ]
    measured["metric_relabels"] = web == expected  # keep, replace, labeldrop, `%{` verbatim
    assert web == expected
    assert {s for s, ok in measured.items() if ok} == honoured, measured

    # A ConfigMap edit: a new target and a wider keep regex, without restarting the agent.
    pid = stack.agent.proc.pid
    reloaded = sighups(stack.agent)
    tokens = stack.tmp / "token"
    path = stack.tmp / "configmap.yaml"
    path.write_text(yaml.safe_dump(configmap(scrape_config(stack.exporters, tokens, edited=True))))
    kubectl = [str(binary("kubectl")), "--kubeconfig", str(stack.kubeconfig)]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--validate=false", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    stack.until(lambda: stack.up().get("late") == 1.0, "the new target scraped")
    stack.until(lambda: stack.store.export(f'other_noise{{instance="{web0}"}}'), "new keep regex")
    assert stack.store.export(f'demo_temperature_celsius{{instance="{late}"}}')
    assert stack.agent.proc.pid == pid and stack.agent.proc.poll() is None
    if stack.consumer == "vmagent":  # the new job came through sdgen's POST to /-/reload
        assert sighups(stack.agent) > reloaded
