"""Local file mode does not wake itself up, spin, or flood its log: a real `sdgen run
--config-file`, its cycles counted on /metrics (`sdgen_cycles_total`) and its log lines
read, over a window measured with a deadline.

Before the fix its own reads of the config file started a cycle each (47 cycles in 10 s at
`--interval 15s`), and before the first render nothing was debounced: with the API server
unreachable it spun through about 480 failing cycles a second, 63k log lines in 10 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from sdgen.runtime.source import text_version
from tests.support.helpers import free_port, wait_for
from tests.support.sidecar import SidecarProcess, get, total, until

WINDOW = 3.0  # seconds each test watches
STATIC = (
    "targets:\n- targetName: db\n  type: StaticEndpoints\n"
    "  endpoints: [{address: '192.0.2.1:9100'}]\n"
)
PODS = """\
targets:
- targetName: web
  type: PodMonitor
  namespaceSelector: {matchNames: [demo]}
  selector: {matchLabels: {app: web}}
  endpoints: [{port: 8080}]
"""


class Watched(SidecarProcess):
    """`sdgen run` with its ops port on a free loopback port."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        super().__init__(tmp, [*args, "--listen", f"127.0.0.1:{self.port}"])
        until(self, lambda: get(self.port, "/healthz")[0] == 200, 20)

    def cycles(self) -> float:
        return total(self.port, "sdgen_cycles_total")

    def log_lines(self) -> int:
        return len(self.log.splitlines())


def over_window(measure: Callable[[], float], window: float = WINDOW) -> float:
    """How much `measure` grew over `window` seconds, polled until the deadline."""
    start = measure()
    deadline = time.monotonic() + window
    wait_for(lambda: time.monotonic() >= deadline, window + 5, 0.1, "the window's end")
    return measure() - start


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Watched]]:
    runs: list[Watched] = []

    def start(*args: str) -> Watched:
        run = Watched(tmp_path / f"run-{len(runs)}", *args)
        runs.append(run)
        return run

    yield start
    for run in runs:
        assert run.terminate() == 0, run.log


def config_in(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    path = directory / "scrape_config.yaml"
    path.write_text(text)
    return path


def unreachable_api(tmp_path: Path) -> Path:
    """A kubeconfig for an API server that refuses every connection."""
    path = tmp_path / "kubeconfig"
    cluster = {"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def test_its_own_reads_start_no_cycles(tmp_path: Path, started: Callable[..., Watched]) -> None:
    config = config_in(tmp_path, STATIC)
    run = started("--config-file", str(config), "--interval", "15s")
    until(run, lambda: run.cycles() >= 1, 20)  # the first render, counted when it ended
    assert over_window(run.cycles) == 0, run.log


def test_api_unreachable_and_a_busy_directory_do_not_spin(
    tmp_path: Path, started: Callable[..., Watched]
) -> None:
    """Never rendered (the pods informer cannot sync), while another file in the config's
    directory is written every 20 ms: a cycle per event before the fix."""
    config = config_in(tmp_path, PODS)
    kubeconfig = unreachable_api(tmp_path)
    run = started("--config-file", str(config), "--kubeconfig", str(kubeconfig))
    until(run, lambda: "not rendering" in run.log, 20)
    stop = threading.Event()

    def neighbour() -> None:
        while not stop.wait(0.02):
            (config.parent / "neighbour.log").write_text(str(time.monotonic()))

    writer = threading.Thread(target=neighbour, daemon=True)
    writer.start()
    try:
        lines = run.log_lines()
        cycles = over_window(run.cycles)
    finally:
        stop.set()
        writer.join()
    assert cycles <= WINDOW + 2, f"{cycles:.0f} cycles in {WINDOW}s\n{run.log}"
    assert run.log_lines() - lines <= 10, run.log  # the informer's retries, a line each


def static(port: int) -> str:
    return STATIC.replace("9100", str(port))


def test_a_write_that_fails_every_cycle_is_logged_once_with_its_count(
    tmp_path: Path, started: Callable[..., Watched]
) -> None:
    """A directory in the way of the target's file, and edits that keep changing it (a
    GitOps controller applying): every cycle fails the same write."""
    config = config_in(tmp_path, static(9100))
    run = started("--config-file", str(config), "--interval", "2s")  # pauses up to 2 s
    until(run, lambda: run.files(), 20)
    (target,) = run.out.glob("targets/*/targets.json")
    target.unlink()
    target.mkdir()
    (target / "x").write_text("not sdgen's")

    def applied(text: str) -> bool:
        status = json.loads(get(run.port, "/status")[1])
        version = status["config"]["version"] == text_version(text.encode())
        return version and bool(status["write_errors"])

    edits = 5
    for port in range(9101, 9101 + edits):
        config.write_text(static(port))
        until(run, lambda p=port: applied(static(p)), 10)
    assert run.log.count("write failed") == 1, run.log

    (target / "x").unlink()
    target.rmdir()
    config.write_text(static(9200))
    until(run, lambda: target.is_file() and "9200" in target.read_text(), 10)
    until(run, lambda: f"write failed {edits} times in a row, no longer: " in run.log, 5)


def test_a_write_in_the_way_is_retried_each_cycle_and_logged_once(
    tmp_path: Path, started: Callable[..., Watched]
) -> None:
    """Nothing changes but the directory in the way: the periodic cycles retry the write
    (they used to take the output as rendered and never tried again) without a log line each."""
    config = config_in(tmp_path, STATIC)
    run = started("--config-file", str(config), "--interval", "200ms")
    until(run, lambda: total(run.port, "sdgen_cycles_total", outcome="unchanged") > 0, 20)
    (target,) = run.out.glob("targets/*/targets.json")
    target.unlink()
    target.mkdir()
    (target / "x").write_text("not sdgen's")
    until(run, lambda: "write failed" in run.log, 10)
    errors = over_window(lambda: total(run.port, "sdgen_file_write_errors_total"))
    assert errors >= 2, f"{errors:.0f} retries in {WINDOW}s\n{run.log}"
    assert run.log.count("write failed") == 1, run.log

    (target / "x").unlink()
    target.rmdir()
    until(run, lambda: target.is_file(), 10)
