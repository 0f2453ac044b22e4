"""What following sdgen's output costs Prometheus: a real Prometheus 3.5 reading the files.

Prometheus reads sdgen's output exactly as deployed (one file_sd job per scrape job in the
fragments, each watching its file's directory), except that every job ends in a relabel rule
that drops every target: the synthetic pod IPs are nobody's to scrape, and only discovery is
measured. The fragments' jobs are copied into the Prometheus config by this module, which also
serves sdgen's `--reload-url`: it counts the reloads sdgen asks for, regenerates the config
from the fragments and reloads Prometheus.

`Layout` says which sdgen writes the files: this checkout's, or the one before the per-job
directories (`LEGACY_REVISION`, taken from git history), so both are measured in one run.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, Any

import yaml

from tests.bench import proc, sdgen_run, synth
from tests.support.helpers import ReloadEndpoint, binary, free_port
from tests.support.legacy import legacy_environment

DROP_ALL = {"source_labels": ["__address__"], "regex": ".*", "action": "drop"}


class Layout(StrEnum):
    PARTS = "per-job directories"  # this checkout
    LEGACY = "one directory"  # LEGACY_REVISION


def sdgen_environment(layout: Layout, work: Path) -> dict[str, str]:
    """The environment that makes `python -m sdgen` run the layout's sdgen."""
    if layout is Layout.PARTS:
        return {}
    return legacy_environment(work)


def prometheus_config(out: Path) -> dict[str, Any]:
    """Every job of every fragment, with absolute file_sd paths and a final drop-all rule."""
    jobs = []
    for fragment in sorted((out / "scrape").glob("*.yml")):
        for job in yaml.safe_load(fragment.read_text()).get("scrape_configs") or []:
            files = [
                str((fragment.parent / f).resolve())
                for sd in job.get("file_sd_configs", [])
                for f in sd["files"]
            ]
            jobs.append(
                {
                    "job_name": job["job_name"],
                    "file_sd_configs": [{"files": files}],
                    "relabel_configs": [DROP_ALL],
                }
            )
    return {"global": {"scrape_interval": "1m"}, "scrape_configs": jobs}


class Follower:
    """A Prometheus following `out`, and the reload endpoint sdgen is pointed at."""

    def __init__(self, out: Path, work: Path, log: IO[str]) -> None:
        self.out = out
        self.config = work / "prometheus.yml"
        self._lock = threading.Lock()
        self.write_config()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(binary("prometheus")),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=log,
            env={**os.environ, "GOMAXPROCS": "1"},
        )
        proc.poll(self._ready, 60, interval=0.1)
        self.endpoint = ReloadEndpoint(on_post=self.reload)  # what sdgen's --reload-url hits

    def write_config(self) -> None:
        self.config.write_text(yaml.safe_dump(prometheus_config(self.out)))

    def reload(self) -> None:
        with self._lock:
            self.write_config()
            request = urllib.request.Request(f"{self.url}/-/reload", data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()

    def metrics(self) -> dict[str, float]:
        return proc.scrape(f"{self.url}/metrics")

    def scans(self) -> tuple[float, float]:
        """prometheus_sd_file_scan_duration_seconds: (count, sum) so far."""
        m = self.metrics()
        return (
            m.get("prometheus_sd_file_scan_duration_seconds_count", 0.0),
            m.get("prometheus_sd_file_scan_duration_seconds_sum", 0.0),
        )

    def discovered(self) -> float:
        """Targets Prometheus's discovery holds, over every job (before relabeling)."""
        return sum(
            v for k, v in self.metrics().items() if k.startswith("prometheus_sd_discovered_targets")
        )

    def peak_rss_mb(self) -> float:
        return proc.memory_mb(self.process.pid)["VmHWM"]

    def stop(self) -> None:
        self.endpoint.stop()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def measure(
    kubeconfig: Path, work: Path, pods: int, layout: Layout, changes: int, logs: dict[str, IO[str]]
) -> dict[str, Any]:
    """Prometheus following one layout's output at `pods`: its scans and scan time per pod
    change and per ConfigMap edit, the time until its discovered count shows a pod change,
    its peak RSS, and the reloads sdgen asked for during the pod changes."""
    (work / "out").mkdir(parents=True, exist_ok=True)
    follower = Follower(work / "out", work, logs["prometheus"])
    sdgen = sdgen_run.Sdgen(
        kubeconfig,
        work,
        free_port(),
        logs["sdgen"],
        extra=("--reload-url", follower.endpoint.url),
        env=sdgen_environment(layout, work),
    )
    try:
        expected = synth.expected_targets(pods)
        sdgen.first_render(expected, 300)
        pattern = "targets/*/targets.json" if layout is Layout.PARTS else "targets/*.json"
        if not list((work / "out").glob(pattern)):
            raise RuntimeError(f"the sdgen measured for {layout!r} did not write {pattern}")
        total = float(sum(expected.values()))
        proc.poll(lambda: follower.discovered() == total or None, 300, interval=0.2)
        api = sdgen_run.Api(sdgen_run.server_url(kubeconfig))
        reloads = len(follower.endpoint.posts)
        pod_changes = [_pod_change(sdgen, follower, api, pods, n) for n in range(changes)]
        result: dict[str, Any] = {
            "reloads_during_pod_changes": len(follower.endpoint.posts) - reloads
        }
        edits = [_edit(sdgen, follower, api, revision) for revision in range(1, changes + 1)]
        result["pod_change"] = _summary(pod_changes)
        result["configmap_edit"] = _summary(edits)
        result["jobs"] = len(prometheus_config(work / "out")["scrape_configs"])
        result["prometheus_peak_rss_mb"] = follower.peak_rss_mb()
        return result
    finally:
        sdgen.stop()
        follower.stop()


def _pod_change(
    sdgen: sdgen_run.Sdgen, follower: Follower, api: sdgen_run.Api, pods: int, n: int
) -> dict[str, float]:
    """Adds (even n) or deletes (odd n) a selected pod, as sdgen_run's pod changes do."""
    pod = synth.extra_pod(n // 2, synth.namespace_count(pods))
    meta = pod["metadata"]
    if n % 2 == 0:
        renders = sdgen.renders()
        api.create_pod(pod)  # Pending: no target yet, and no file changes
        sdgen.await_render(renders)
        return _observe(sdgen, follower, partial(api.start_pod, pod), count_changes=True)
    delete = partial(api.delete_pod, meta["namespace"], meta["name"])
    return _observe(sdgen, follower, delete, count_changes=True)


def _edit(
    sdgen: sdgen_run.Sdgen, follower: Follower, api: sdgen_run.Api, revision: int
) -> dict[str, float]:
    return _observe(sdgen, follower, partial(api.edit_config, revision), count_changes=False)


def _observe(
    sdgen: sdgen_run.Sdgen, follower: Follower, change: Callable[[], None], count_changes: bool
) -> dict[str, float]:
    """Scans and scan seconds Prometheus spent on one change, and (when the change changes
    the number of targets) seconds until its discovered count showed it."""
    scans, seconds = follower.scans()
    discovered, renders = follower.discovered(), sdgen.renders()
    started = time.monotonic()
    change()
    result: dict[str, float] = {}
    if count_changes:
        proc.poll(lambda: follower.discovered() != discovered or None, 60, interval=0.02)
        result["visible_s"] = time.monotonic() - started
    sdgen.await_render(renders)
    after = _settled_scans(follower)
    result["scans"], result["scan_s"] = after[0] - scans, after[1] - seconds
    return result


def _settled_scans(follower: Follower) -> tuple[float, float]:
    """The scan counters once no scan has finished for three times the mean scan (at least
    a second): a re-read of a big file takes seconds, and a second one may follow."""
    last, since = follower.scans(), time.monotonic()
    while True:
        quiet = max(1.0, 3 * last[1] / last[0]) if last[0] else 1.0
        time.sleep(0.1)
        now = follower.scans()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return last


def _summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(samples),
        "scans_mean": sum(s["scans"] for s in samples) / len(samples),
        "scans_max": max(s["scans"] for s in samples),
        "scan_s_mean": sum(s["scan_s"] for s in samples) / len(samples),
        "scan_s_max": max(s["scan_s"] for s in samples),
    }
    visible = [s["visible_s"] for s in samples if "visible_s" in s]
    if visible:
        out["visible_s"] = proc.percentiles(visible)
    return out
