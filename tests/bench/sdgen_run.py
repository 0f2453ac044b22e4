"""sdgen measured from outside: `sdgen run` as a subprocess, watched through its output files,
its /metrics and /proc, while the benchmark edits the cluster through the emulator's HTTP API.
"""

from __future__ import annotations

import glob
import json
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import yaml

from sdgen.output import naming
from tests.bench import proc, synth
from tests.bench.proc import poll
from tests.support.helpers import free_port

STEADY_INTERVAL = 1.0  # --interval: one steady cycle per second, so a window holds many


@dataclass
class Plan:
    changes: int  # ConfigMap edits, and pod adds + deletes, each
    steady_cycles: int


class Api:
    """The few writes the benchmark makes, as a client would make them over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _send(self, method: str, path: str, body: Any = None, kind: str = "json") -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", f"application/{kind}")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def edit_config(self, revision: int) -> None:
        path = f"/api/v1/namespaces/{synth.CONFIG_NAMESPACE}/configmaps/{synth.CONFIG_NAME}"
        patch = {"data": {synth.CONFIG_KEY: synth.scrape_config(revision)}}
        self._send("PATCH", path, patch, "merge-patch+json")

    def create_pod(self, pod: dict[str, Any]) -> None:
        """Creates the pod; the API keeps its status out (Pending, no IP, not a target yet)."""
        self._send("POST", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods", pod)

    def start_pod(self, pod: dict[str, Any]) -> None:
        """The kubelet's status write: Running with an IP, which makes the pod a target."""
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        self._send("PATCH", path, {"status": pod["status"]}, "merge-patch+json")

    def delete_pod(self, namespace: str, name: str) -> None:
        self._send("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")


def targets_files(out: Path, target: str) -> list[Path]:
    """The targets files of a target's first endpoint: one per part (`targets/<job-dir>/
    targets.json`), or one for all in the layout before per-job directories
    (`targets/<slug>.json`)."""
    stem = naming.slug(target, 0)
    found = sorted((out / "targets").glob(f"{glob.escape(stem)}.p*/targets.json"))
    # the layout before per-job directories: its slugs had a shorter hash
    return found or sorted((out / "targets").glob(f"{glob.escape(target)}.*.0.json"))


def _stamp(paths: list[Path]) -> tuple[tuple[int, int] | None, ...]:
    stamps = []
    for path in paths:
        try:
            st = path.stat()
            stamps.append((st.st_ino, st.st_mtime_ns))
        except FileNotFoundError:
            stamps.append(None)
    return tuple(stamps)


class Sdgen:
    """A running `sdgen run` against the emulator at `kubeconfig`, observed from outside."""

    def __init__(
        self,
        kubeconfig: Path,
        work: Path,
        port: int,
        log: IO[str],
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.out = work / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        args = ["--kubeconfig", str(kubeconfig), "--output-dir", str(self.out)]
        args += ["--configmap", f"{synth.CONFIG_NAMESPACE}/{synth.CONFIG_NAME}"]
        args += ["--listen", f"127.0.0.1:{port}", "--interval", f"{STEADY_INTERVAL:g}s"]
        self.started = time.monotonic()
        self.process = proc.python("sdgen", "run", *args, *extra, log=log, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def metric(self, prefix: str) -> float:
        """The sum of every series whose name starts with `prefix`."""
        return sum(v for k, v in proc.scrape(self.metrics_url).items() if k.startswith(prefix))

    def first_render(self, expected: dict[str, int], timeout: float) -> float:
        """Seconds from start until every target's file exists (the first render writes them
        all at once); then checks the counts sdgen reports."""

        def written() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"sdgen exited with {self.process.returncode}")
            return all(targets_files(self.out, name) for name in expected)

        poll(written, timeout, interval=0.01)
        elapsed = time.monotonic() - self.started
        counts = {
            name: sum(len(json.loads(f.read_bytes())) for f in targets_files(self.out, name))
            for name in expected
        }
        want = {k: float(v) for k, v in expected.items()}

        def reported() -> dict[str, float]:
            return {name: self.metric(f'sdgen_targets{{target="{name}"}}') for name in expected}

        try:  # the cycle sets its gauges just after the write it reports: wait for them
            poll(lambda: reported() == want, 10, interval=0.02)
        except TimeoutError:
            found = reported()
            raise RuntimeError(
                f"sdgen wrote {found} targets ({counts} groups); want {expected}"
            ) from None
        return elapsed

    def renders(self) -> float:
        return self.metric("sdgen_render_duration_seconds_count")

    def render_seconds(self) -> float:
        """Total time sdgen spent in render cycles (resolve, render, write) so far."""
        return self.metric("sdgen_render_duration_seconds_sum")

    def await_render(self, count: float, timeout: float = 60.0) -> None:
        """Waits until more than `count` renders have completed."""
        poll(lambda: self.renders() > count, timeout, interval=0.02)

    def steady(self, cycles: int) -> dict[str, float]:
        """CPU per idle cycle and file writes over `cycles` cycles with nothing changing."""
        writes_before = self.metric("sdgen_file_writes_total")
        cpu_before, t0 = proc.cpu_seconds(self.pid), time.monotonic()
        time.sleep(cycles * STEADY_INTERVAL)
        cpu, wall = proc.cpu_seconds(self.pid) - cpu_before, time.monotonic() - t0
        writes = self.metric("sdgen_file_writes_total") - writes_before
        return {
            "cpu_ms_per_cycle": 1000 * cpu / (wall / STEADY_INTERVAL),
            "cpu_ms_per_15s": 1000 * cpu * 15 / wall,
            "writes": writes,
            "cycles": wall / STEADY_INTERVAL,
        }

    def latency(
        self, paths: list[Path], change: Callable[[], None], timeout: float = 30.0
    ) -> float:
        """Seconds from calling `change()` until one of `paths` is replaced. Returns once the cycle
        that replaced it has finished: a change made while it is still running would count
        that cycle's completion as its own render, and wait out a debounce extended by it."""
        before, renders = _stamp(paths), self.renders()
        started = time.monotonic()
        change()
        poll(lambda: _stamp(paths) != before, timeout, interval=0.002)
        elapsed = time.monotonic() - started
        self.await_render(renders, timeout)
        return elapsed

    def stop(self) -> None:
        proc.stop(self.process)


def measure(kubeconfig: Path, work: Path, pods: int, plan: Plan, log: IO[str]) -> dict[str, Any]:
    """First render, memory, steady cycles and change latencies of `sdgen run` at `pods`."""
    api_url = server_url(kubeconfig)
    expected = synth.expected_targets(pods)
    sdgen = Sdgen(kubeconfig, work, free_port(), log)
    try:
        result = _first(sdgen, expected)
        result["first_cycle_s"] = sdgen.render_seconds()  # of which resolve + render + write
        time.sleep(2 * STEADY_INTERVAL)  # let the post-sync churn settle
        result["steady"] = sdgen.steady(plan.steady_cycles)
        api = Api(api_url)
        cycles_before = sdgen.renders(), sdgen.render_seconds()
        services = targets_files(sdgen.out, synth.SERVICE_TARGET)
        result["configmap_edit_s"] = proc.percentiles(
            [
                sdgen.latency(services, partial(api.edit_config, r))
                for r in range(1, plan.changes + 1)
            ]
        )
        result["pod_change_s"] = proc.percentiles(_pod_changes(sdgen, api, pods, plan.changes))
        cycles = sdgen.renders() - cycles_before[0]
        result["change_cycle_mean_s"] = (sdgen.render_seconds() - cycles_before[1]) / cycles
        mem = proc.memory_mb(sdgen.pid)
        result["peak_rss_mb"], result["steady_rss_mb"] = mem["VmHWM"], mem["VmRSS"]
        return result
    finally:
        sdgen.stop()


def measure_first(kubeconfig: Path, work: Path, pods: int, log: IO[str]) -> dict[str, Any]:
    """Only the first render and the peak RSS after it (what the peer row compares)."""
    sdgen = Sdgen(kubeconfig, work, free_port(), log)
    try:
        return _first(sdgen, synth.expected_targets(pods))
    finally:
        sdgen.stop()


def _first(sdgen: Sdgen, expected: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {"first_render_s": sdgen.first_render(expected, 300)}
    result["peak_rss_after_first_render_mb"] = proc.memory_mb(sdgen.pid)["VmHWM"]
    return result


def _pod_changes(sdgen: Sdgen, api: Api, pods: int, changes: int) -> list[float]:
    """Alternately adds a selected pod and deletes it: each must change the pods' file. An
    add is timed from the status write that gives the pod its IP; the create before it makes
    a Pending pod, which is no target yet, and the render it causes is waited out."""
    path = targets_files(sdgen.out, synth.POD_TARGET)
    namespaces = synth.namespace_count(pods)
    samples = []
    for n in range(changes):
        pod = synth.extra_pod(n // 2, namespaces)
        meta = pod["metadata"]
        if n % 2 == 0:
            renders = sdgen.renders()
            api.create_pod(pod)
            sdgen.await_render(renders)  # the Pending pod changes no file, but is rendered
            samples.append(sdgen.latency(path, partial(api.start_pod, pod)))
        else:
            delete = partial(api.delete_pod, meta["namespace"], meta["name"])
            samples.append(sdgen.latency(path, delete))
    if changes % 2:  # leave the cluster as seeded for whoever measures next
        api.delete_pod(meta["namespace"], meta["name"])
    return samples


def server_url(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text())
    return str(config["clusters"][0]["cluster"]["server"])
