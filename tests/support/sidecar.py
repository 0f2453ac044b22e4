"""A real `sdgen run` process for system tests, and readers for its ops port (/metrics,
/status, /healthz): what the sidecar, ops-server, e2e and deploy suites share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import REPO, free_port, wait_for

EXAMPLES = REPO / "examples"


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def configmap(
    text: str, name: str = "sdgen-config", namespace: str = "monitoring"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"scrape_config.yaml": text},
    }


class SidecarProcess:
    """A running `sdgen run`; stderr goes to a log file the test can read."""

    def __init__(
        self, tmp: Path, args: list[str], env: dict[str, str] | None = None, command: str = "run"
    ) -> None:
        """`command`: `run`, or `serve` (which has no output directory)."""
        self.out = tmp / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "sdgen.log"
        self._log = self.log_path.open("w")
        output = ["--output-dir", str(self.out)] if command == "run" else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdgen",
                command,
                *output,
                "--listen",
                "",
                "--debounce",
                "50ms",
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            # No ambient cluster: tests that want one pass --kubeconfig explicitly.
            env={**os.environ, "KUBECONFIG": str(tmp / "no-such-kubeconfig"), **(env or {})},
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def files(self, sub: str = "targets") -> dict[str, str]:
        return output_files(self.out, sub)

    def targets(self) -> dict[str, list[dict[str, Any]]]:
        return {name: json.loads(text) for name, text in self.files("targets").items()}

    def terminate(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def until(run: SidecarProcess, predicate: Any, timeout: float = 10.0) -> None:
    """wait_for, with sdgen's log in the failure message."""
    try:
        wait_for(predicate, timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}\n--- sdgen log ---\n{run.log}") from None


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics keyed by (name, labels)."""
    _, text = get(port, "/metrics")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(port: int, name: str, **labels: str) -> float | None:
    return samples(port).get((name, frozenset(labels.items())))


def total(port: int, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (e.g. over every reason)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(port).items() if n == name and wanted <= ls)


class Ops(SidecarProcess):
    """`sdgen run` with its ops endpoint on a free loopback port."""

    def __init__(
        self,
        tmp: Path,
        kubeconfig: Path,
        *args: str,
        env: dict[str, str] | None = None,
        command: str = "run",
        port: int | None = None,
    ) -> None:
        """`env` None: `--configmap monitoring/sdgen-config`; else the environment decides.
        `port`: the ops port (default: a free one)."""
        self.port = port or free_port()
        source = ["--configmap", "monitoring/sdgen-config"] if env is None else []
        listen = ["--listen", f"127.0.0.1:{self.port}"]
        super().__init__(
            tmp, ["--kubeconfig", str(kubeconfig), *source, *listen, *args], env, command
        )

    def get(self, path: str) -> tuple[int, str]:
        return get(self.port, path)

    def until(self, predicate: Any, timeout: float = 20.0, what: str = "") -> None:
        try:
            wait_for(predicate, timeout, interval=0.05, message=what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- sdgen log ---\n{self.log}") from None

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200
        result: dict[str, Any] = json.loads(body)
        return result


def output_files(out: Path, sub: str = "targets") -> dict[str, str]:
    """The files under out/sub by name; for targets/, each scrape job's file by its directory
    (`<slug>.p<part>`, holding targets.json)."""
    folder = out / sub
    if not folder.is_dir():
        return {}
    if sub == "targets":
        found = sorted(folder.glob("*/targets.json"))
        return {p.parent.name: p.read_text() for p in found if p.is_file()}
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}
