"""Starts a real Prometheus for tests and talks to its HTTP API.

End-to-end tests run the Prometheus binary the project fetches (or $PROMETHEUS) on a free
127.0.0.1 port with its TSDB in the test's tmp_path, wait until it is ready, and always stop
it by pid; its log is kept next to the data for failure messages.
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
class PromHandle:
    url: str
    proc: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            return json.load(resp)

    def targets(self, state: str = "active") -> dict[str, Any]:
        """`/api/v1/targets` data: activeTargets and droppedTargets (state: active|dropped|any)."""
        data: dict[str, Any] = self.get("/api/v1/targets", state=state)["data"]
        return data

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["data"]["result"]
        return result

    def reload(self) -> None:
        """Asks Prometheus to re-read its configuration (needs --web.enable-lifecycle)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def stop(self) -> None:
        stop_process(self.proc)


def _ready_or_exited(handle: PromHandle) -> bool:
    if handle.proc.poll() is not None:
        return True
    try:
        with urllib.request.urlopen(f"{handle.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_prometheus(
    config: str | Path, tmp_path: Path, extra_args: Sequence[str] = ()
) -> PromHandle:
    """Starts Prometheus with `config` (YAML text or a file path) and waits until it is ready.

    The caller must call `stop()` (the `prometheus` fixtures do it at teardown).
    """
    config_path = Path(config) if isinstance(config, Path) else tmp_path / "prometheus.yml"
    if not isinstance(config, Path):
        config_path.write_text(config)
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    args = [
        str(binary("prometheus")),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra_args,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    handle = PromHandle(f"http://127.0.0.1:{port}", proc, config_path, log_path)
    try:
        wait_for(lambda: _ready_or_exited(handle), timeout=60, interval=0.1, message="prometheus")
    except BaseException:
        handle.stop()
        raise
    if proc.poll() is not None:
        raise AssertionError(f"prometheus exited with {proc.returncode}:\n{handle.log()}")
    return handle
