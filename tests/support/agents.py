"""Starts the real agents and the store they write to: VictoriaMetrics single-node (the central
store), vmagent, and Prometheus remote-writing, in agent mode or not (tests/support/prom.py
starts a Prometheus that is queried instead).

Each binary comes from the project's cache (`tests/tools/fetch-debs`, Debian's
victoria-metrics package) (or $VMAGENT for vmagent), runs on a free 127.0.0.1 port with
its data in the test's tmp_path, and is stopped by pid; its log is kept for failure messages.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.helpers import binary, free_port, stop_process, wait_for


@dataclass
class Service:
    """One running binary with an HTTP port."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def request(self, path: str, method: str = "GET", **params: str) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.url}{path}{query}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body: bytes = response.read()
            return body

    def stop(self) -> None:
        stop_process(self.proc)


class Store(Service):
    """VictoriaMetrics single-node: what the agents remote-write into."""

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def export(self, match: str) -> list[dict[str, str]]:
        """The label sets of the series matching `match`, sorted: `/api/v1/export` after
        `/internal/force_flush`, so samples written a moment ago are searchable."""
        self.request("/internal/force_flush")
        lines = self.request("/api/v1/export", **{"match[]": match}).splitlines()
        found = [json.loads(line)["metric"] for line in lines if line.strip()]
        return sorted(found, key=lambda labels: sorted(labels.items()))


class Agent(Service):
    """A scraper with Prometheus's targets API (vmagent, or Prometheus in agent mode)."""

    def targets(self) -> list[dict[str, Any]]:
        data = json.loads(self.request("/api/v1/targets"))["data"]
        active: list[dict[str, Any]] = data["activeTargets"]
        return active

    def metric(self, name: str) -> float:
        """One unlabelled sample of the agent's own /metrics (0 when absent)."""
        for line in self.request("/metrics").decode().splitlines():
            found, _, value = line.partition(" ")
            if found == name:
                return float(value)
        return 0.0


def start(cls: type[Service], name: str, args: Sequence[str], tmp: Path, ready: str) -> Any:
    """Runs `name` with `args` plus its listen address (`{port}` in args is replaced) and
    waits until `ready` answers 200; a process that exits first fails the test with its log."""
    port = free_port()
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary(name)), *(arg.format(port=port) for arg in args)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = cls(name, f"http://127.0.0.1:{port}", proc, log_path)

    def ready_or_exited() -> bool:
        if proc.poll() is not None:
            return True
        try:
            service.request(ready)
            return True
        except OSError:
            return False

    try:
        wait_for(ready_or_exited, timeout=60, interval=0.1, message=f"{name} ready")
    except BaseException:
        service.stop()
        raise
    if proc.poll() is not None:
        raise AssertionError(f"{name} exited with {proc.returncode}:\n{service.log(100)}")
    return service


def start_store(tmp: Path) -> Store:
    store: Store = start(
        Store,
        "victoria-metrics",
        [
            f"-storageDataPath={tmp / 'victoria-metrics-data'}",
            "-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1d",
            "-search.latencyOffset=0s",  # a sample is searchable as soon as it is flushed
        ],
        tmp,
        "/health",
    )
    return store


def start_vmagent(config: Path, store: Store, tmp: Path, check_interval: str = "1s") -> Agent:
    """vmagent loading `config`, re-reading file_sd files every `check_interval`, and
    remote-writing to `store`."""
    agent: Agent = start(
        Agent,
        "vmagent",
        [
            f"-promscrape.config={config}",
            f"-promscrape.fileSDCheckInterval={check_interval}",
            f"-remoteWrite.url={store.write_url}",
            f"-remoteWrite.tmpDataPath={tmp / 'vmagent-data'}",
            "-remoteWrite.flushInterval=100ms",
            "-httpListenAddr=127.0.0.1:{port}",
        ],
        tmp,
        "/health",
    )
    return agent


def start_prometheus_writer(config: Path, tmp: Path, *, agent: bool) -> Agent:
    """Prometheus remote-writing what it scrapes: in agent mode (`--agent`: a WAL, no TSDB,
    no rules), or a full server with the same config, to compare the two."""
    storage = (
        ["--agent", f"--storage.agent.path={tmp / 'prometheus-agent-data'}"]
        if agent
        else [f"--storage.tsdb.path={tmp / 'prometheus-data'}"]
    )
    started: Agent = start(
        Agent,
        "prometheus",
        [
            *storage,
            f"--config.file={config}",
            "--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        tmp,
        "/-/ready",
    )
    return started
