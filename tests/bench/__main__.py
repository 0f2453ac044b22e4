"""`python -m tests.bench --out FILE [--sizes 10000,100000] [--quick] [--peer-only]
[--sdgen-only]`: the numbers the README's "Performance" section quotes.

For each size: the emulator is seeded with a synthetic cluster in its own process, `sdgen run`
is measured against it (first render, memory, steady cycles, change latencies), then
Prometheus's own kubernetes_sd on the same cluster (the peer: tests/bench/peer.py; with
--peer-only only sdgen's first render and the peer are measured), then the naive
baseline (tests/bench/baseline.py) against the same emulator, then a real Prometheus following
sdgen's output in this layout and in the one before per-job directories (tests/bench/
follow.py). Then render + relabel of 10k targets in-process, that cycle with and without
the funnel counts, explaining one object on a 10k-pod cache, the targets per shard of each
sharding scheme (tests/bench/shardbalance.py), ConfigMap edit → file of a
5,000-target config with and without a flood of /status requests (tests/bench/
status_flood.py, also runnable alone), and last a config of thousands of targets
(tests/bench/manytargets.py; also runnable alone): parse, unchanged re-render and ConfigMap
edit → file as the config grows. Prints one table and writes it, with every raw number, as
JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import (
    baseline,
    emulator,
    follow,
    inprocess,
    manytargets,
    peer,
    proc,
    sdgen_run,
    shardbalance,
    status_flood,
    tenants,
)
from tests.bench.table import format_table, rows


def plan(pods: int, quick: bool) -> sdgen_run.Plan:
    """100 changes of each kind at 10k pods (the issue's ask); fewer where each costs seconds."""
    if quick:
        return sdgen_run.Plan(changes=10 if pods <= 10_000 else 4, steady_cycles=5)
    return sdgen_run.Plan(changes=100 if pods <= 10_000 else 6, steady_cycles=10)


def baseline_budget(pods: int, quick: bool) -> float:
    """Seconds the baseline may take before it is stopped and reported as a lower bound: at
    ~4 ms and ~100 KB per pod it would need minutes and gigabytes at 100k."""
    return 60.0 if quick else (120.0 if pods <= 10_000 else 60.0)


def measure_size(
    pods: int, quick: bool, work: Path, peer_only: bool = False, sdgen_only: bool = False
) -> dict[str, Any]:
    """`peer_only`: only sdgen's first render and Prometheus's kubernetes_sd beside it;
    `sdgen_only`: only sdgen's own rows (no peer, baseline or Prometheus following it)."""
    work.mkdir(parents=True)
    kubeconfig = work / "kubeconfig"
    names = ("emulator", "sdgen", "baseline", "peer")
    logs = {name: (work / f"{name}.log").open("w") for name in names}
    started = time.monotonic()
    server = proc.python(
        "tests.bench.emulator",
        "--pods",
        str(pods),
        "--kubeconfig",
        str(kubeconfig),
        log=logs["emulator"],
    )
    try:
        assert server.stdout is not None
        if not server.stdout.readline().startswith(emulator.READY):
            raise RuntimeError(f"the emulator did not start; see {work / 'emulator.log'}")
        result: dict[str, Any] = {"seed_s": time.monotonic() - started}
        _say(f"{pods} pods: emulator seeded in {result['seed_s']:.1f} s; measuring sdgen")
        if peer_only:
            result["sdgen"] = sdgen_run.measure_first(kubeconfig, work, pods, logs["sdgen"])
        else:
            result["sdgen"] = sdgen_run.measure(
                kubeconfig, work, pods, plan(pods, quick), logs["sdgen"]
            )
        if sdgen_only:
            return result
        _say(f"{pods} pods: Prometheus's own kubernetes_sd on the same cluster (the peer)")
        result["peer"] = peer.measure(kubeconfig, work / "peer", logs["peer"])
        if peer_only:
            return result
        _say(f"{pods} pods: sdgen done; measuring the baseline")
        budget = baseline_budget(pods, quick)
        result["baseline"] = baseline.measure(kubeconfig, work, budget, logs["baseline"])
        result["follow"] = {}
        for layout, name in ((follow.Layout.PARTS, "parts"), (follow.Layout.LEGACY, "legacy")):
            _say(f"{pods} pods: Prometheus following sdgen's output, {layout}")
            with (
                (work / f"follow-{name}.log").open("w") as sdgen_log,
                (work / f"prometheus-{name}.log").open("w") as prometheus_log,
            ):
                result["follow"][name] = follow.measure(
                    kubeconfig,
                    work / f"follow-{name}",
                    pods,
                    layout,
                    max(4, plan(pods, quick).changes // 10),
                    {"sdgen": sdgen_log, "prometheus": prometheus_log},
                )
        return result
    finally:
        proc.stop(server)
        for log in logs.values():
            log.close()


def _in_process(results: dict[str, Any], quick: bool) -> None:
    _say("render + relabel in-process")
    results["render_inprocess"] = inprocess.measure(10_000, 3 if quick else 7)
    _say("funnel counts: a render cycle with and without them")
    results["funnel_cost"] = inprocess.funnel_cost(10_000, 3 if quick else 7)
    _say("explaining one object in-process")
    results["explain_inprocess"] = inprocess.measure_explain(10_000, 3 if quick else 7)
    _say("the ops port's HTML page in-process")
    results["page_inprocess"] = inprocess.measure_page(10_000, 3 if quick else 7)
    _say("sharding quality: targets per shard by scheme")
    results["shard_balance"] = shardbalance.measure(10_000)


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    parser.add_argument("--sizes", default="10000,100000", help="pod counts, comma-separated")
    parser.add_argument("--quick", action="store_true", help="fewer changes and cycles")
    parser.add_argument("--work", type=Path, help="keep logs and output here (default: temp)")
    parser.add_argument(
        "--peer-only",
        action="store_true",
        help="per size, only sdgen's first render and Prometheus's kubernetes_sd (the peer row)",
    )
    parser.add_argument(
        "--sdgen-only",
        action="store_true",
        help="per size, only sdgen's own rows (memory, first render, change latencies), and "
        "none of the sections after the sizes",
    )
    parser.add_argument(
        "--targets",
        default="1000,5000",
        help="config sizes in targets for the many-targets section, comma-separated ('' skips)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "quick": args.quick,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="sdgen-bench-") as tmp:
        work = args.work or Path(tmp)
        for pods in sizes:
            results["sizes"][str(pods)] = measure_size(
                pods, args.quick, work / str(pods), args.peer_only, args.sdgen_only
            )
        only = args.peer_only or args.sdgen_only
        if not only:
            _say("edit → file with and without 8 clients flooding /status")
            edits = 3 if args.quick else 10
            results["status_flood"] = status_flood.measure(5000, edits, 8, work / "status-flood")
            _say("200 tenant ConfigMaps of 5 targets over 10k pods (--configmap-selector)")
            tenant_work = work / "tenants"
            tenant_work.mkdir(parents=True, exist_ok=True)
            results["tenants"] = tenants.measure(10_000, 5 if args.quick else 20, tenant_work)
    if not only:
        _in_process(results, args.quick)
        if target_sizes := [int(s) for s in args.targets.split(",") if s]:
            _say("a config of many targets, in-process")
            edits = 5 if args.quick else 20
            results["many_targets"] = manytargets.measure_sizes(target_sizes, edits)
    results["machine"]["load_after"] = os.getloadavg()
    results["total_s"] = time.monotonic() - started
    table = rows(results)
    results["table"] = [row.as_dict() for row in table]
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(table))
    if "render_inprocess" in results:
        print("\nresolve + render, 10k targets, cProfile top by own time:")
        print("\n".join(f"  {line}" for line in results["render_inprocess"]["profile_top"]))
    if "shard_balance" in results:
        print("\n" + shardbalance.format_balance(results["shard_balance"]))
    print(f"\n{len(sizes)} size(s) in {results['total_s']:.0f} s; JSON in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
