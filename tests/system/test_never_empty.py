"""sdgen never replaces good output because of a problem, reports it, and recovers by itself.

Each test starts a real `sdgen run` against the emulator with an ops listener, breaks one
thing (the API server, the ConfigMap, the output volume, one output file), checks that the
last good files stay and that the logs, /status and /metrics say what is wrong, then removes
the cause and waits for sdgen to catch up without help.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.chaos import Sdgen, configmap, tree
from tests.support.helpers import REPO, free_port, tmpfs, wait_for
from tests.support.sidecar import output_files

EXAMPLES = REPO / "examples"
GOOD = (EXAMPLES / "scrape_config.yaml").read_text()
# An edit that changes the legacy-db and demo-app target files and leaves the rest alone.
EDITED = GOOD.replace("replacement: production", "replacement: staging").replace(
    "path: /metrics", "path: /m2"
)
GARBAGE = "PK\x03\x04\x00\x00\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x7f\ufffd\u202e ]]} {{: ::\x00" * 4


class Watched:
    """A running sdgen with its ops port: files, log, /status and /metrics at hand."""

    def __init__(self, sdgen: Sdgen, port: int) -> None:
        self.sdgen, self.port, self.out = sdgen, port, sdgen.out

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def status(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.get("/status")[1])
        return document

    def metric(self, name: str, absent_is_zero: bool = False) -> float:
        """The sum of every series of `name` (labelled or not)."""
        found = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", self.get("/metrics")[1], re.M)
        assert found or absent_is_zero, f"{name} not in /metrics"
        return sum(float(value) for value in found)

    def files(self, sub: str = "targets") -> dict[str, str]:
        return output_files(self.out, sub)

    def until(self, predicate: Any, timeout: float = 20.0, message: str = "") -> None:
        try:
            wait_for(predicate, timeout, 0.05, message)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- sdgen log ---\n{self.sdgen.log[-5000:]}") from None

    def rendered(self) -> bool:
        return len(self.files()) == 3 and self.get("/readyz")[0] == 200


@pytest.fixture
def sidecar(fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> Iterator[Any]:
    """start(out, wait=True) → a Watched `sdgen run` over the example cluster and config."""
    started: list[Sdgen] = []
    for doc in yaml.safe_load_all((EXAMPLES / "cluster.yaml").read_text()):
        if doc:
            fakeapi.apply(doc)
    fakeapi.apply(configmap({"scrape_config.yaml": GOOD}))

    def start(out: Path, wait: bool = True) -> Watched:
        port = free_port()
        log = tmp_path / f"sdgen-{len(started)}.log"
        extra = ("--listen", f"127.0.0.1:{port}", "--interval", "300ms")
        run = Sdgen("run", out, kubeconfig, log, *extra)
        started.append(run)
        watched = Watched(run, port)
        if wait:
            watched.until(watched.rendered, 30, "the first render")
        return watched

    yield start
    for run in started:
        assert run.terminate() == 0, run.log[-3000:]


def test_api_server_gone_keeps_files_even_across_a_restart_and_recovers(
    sidecar: Any, fakeapi: FakeAPI, tmp_path: Path
) -> None:
    run = sidecar(tmp_path / "out")
    good = tree(run.out)
    restarts = run.metric("sdgen_watch_restarts_total", True)
    fakeapi.stop()
    run.until(lambda: run.sdgen.log.count("retrying in") >= 2, 30, "logged retries")
    run.until(lambda: watch_errors(run), 10, "watch errors in /status")
    assert run.metric("sdgen_watch_restarts_total", True) > restarts
    assert tree(run.out) == good
    assert run.sdgen.terminate() == 0

    # The cluster changes while sdgen is down and the API unreachable; a new sdgen has no
    # synced cache, so it must wait with the old files in place.
    assert b"10.244.2.9:9090" in b"".join(good.values())
    fakeapi.delete("pods", "demo", "demo-app-7d9c6b5f4-fghij")
    again = sidecar(run.out, wait=False)
    again.until(lambda: again.sdgen.log.count("retrying in") >= 2, 30, "logged retries")
    assert again.get("/readyz")[0] == 503
    assert "not synced" in again.status()["waiting_for"]
    assert tree(again.out) == good

    fakeapi.start()
    again.until(lambda: "10.244.2.9" not in "".join(again.files().values()), 60, "catching up")
    assert again.get("/readyz")[0] == 200
    again.until(lambda: not watch_errors(again), 30, "the watch errors cleared")


def watch_errors(run: Watched) -> list[str]:
    return [w["last_error"] for w in run.status()["watches"].values() if w["last_error"]]


def test_garbage_or_a_missing_key_in_the_configmap_keeps_the_files(
    sidecar: Any, fakeapi: FakeAPI, tmp_path: Path
) -> None:
    run = sidecar(tmp_path / "out")
    good = tree(run.out)
    errors = run.metric("sdgen_config_errors_total")

    fakeapi.apply(configmap({"scrape_config.yaml": GARBAGE}))
    run.until(lambda: run.status()["config"]["valid"] is False, 20, "the garbage rejected")
    issues = run.status()["config"]["issues"]
    assert issues and all("scrape_config.yaml" in issue for issue in issues), issues
    assert "config rejected, keeping the last good files" in run.sdgen.log
    assert run.metric("sdgen_config_valid") == 0
    assert run.metric("sdgen_config_errors_total") > errors
    assert tree(run.out) == good

    fakeapi.apply(configmap({"some-other-key": "x"}))
    run.until(lambda: "has no text key" in " ".join(run.status()["config"]["issues"]), 20)
    assert "keeping the last good files" in run.status()["waiting_for"]
    assert run.metric("sdgen_config_valid") == 0
    assert tree(run.out) == good

    fakeapi.apply(configmap({"scrape_config.yaml": EDITED}))
    run.until(lambda: "staging" in "".join(run.files().values()), 20, "the fixed config")
    assert run.status()["config"]["valid"] is True
    assert run.metric("sdgen_config_valid") == 1


def fill(path: Path) -> None:
    """Writes `path` until the volume is full."""
    with path.open("wb", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err


def test_a_full_output_volume_keeps_the_old_files_and_recovers(
    sidecar: Any, fakeapi: FakeAPI, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "volume", "size=256k") as volume:
        run = sidecar(volume)
        good = tree(volume)
        fill(volume / "filler")
        fakeapi.apply(configmap({"scrape_config.yaml": EDITED}))
        run.until(lambda: run.status()["write_errors"], 20, "a write error in /status")
        assert "No space left on device" in " ".join(run.status()["write_errors"])
        assert "write failed: targets/" in run.sdgen.log
        assert run.metric("sdgen_file_write_errors_total") > 0
        assert {k: v for k, v in tree(volume).items() if k != "filler"} == good
        assert not [p for p in volume.rglob(".*") if ".tmp-" in p.name], "temp files left"

        (volume / "filler").unlink()
        run.until(lambda: "staging" in "".join(run.files().values()), 20, "the retried write")
        run.until(lambda: run.status()["write_errors"] == [], 5, "the error cleared")
        assert run.sdgen.terminate() == 0  # before the volume goes


def test_a_directory_in_the_way_of_one_file_only_stops_that_file(
    sidecar: Any, fakeapi: FakeAPI, tmp_path: Path
) -> None:
    run = sidecar(tmp_path / "out")
    good = tree(run.out)
    blocked = next(
        p for p in (run.out / "targets").glob("*/targets.json") if "production" in p.read_text()
    )
    blocked.unlink()
    blocked.mkdir()
    (blocked / "something").write_text("not sdgen's")

    fakeapi.apply(configmap({"scrape_config.yaml": EDITED}))
    run.until(lambda: "/m2" in "".join(run.files().values()), 20, "the other target updated")
    run.until(lambda: run.status()["write_errors"], 20, "a write error in /status")
    relpath = f"targets/{blocked.parent.name}/{blocked.name}"
    assert any(e.startswith(relpath) for e in run.status()["write_errors"])
    assert f"write failed: {relpath}" in run.sdgen.log
    assert run.metric("sdgen_file_write_errors_total") > 0
    changed = {k for k, v in tree(run.out).items() if good.get(k) != v}
    # only demo-app's files changed; everything else stayed, the blocking directory too
    assert {k.split("/")[1].split(".")[0] for k in changed} == {
        "demo-app",
        blocked.parent.name.split(".")[0],
    }
    assert blocked.is_dir()

    (blocked / "something").unlink()
    blocked.rmdir()
    run.until(lambda: blocked.is_file() and "staging" in blocked.read_text(), 20, "recovery")
    run.until(lambda: run.status()["write_errors"] == [], 5, "the error cleared")
    assert os.stat(blocked).st_mode & 0o777 == 0o644


def test_files_removed_behind_sdgens_back_come_back(sidecar: Any, tmp_path: Path) -> None:
    run = sidecar(tmp_path / "out")
    good = tree(run.out)
    next((run.out / "targets").glob("*/targets.json")).unlink()
    shutil.rmtree(run.out / "relabel")
    run.until(lambda: tree(run.out) == good, 20, "the removed files restored")
