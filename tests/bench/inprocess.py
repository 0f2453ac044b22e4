"""Render + relabel in-process: a first `targets.Resolver` call + `render.render` over a
cluster of records, best of N, with no I/O and no informer: the pure cost a render cycle
pays per target. `funnel_cost`: the same cycle with and without the funnel counts (issue 13
asks ≤ 5 %), a first one and one after a single pod changed. Also explaining one object
(`sdgen explain`, `GET /explain`) on such a cache, and the ops port's HTML page (`page`:
the overview over a /status of N targets, the drill-down of a target with N candidates).
Each section runs alone with
`python -m tests.bench.inprocess render|funnel|explain|page [--pods N] [--repeats R]`."""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import time
from typing import Any

import msgspec

from sdgen.cache.interner import Interner
from sdgen.config.document import parse_config
from sdgen.config.model import Config
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Service
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.resolve.explain import ExplainSettings, ObjectKind, ObjectRef, explain, find_target
from sdgen.resolve.funnel import Funnel, RulePosition
from sdgen.resolve.resolver import Resolution, Resolver
from sdgen.runtime import page
from sdgen.runtime.board import Board
from sdgen.runtime.cycle import ConfigStatus, TargetStatus
from tests.bench import proc, synth

_TYPES: dict[str, type[Any]] = {
    "Pod": Pod,
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Namespace": Namespace,
}


def static_cluster(pods: int) -> StaticCluster:
    """The synthetic cluster decoded into sdgen's records, as the informers would hold it
    (equal parts shared by an Interner, as the reflector shares them)."""
    by_kind: dict[str, list[Any]] = {kind: [] for kind in _TYPES}
    shrink = Interner()
    for obj in synth.objects(pods):
        kind = obj["kind"]
        if kind in _TYPES:
            record = msgspec.json.decode(msgspec.json.encode(obj), type=_TYPES[kind])
            by_kind[kind].append(shrink(record))
    return StaticCluster.from_objects(
        by_kind["Pod"], by_kind["Service"], by_kind["EndpointSlice"], by_kind["Namespace"]
    )


def pod_targets_only(text: str) -> str:
    """The bench config without its ServiceMonitor: exactly one target per pod."""
    return text[: text.index(f"  - targetName: {synth.SERVICE_TARGET}")]


def measure(pods: int, repeats: int) -> dict[str, Any]:
    """Best and median seconds of resolve + render for `pods` targets x 5 relabel rules."""
    cluster = static_cluster(pods)
    config = parse_config(pod_targets_only(synth.scrape_config()), source="bench")
    times: list[float] = []
    targets = 0
    for _ in range(repeats):
        resolution = files = None  # the last repeat's results are freed before the clock runs
        gc.collect()
        started = time.perf_counter()
        resolution = _fresh(config, cluster)
        files = render.render(resolution.endpoints)
        times.append(time.perf_counter() - started)
        targets = sum(len(et.lines) for et in resolution.endpoints)
    if targets != pods or not files:
        raise RuntimeError(f"in-process render found {targets} targets, want {pods}")
    times.sort()
    rules = sum(len(ep.relabelings) for t in config.targets for ep in t.endpoints)
    return {
        "best_s": times[0],
        "median_s": times[len(times) // 2],
        "targets": targets,
        "rules": rules,
        "profile_top": profile_top(config, cluster),
    }


def _fresh(config: Config, cluster: StaticCluster) -> Resolution:
    """A first resolve, as the sidecar's long-lived resolver makes it (no discovered labels)."""
    return Resolver(default_namespace="default", keep_discovered=False)(config, cluster)


_STEADY_CYCLES = 21  # cycles after each first one, one pod changing (back) in each


def funnel_cost(pods: int, repeats: int) -> dict[str, Any]:
    """Best seconds of a first cycle (resolve + render), median of a cycle after one pod changed,
    with the funnel counts and without, alternating (and in turn first) so a busy machine
    slows both alike."""
    cluster = static_cluster(pods)
    config = parse_config(pod_targets_only(synth.scrape_config()), source="bench")
    changed = _one_pod_changed(cluster)
    first: dict[bool, list[float]] = {True: [], False: []}
    again: dict[bool, list[float]] = {True: [], False: []}
    for repeat in range(repeats):
        for counting in (True, False) if repeat % 2 else (False, True):
            resolver = Resolver(
                default_namespace="default", keep_discovered=False, counting=counting
            )
            renderer = render.Renderer()
            gc.collect()
            started = time.perf_counter()
            renderer.render(resolver(config, cluster).endpoints)
            first[counting].append(time.perf_counter() - started)
            for step in range(_STEADY_CYCLES):  # the pod changes back and forth
                started = time.perf_counter()
                renderer.render(resolver(config, cluster if step % 2 else changed).endpoints)
                again[counting].append(time.perf_counter() - started)
    result: dict[str, Any] = {"pods": pods, "repeats": repeats}
    for name, times in (("first", first), ("one_pod_changed", again)):
        if name == "first":
            with_s, without_s = min(times[True]), min(times[False])
        else:  # many short cycles: the median is steadier than the best
            with_s, without_s = statistics.median(times[True]), statistics.median(times[False])
        result[name] = {"with_s": with_s, "without_s": without_s, "ratio": with_s / without_s}
    return result


def _one_pod_changed(cluster: StaticCluster) -> StaticCluster:
    """The cluster with one pod replaced by a copy with a new label (a new object, as the
    informers publish a changed pod); every other record the same object."""
    pods = list(cluster.pod_map(None).values())
    pod = pods[len(pods) // 2]
    labels = {**pod.metadata.labels, "bench-changed": "1"}
    pods[len(pods) // 2] = msgspec.structs.replace(
        pod, metadata=msgspec.structs.replace(pod.metadata, labels=labels)
    )
    return StaticCluster.from_objects(
        pods,
        cluster.service_map(None).values(),
        cluster.slice_map(None).values(),
        cluster.namespaces().values(),
    )


def profile_top(config: Config, cluster: StaticCluster, entries: int = 12) -> list[str]:
    """cProfile's top functions by own time over one resolve + render: where a cycle goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    render.render(_fresh(config, cluster).endpoints)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(entries)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    rows = lines[start : start + entries + 1]
    return [line.strip().replace(f"{proc.REPO}/", "") for line in rows if line.strip()]


def measure_explain(pods: int, repeats: int) -> dict[str, Any]:
    """Best and median milliseconds to explain one object on a cache of `pods` pods, as
    `GET /explain` does: a pod under the PodMonitor, a Service under the ServiceMonitor
    (5 relabel rules each, every candidate traced)."""
    cluster = static_cluster(pods)
    config = parse_config(synth.scrape_config(), source="bench")
    settings = ExplainSettings("default")
    pod_key = sorted(cluster.pod_map(None))[pods // 2]
    service_key = sorted(cluster.service_map(None))[len(cluster.service_map(None)) // 2]
    questions = {
        "pod": (synth.POD_TARGET, ObjectRef(ObjectKind.POD, *pod_key.split("/"))),
        "service": (synth.SERVICE_TARGET, ObjectRef(ObjectKind.SERVICE, *service_key.split("/"))),
    }
    result: dict[str, Any] = {"pods": pods}
    for name, (target_name, obj) in questions.items():
        target = find_target(config, target_name)
        times: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            answer = explain(target, cluster, settings, obj=obj)
            times.append(time.perf_counter() - started)
        if not answer.written:
            raise RuntimeError(f"explaining {obj} found nothing written: {answer.as_json()}")
        times.sort()
        result[name] = {
            "object": str(obj),
            "best_ms": 1000 * times[0],
            "median_ms": 1000 * times[len(times) // 2],
            "candidates": len(answer.candidates),
        }
    return result


def _board_of(targets: int) -> Board:
    """A status board holding `targets` targets, each with a funnel, three files and every
    tenth one an error, and 30 config issues: what /status and the overview read."""
    funnel = Funnel(3, 12, 12, 2, 0, 10, 0, {RulePosition("relabelings", 1, 0): 2})
    board = Board()
    board.config = ConfigStatus("configmap monitoring/sdgen-config", "v", True, ())
    board.lint = tuple(f"scrape_config.yaml:{i}: lint" for i in range(30))
    board.last_render = time.time()
    board.targets = {
        f"team-{i % 97}/app-{i:05}": TargetStatus(
            1,
            10,
            "" if i % 10 else f"endpoints[0]: port 'http' not found ({i})",
            tuple(f"{kind}/app-{i:05}.0.yml" for kind in ("relabel", "scrape", "targets")),
            funnel,
        )
        for i in range(targets)
    }
    return board


def measure_page(pods: int, repeats: int) -> dict[str, Any]:
    """Best and median milliseconds, server-side, of the ops port's page (issue 18 asks
    ≤ 200 ms at 10k targets): the overview of `pods` targets, the board's /status document
    included (its first and last page of rows), and a target's drill-down on a cache of `pods`
    pods (its first and a middle page): explain of one page of candidates, its JSON, the HTML."""
    board = _board_of(pods)
    watches = {
        f"pods/ns-{i}": {"synced": True, "last_event_at": time.time(), "last_error": ""}
        for i in range(50)
    }
    status = {**board.status(), "watches": watches}
    cluster = static_cluster(pods)
    config = parse_config(synth.scrape_config(), source="bench")
    target = find_target(config, synth.POD_TARGET)
    settings = ExplainSettings("default")
    question = page.Question(synth.POD_TARGET)
    last = str(page.Page.of(None, pods, page.TARGETS_PER_PAGE).pages)

    def drilldown(number: int) -> bytes:
        start = (number - 1) * page.CANDIDATES_PER_PAGE
        window = (start, start + page.CANDIDATES_PER_PAGE)
        answer = explain(target, cluster, settings, window=window).as_json()
        if answer["listed_of"] != pods or not answer["candidates"]:
            raise RuntimeError(f"the drill-down counts {answer['listed_of']}, want {pods}")
        return page.drilldown(status, question, answer, str(number))

    cases = {
        "overview": lambda: page.overview({**board.status(), "watches": watches}, time.time()),
        "overview_last_page": lambda: page.overview(
            {**board.status(), "watches": watches}, time.time(), {"page": [last]}
        ),
        "drilldown": lambda: drilldown(1),
        "drilldown_middle_page": lambda: drilldown(pods // page.CANDIDATES_PER_PAGE // 2),
    }
    result: dict[str, Any] = {"targets": pods, "pods": pods}
    for name, render_page in cases.items():
        times: list[float] = []
        for _ in range(repeats):
            gc.collect()
            started = time.perf_counter()
            body = render_page()
            times.append(time.perf_counter() - started)
        times.sort()
        result[name] = {
            "best_ms": 1000 * times[0],
            "median_ms": 1000 * times[len(times) // 2],
            "bytes": len(body),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.inprocess", description=__doc__)
    parser.add_argument("section", choices=["render", "funnel", "explain", "page"])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.section == "explain":
        found = measure_explain(args.pods, args.repeats)
    elif args.section == "page":
        found = measure_page(args.pods, args.repeats)
    elif args.section == "funnel":
        found = funnel_cost(args.pods, args.repeats)
    else:
        found = measure(args.pods, args.repeats)
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
