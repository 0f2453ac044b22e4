"""Sharding quality on the bench cluster: targets per shard under `--shard-by address`
(hashmod of the address, the operator's scheme), `--shard-by namespace` with equal FNV-1a
ranges (what server-side sharding serves by default), and namespace with the balancing
`--shard-cuts` (`sdgen targets --shard-plan`). In-process and pure: the bench cluster is
resolved once, unsharded, with discovered labels, and each target counted where each
scheme puts it.

`python -m tests.bench.shardbalance [--pods N] [--shards 2,4,8]`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from sdgen.config.document import parse_config
from sdgen.k8s.metalabels import NAMESPACE
from sdgen.k8s.shardrange import hex_bound
from sdgen.prom.relabel import hashmod
from sdgen.resolve.resolver import Resolver
from sdgen.resolve.sharding import plan_shards
from tests.bench import inprocess, synth


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.shardbalance", description=__doc__)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--shards", default="2,4,8", help="shard counts, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the raw JSON too")
    args = parser.parse_args(argv)
    found = measure(args.pods, tuple(int(n) for n in args.shards.split(",") if n))
    print(format_balance(found))
    if args.json:
        print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
