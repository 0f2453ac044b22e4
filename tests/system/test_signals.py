"""SIGTERM ends `sdgen run` within 2 s in every phase, as a real process: while a startup
step hangs (a kubeconfig credential plugin), while the API server never answers, and while
the main thread is blocked in a write (stderr into a pipe nobody reads).

Before the fix the signals were blocked until startup was over (a `run` stuck in startup
outlived `timeout 15` by 19 minutes), and a main thread blocked in a system call never
looked at the stop Event again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.helpers import REPO, wait_for
from tests.support.sidecar import SidecarProcess, until

BUDGET = 2.0  # seconds from SIGTERM to exit (README, "Reliability")


def kubeconfig(path: Path, server: str, user: dict[str, object]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def stop_within_budget(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then the seconds until the process ended (killed and failed past 10 s)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("sdgen was still running 10 s after SIGTERM")
    return time.monotonic() - started


@pytest.fixture
def silent_api() -> Iterator[str]:
    """An API server address that accepts connections and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # never accepted: the kernel completes the handshakes
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_sigterm_while_a_credential_plugin_hangs_at_startup(tmp_path: Path) -> None:
    """The kubeconfig's exec plugin runs while sdgen loads the kubeconfig, before anything
    else; one that hangs (a cloud CLI waiting on the network) held SIGTERM off for as long."""
    started = tmp_path / "plugin-started"
    plugin = tmp_path / "hanging-plugin"
    plugin.write_text(f"#!/bin/sh\necho $$ > {started}\nexec sleep 60\n")
    plugin.chmod(0o755)
    config = kubeconfig(
        tmp_path / "kubeconfig",
        "http://127.0.0.1:9",
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": str(plugin),
                "interactiveMode": "Never",
            }
        },
    )
    run = SidecarProcess(tmp_path, ["--kubeconfig", str(config), "--configmap", "m/c"])
    try:
        until(run, started.exists, 20)
        elapsed = stop_within_budget(run.proc)
    finally:
        run.terminate()
        if started.exists() and started.read_text().strip():
            with contextlib.suppress(ProcessLookupError):  # the orphaned plugin
                os.kill(int(started.read_text()), signal.SIGKILL)
    assert elapsed < BUDGET, f"{elapsed:.2f}s from SIGTERM to exit\n{run.log}"
    assert "did not stop within" in run.log


def test_sigterm_while_the_api_server_never_answers(tmp_path: Path, silent_api: str) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", silent_api, {"token": "t"})
    run = SidecarProcess(tmp_path, ["--kubeconfig", str(config), "--configmap", "m/c"])
    until(run, lambda: "sdgen started" in run.log, 20)
    time.sleep(0.5)  # let the informer's first list be in flight, waiting for an answer
    elapsed = stop_within_budget(run.proc)
    assert run.terminate() == 0, run.log  # a clean stop: the hung informers are left behind
    assert elapsed < BUDGET, f"{elapsed:.2f}s from SIGTERM to exit\n{run.log}"


def many_warnings(targets: int) -> str:
    """A config whose every target has an unknown field: one warning line each, rejected."""
    lines = ["targets:"]
    for i in range(targets):
        lines += [
            f"  - targetName: t{i}",
            "    type: StaticEndpoints",
            "    unknownField: 1",
            f"    endpoints: [{{address: '192.0.2.1:{1000 + i}'}}]",
        ]
    return "\n".join(lines) + "\n"


def queued(read_end: int) -> int:
    """Bytes waiting in a pipe."""
    buffer = bytearray(4)
    fcntl.ioctl(read_end, termios.FIONREAD, buffer)
    return int.from_bytes(buffer, sys.byteorder)


def test_sigterm_while_the_main_thread_is_blocked_writing(tmp_path: Path) -> None:
    """stderr is a pipe nobody reads (a stalled log collector): the first config's warning
    lines fill it and the main thread blocks in the write."""
    config = tmp_path / "scrape_config.yaml"
    config.write_text(many_warnings(2000))
    out = tmp_path / "out"
    out.mkdir()
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "sdgen", "run", "--config-file", str(config)]
    proc = subprocess.Popen(
        [*command, "--output-dir", str(out), "--listen", ""],
        stdout=write_end,
        stderr=write_end,
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "none")},
    )
    os.close(write_end)
    try:
        seen = [-1]

        def blocked() -> bool:  # the pipe is full and stays so: the writer is waiting
            now = queued(read_end)
            full, seen[0] = now == seen[0] and now >= 60_000, now
            return full

        wait_for(blocked, 20, 0.3, "sdgen blocked writing to a full stderr pipe")
        elapsed = stop_within_budget(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_end)
    assert elapsed < BUDGET, f"{elapsed:.2f}s from SIGTERM to exit"
    assert proc.returncode == 128 + signal.SIGTERM
