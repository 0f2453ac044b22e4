"""The ops port under attack, against a real `sdgen run` over real sockets: idle and
trickling connections neither add threads nor starve /healthz, and are closed after the
header timeout.

Before the fix one connection was one thread and none ever timed out: 800 trickling
connections made 805 threads, and under a pids limit 80 idle sockets made /healthz fail,
which gets the container restarted.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import free_port, wait_for
from tests.support.sidecar import SidecarProcess, get, until

IDLE = 300  # connections that never send a byte
TRICKLING = 100  # connections that send a request one byte at a time
HEADER_TIMEOUT = 5.0  # sdgen.runtime.httploop.Limits


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[tuple[SidecarProcess, int]]:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(
        "targets:\n- targetName: db\n  type: StaticEndpoints\n"
        "  endpoints: [{address: '192.0.2.1:9100'}]\n"
    )
    port = free_port()
    run = SidecarProcess(tmp_path, ["--config-file", str(config), "--listen", f"127.0.0.1:{port}"])
    until(run, lambda: get(port, "/readyz")[0] == 200, 20)
    yield run, port
    assert run.terminate() == 0, run.log


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def connect(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(sock)
    return socks


def closed_by_peer(sock: socket.socket) -> bool:
    """The server closed it (EOF or reset); False while it is still open."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def probe(port: int) -> float:
    """/healthz as the kubelet asks it (1 s timeout); the seconds it took."""
    started = time.monotonic()
    assert get(port, "/healthz") == (200, "ok: ok\n")
    took = time.monotonic() - started
    assert took < 1.0, f"/healthz took {took:.2f}s"
    return took


def test_idle_and_trickling_connections_add_no_threads_and_healthz_answers(
    sidecar: tuple[SidecarProcess, int],
) -> None:
    run, port = sidecar
    pid = run.proc.pid
    probe(port)
    baseline = threads(pid)
    idle = connect(port, IDLE)
    trickling = connect(port, TRICKLING)
    try:
        request = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
        for i in range(8):  # the first 8 bytes of a request, a byte per round, all connections
            for sock in trickling:
                with contextlib.suppress(OSError):  # closed to make room: the attacker's loss
                    sock.send(request[i : i + 1])
            probe(port)
            assert threads(pid) <= baseline, f"{threads(pid)} threads, {baseline} before"
        assert threads(pid) <= baseline
    finally:
        for sock in idle + trickling:
            sock.close()


def test_idle_connections_are_closed_after_the_header_timeout(
    sidecar: tuple[SidecarProcess, int],
) -> None:
    _, port = sidecar
    idle = connect(port, 20)
    try:
        started = time.monotonic()
        wait_for(
            lambda: all(closed_by_peer(s) for s in idle),
            HEADER_TIMEOUT + 5,
            0.1,
            "every idle connection closed by sdgen",
        )
        assert time.monotonic() - started >= HEADER_TIMEOUT - 1
        probe(port)
    finally:
        for sock in idle:
            sock.close()
