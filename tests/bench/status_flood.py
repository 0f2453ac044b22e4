"""`python -m tests.bench.status_flood [--targets 5000] [--edits 5] [--clients 8]`: does a
flood of /status requests slow the render loop?

A real `sdgen run` follows a local config file of N static targets; each edit changes one
target's address, and the time from the edit to that target's file holding the new address
is measured, first with no ops traffic, then while `--clients` threads fetch /status back to
back. /status is 1.2 MB at 5,000 targets; encoded per request, eight clients raised edit →
file from about 4 s to 26 s (issue 17). `make bench` runs it as part of the whole; this
entry point runs it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench import proc

PROBE = "probe"  # the target each edit moves


def config_text(targets: int, revision: int) -> str:
    lines = ["targets:", f"  - targetName: {PROBE}", "    type: StaticEndpoints"]
    lines.append(f"    endpoints: [{{address: '192.0.2.1:{10000 + revision}'}}]")
    for i in range(targets - 1):
        lines += [f"  - targetName: t{i}", "    type: StaticEndpoints"]
        lines.append(
            f"    endpoints: [{{address: '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:9100'}}]"
        )
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.new")
    temp.write_text(text)
    os.replace(temp, path)


def probe_file(out: Path, revision: int) -> Path | None:
    """The targets file holding the probe target's address of `revision`."""
    needle = f"192.0.2.1:{10000 + revision}"
    for path in out.glob("targets/*/targets.json"):
        try:
            if needle in path.read_text():
                return path
        except OSError:
            pass
    return None


def edit_latencies(config: Path, out: Path, targets: int, edits: int, first: int) -> list[float]:
    """Seconds from each edit to the probe's file holding the new address."""
    found = proc.poll(lambda: probe_file(out, first - 1), 120, 0.05)
    latencies = []
    for revision in range(first, first + edits):
        text = config_text(targets, revision)
        started = time.monotonic()
        write_atomically(config, text)
        needle = f"192.0.2.1:{10000 + revision}"
        proc.poll(lambda n=needle: n in _read(found), 120, 0.005)
        latencies.append(time.monotonic() - started)
    return latencies


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class Flood:
    """`clients` threads fetching /status back to back until stopped."""

    def __init__(self, url: str, clients: int) -> None:
        self.requests = 0
        self.body_bytes = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._fetch, args=(url,)) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _fetch(self, url: str) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    body = response.read()
            except OSError:
                continue
            with self._lock:
                self.requests += 1
                self.body_bytes = len(body)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def measure(targets: int, edits: int, clients: int, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    config, out = work / "scrape_config.yaml", work / "out"
    out.mkdir(exist_ok=True)
    write_atomically(config, config_text(targets, 0))
    port = _free_port()
    with (work / "sdgen.log").open("w") as log:
        sdgen = proc.python(
            "sdgen",
            "run",
            "--config-file",
            str(config),
            "--output-dir",
            str(out),
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "1h",
            log=log,
        )
        try:
            # The first edit after the first render is slow with or without traffic (seen
            # 6-8 s against 1.5 s after it): a warm-up, not counted.
            edit_latencies(config, out, targets, 1, 1)
            cpu = proc.cpu_seconds(sdgen.pid)
            quiet = edit_latencies(config, out, targets, edits, 2)
            quiet_cpu, cpu = proc.cpu_seconds(sdgen.pid) - cpu, proc.cpu_seconds(sdgen.pid)
            flood = Flood(f"http://127.0.0.1:{port}/status", clients)
            started = time.monotonic()
            try:
                flooded = edit_latencies(config, out, targets, edits, 2 + edits)
            finally:
                flood.stop()
            elapsed = time.monotonic() - started
            flood_cpu = proc.cpu_seconds(sdgen.pid) - cpu
        finally:
            proc.stop(sdgen)
    return {
        "targets": targets,
        "clients": clients,
        "quiet_s": proc.percentiles(quiet),
        "flood_s": proc.percentiles(flooded),
        "status_requests_per_s": flood.requests / elapsed,
        "sdgen_cpu_s": {"quiet": quiet_cpu, "flood": flood_cpu},  # over each phase's edits
        "status_bytes": flood.body_bytes,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.status_flood", description=__doc__)
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdgen-status-flood-") as tmp:
        result = measure(args.targets, args.edits, args.clients, Path(tmp))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
