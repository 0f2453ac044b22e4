"""Small helpers shared by tests: polling with a deadline, free ports, real binaries, manifests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, message: str = ""
) -> T:
    """Polls `predicate` until it returns something truthy and returns that value.

    Raises AssertionError naming the predicate (and the last exception it raised, if any)
    when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last failure on timeout
            last_error = exc
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            detail = f"; last error: {last_error!r}" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str) -> Path:
    """A real binary: $<NAME> (e.g. PROMETHEUS), else <repo>/.cache/bin/<name>; fails if absent."""
    configured = os.environ.get(name.upper())
    path = Path(configured) if configured else REPO / ".cache" / "bin" / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        found = shutil.which(configured) if configured else None
        if found is None:
            pytest.fail(
                f"{name} not found at {path}: run `make tools` or set {name.upper()}", pytrace=False
            )
        path = Path(found)
    return path


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def pod_manifest(
    name: str,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    ip: str | None = None,
    ports: Sequence[int] = (),
) -> dict[str, Any]:
    """An ordinary Pod manifest (one container); `ip` makes it Running with that podIP."""
    container: dict[str, Any] = {"name": "app", "image": "example/app:1"}
    if ports:
        container["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": [container]},
    }
    if ip:
        pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    return pod


class ReloadEndpoint:
    """A stand-in for Prometheus's /-/reload that counts the POSTs it receives; `on_post`
    runs before each is answered (e.g. to pass the reload on to a real Prometheus)."""

    def __init__(self, on_post: Callable[[], None] | None = None) -> None:
        self.posts: list[str] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                posts.append(self.path)
                if on_post is not None:
                    on_post()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/-/reload"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "sdgen-test", str(path)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
