"""Observing processes from outside: /proc memory and CPU, /metrics scrapes, polling, percentiles.

Everything the benchmark reports about a process it reads here, from the kernel or from the
process's own /metrics, never from the process's logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TypeVar

REPO = Path(__file__).resolve().parents[2]
_TICK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def memory_mb(pid: int | str) -> dict[str, float]:
    """VmHWM (peak resident) and VmRSS (resident now) in MB; `pid` may be "self"."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text exposition as {series: value} (series as written, labels included)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def poll(predicate: Callable[[], T | None], timeout: float, interval: float = 0.005) -> T:
    """The first truthy value of `predicate`, polled every `interval`; TimeoutError after."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing after {timeout}s")
        time.sleep(interval)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 by nearest rank, and the count."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "n": len(ordered)}


def python(
    module: str, *args: str, log: IO[str] | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m module args...` from the repo root, stdout piped, stderr to `log`; `env`
    adds to the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log if log is not None else subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "KUBECONFIG": "/nonexistent", **(env or {})},
    )


def stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
