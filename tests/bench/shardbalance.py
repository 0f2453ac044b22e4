"""Sharding quality on the bench cluster: targets per shard under `--shard-by address`
(hashmod of the address, the operator's scheme), `--shard-by namespace` with equal FNV-1a
ranges (what server-side sharding serves by default), and namespace with the balancing
`--shard-cuts` (`sdgen targets --shard-plan`). In-process and pure: the bench cluster is
resolved once, unsharded, with discovered labels, and each target counted where each
scheme puts it.

`python -m tests.bench.shardbalance [--pods N] [--shards 2,4,8]`

`python -m tests.bench.shardbalance fleet --pods N [--shards 4] [--cuts equal|balanced]`
measures real sidecars instead: the emulator (gate on) in its own process, then one
unsharded `sdgen run` and each of N `--shard-by namespace --server-side-sharding on` shards in
turn (one at a time, so that each is measured alone): first render (start until its first
render completed) and peak RSS, and the targets each wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sdgen.config.document import parse_config
from sdgen.k8s.metalabels import NAMESPACE
from sdgen.k8s.shardrange import hex_bound
from sdgen.prom.relabel import hashmod
from sdgen.resolve.resolver import Resolver
from sdgen.resolve.sharding import plan_shards
from tests.bench import emulator, inprocess, proc, sdgen_run, synth
from tests.support.helpers import free_port


def _spread(counts: list[int]) -> float:
    """The busiest shard's targets over an even share: 1.0 is perfectly even."""
    total = sum(counts)
    return max(counts) * len(counts) / total if total else 0.0


def measure(pods: int, shard_counts: tuple[int, ...] = (2, 4, 8)) -> dict[str, Any]:
    started = time.perf_counter()
    cluster = inprocess.static_cluster(pods)
    config = parse_config(synth.scrape_config(), source="bench")
    resolution = Resolver(default_namespace="default")(config, cluster)
    written = [
        (t.discovered.get(NAMESPACE) or None, t.address)
        for et in resolution.endpoints
        for t in et.targets
    ]
    result: dict[str, Any] = {
        "pods": pods,
        "targets": len(written),
        "namespaces": len({ns for ns, _ in written if ns}),
        "shards": {},
    }
    for count in shard_counts:
        by_address = Counter(hashmod(address, count) for _, address in written)
        address = [by_address[i] for i in range(count)]
        plan = plan_shards(written, count)
        result["shards"][str(count)] = {
            "address": address,
            "namespace_equal_ranges": list(plan.equal),
            "namespace_balanced": list(plan.balanced),
            "cuts": [hex_bound(cut) for cut in plan.cuts],
            "spread": {
                "address": _spread(address),
                "namespace_equal_ranges": _spread(list(plan.equal)),
                "namespace_balanced": _spread(list(plan.balanced)),
            },
        }
    result["seconds"] = time.perf_counter() - started
    return result


def format_balance(result: dict[str, Any]) -> str:
    """One line per shard count and scheme: the targets of each shard, and the spread."""
    lines = [
        f"targets per shard, {result['pods']} pods ({result['targets']} targets in "
        f"{result['namespaces']} namespaces); spread = busiest shard / even share:"
    ]
    for count, found in result["shards"].items():
        for scheme in ("address", "namespace_equal_ranges", "namespace_balanced"):
            counts = " ".join(f"{n:>6}" for n in found[scheme])
            spread = found["spread"][scheme]
            lines.append(f"  {count} shards, {scheme:<23} {counts}   spread {spread:.2f}")
    return "\n".join(lines)


def fleet(pods: int, count: int, cuts: str, work: Path) -> dict[str, Any]:
    """Per shard of `count` server-side shards (and unsharded, as "all"): first render,
    peak RSS, targets written."""
    work.mkdir(parents=True, exist_ok=True)
    kubeconfig = work / "kubeconfig"
    with (work / "emulator.log").open("w") as log:
        server = proc.python(
            "tests.bench.emulator",
            *("--pods", str(pods), "--kubeconfig", str(kubeconfig), "--sharded-list-watch"),
            log=log,
        )
    try:
        assert server.stdout is not None
        if not server.stdout.readline().startswith(emulator.READY):
            raise RuntimeError(f"the emulator did not start; see {work / 'emulator.log'}")
        flags: dict[str, list[str]] = {"all": []}
        cut_flag = []
        if cuts == "balanced":
            plan = measure(pods, (count,))["shards"][str(count)]
            cut_flag = ["--shard-cuts", ",".join(plan["cuts"])]
        for index in range(count):
            flags[str(index)] = [
                *("--shards", str(count), "--shard-index", str(index)),
                *("--shard-by", "namespace", "--server-side-sharding", "on", *cut_flag),
            ]
        return {
            "pods": pods,
            "cuts": cuts,
            "shards": {name: _one(kubeconfig, work / name, extra) for name, extra in flags.items()},
        }
    finally:
        proc.stop(server)


def _one(kubeconfig: Path, work: Path, extra: list[str]) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    with (work / "sdgen.log").open("w") as log:
        sdgen = sdgen_run.Sdgen(kubeconfig, work, free_port(), log, extra)
        try:
            proc.poll(lambda: _rendered(sdgen), 600, interval=0.01)
            first = time.monotonic() - sdgen.started
            return {
                "first_render_s": first,
                "peak_rss_mb": proc.memory_mb(sdgen.pid)["VmHWM"],
                "targets": sdgen.metric("sdgen_targets{"),
                "objects": sdgen.metric("sdgen_informer_objects{"),
            }
        finally:
            sdgen.stop()


def _rendered(sdgen: sdgen_run.Sdgen) -> bool:
    if sdgen.process.poll() is not None:
        raise RuntimeError(f"sdgen exited with {sdgen.process.returncode}")
    try:
        return sdgen.renders() >= 1
    except OSError:  # not listening yet
        return False


def format_fleet(result: dict[str, Any]) -> str:
    lines = [f"{result['pods']} pods, server-side shards ({result['cuts']} ranges), one at a time:"]
    for name, found in result["shards"].items():
        lines.append(
            f"  shard {name:>3}: first render {found['first_render_s']:6.1f} s, peak RSS "
            f"{found['peak_rss_mb']:6.0f} MB, {found['targets']:.0f} targets, "
            f"{found['objects']:.0f} cached objects"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.shardbalance", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["balance", "fleet"], default="balance")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--shards", default="2,4,8", help="shard counts, comma-separated")
    parser.add_argument("--cuts", choices=["equal", "balanced"], default="balanced")
    parser.add_argument("--json", action="store_true", help="print the raw JSON too")
    args = parser.parse_args(argv)
    counts = tuple(int(n) for n in args.shards.split(",") if n)
    if args.mode == "fleet":
        with tempfile.TemporaryDirectory(prefix="sdgen-fleet-") as tmp:
            found = fleet(args.pods, counts[-1] if counts else 4, args.cuts, Path(tmp))
        print(format_fleet(found))
    else:
        found = measure(args.pods, counts)
        print(format_balance(found))
    if args.json:
        print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
