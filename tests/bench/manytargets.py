"""`python -m tests.bench.manytargets [--sizes 1000,2500,5000,10000] [--edits 20]`: a config
with thousands of targets (issue 17, item 8: a cache sized 4,096 stopped hitting above that
many endpoints).

Per size, in-process over a small StaticCluster (the cost measured is the config's, not the
cluster's): the parse of the whole config text, the first render, an unchanged re-render (a
cluster version bump with nothing changed: resolve + render + sync of every endpoint), and
ConfigMap edit → file: one target's text changes, and the cycle that writes its file (parse,
resolve, render, write) is timed. Each number should stay flat, or grow no faster than the
config, as the config grows; a cliff shows as a jump between sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sdgen.config.document import parse_config
from sdgen.k8s.view import Cluster, ClusterNeeds, StaticCluster
from sdgen.output import naming
from sdgen.output.outputdir import OutputDir
from sdgen.runtime.cycle import Cycle, Options, Outcome
from sdgen.runtime.source import ConfigText, text_version
from tests.bench import inprocess, synth

PODS = 200  # a small cluster: every tenth target is a PodMonitor over all of it
POD_EVERY = 10


def target_text(i: int, revision: int = 0) -> str:
    """Target i (about 300 bytes; 5,000 of them make a 1.5 MB config): mostly
    StaticEndpoints with two relabel rules each, every tenth a PodMonitor over every pod. Each
    PodMonitor scrapes its own path: the same address and path scraped twice is a lint warning
    per pair of endpoints, which no real config has hundreds of thousands of."""
    if i % POD_EVERY == 0:
        return f"""\
  - targetName: pods-{i:05d}
    type: PodMonitor
    namespaceSelector: {{any: true}}
    selector:
      matchLabels: {{{synth.SCRAPE_LABEL}: "true"}}
    endpoints:
      - port: metrics
        path: /metrics/{i}
        relabelings:
          - {{targetLabel: copy, replacement: "c{i}-r{revision}"}}
"""
    return f"""\
  - targetName: static-{i:05d}
    type: StaticEndpoints
    endpoints:
      - addresses: ["10.{i >> 8 & 255}.{i & 255}.1:9100", "10.{i >> 8 & 255}.{i & 255}.2:9100"]
        interval: 30s
        relabelings:
          - {{targetLabel: team, replacement: "team-{i % 13}-r{revision}"}}
          - {{sourceLabels: [__address__], regex: "(.*):9100", targetLabel: host}}
"""


def config_text(targets: int, revisions: dict[int, int] | None = None) -> str:
    revisions = revisions or {}
    body = "".join(target_text(i, revisions.get(i, 0)) for i in range(targets))
    return f"scrapingInterval: 30s\ntargets:\n{body}"


class _Text:
    """A config source over a string the bench edits (the ConfigMap informer's store, without
    the informer)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self) -> ConfigText:
        return ConfigText(self.text, "bench", text_version(self.text.encode()))

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ensure_alive(self) -> None: ...
    def synced(self) -> bool:
        return True

    def healthy(self) -> bool:
        return True


class _Bumped:
    """A fixed cluster whose version the bench bumps: a cycle that must resolve and render
    again although nothing changed."""

    def __init__(self, cluster: StaticCluster) -> None:
        self._cluster = cluster
        self.bumps = 0

    def ensure(self, needed: ClusterNeeds) -> None: ...
    def synced(self) -> bool:
        return True

    def cluster(self) -> Cluster:
        return self._cluster

    def version(self) -> object:
        return self.bumps

    def stalled(self) -> list[str]:
        return []

    def stop(self) -> None: ...


def _timed(run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def measure(targets: int, edits: int, cluster: StaticCluster, work: Path) -> dict[str, Any]:
    text = config_text(targets)
    parse_s, config = _timed(lambda: parse_config(text, source="bench"))
    if len(config.targets) != targets or config.issues:
        raise RuntimeError(f"bench config: {len(config.targets)} targets, {config.issues[:3]}")
    work.mkdir(parents=True)
    output = OutputDir(work)
    output.prepare()
    source, clusters = _Text(text), _Bumped(cluster)
    cycle = Cycle(source, clusters, output, Options(default_namespace="default"))
    first_s, result = _timed(cycle.run)
    assert result.outcome is Outcome.RENDERED and not result.sync_errors, result
    rerender: list[float] = []
    for _ in range(3):
        clusters.bumps += 1
        took, result = _timed(cycle.run)
        assert result.outcome is Outcome.RENDERED and not result.sync.written, result.sync
        rerender.append(took)
    edit_s: list[float] = []
    revisions: dict[int, int] = {}
    for n in range(edits):
        i = (n * 7919 + 1) % targets  # spread over the config, statics and pods alike
        revisions[i] = revisions.get(i, 0) + 1
        source.text = config_text(targets, revisions)
        name = f"{'pods' if i % POD_EVERY == 0 else 'static'}-{i:05d}"
        took, result = _timed(cycle.run)
        stem = naming.target_prefix(name)
        assert any(p.startswith(f"targets/{stem}") for p in result.sync.written), name
        edit_s.append(took)
    return {
        "targets": targets,
        "config_bytes": len(text.encode()),
        "parse_s": parse_s,
        "first_render_s": first_s,
        "unchanged_rerender_s": statistics.median(rerender),
        "edit_to_file_p50_s": statistics.median(edit_s),
        "edit_to_file_max_s": max(edit_s),
    }


def measure_sizes(sizes: list[int], edits: int) -> list[dict[str, Any]]:
    """`measure` at each size, over one small cluster, each in a fresh output directory."""
    cluster = inprocess.static_cluster(PODS)
    results = []
    with tempfile.TemporaryDirectory(prefix="sdgen-bench-targets-") as tmp:
        for size in sizes:
            results.append(measure(size, edits, cluster, Path(tmp) / str(size)))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def format_results(results: list[dict[str, Any]]) -> str:
    lines = ["targets  config MB  parse s  first s  unchanged s  edit→file p50 s  max s"]
    lines += [
        f"{r['targets']:>7}  {r['config_bytes'] / 1e6:>9.2f}  {r['parse_s']:>7.3f}  "
        f"{r['first_render_s']:>7.3f}  {r['unchanged_rerender_s']:>11.3f}  "
        f"{r['edit_to_file_p50_s']:>15.3f}  {r['edit_to_file_max_s']:>5.3f}"
        for r in results
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.manytargets", description=__doc__)
    parser.add_argument("--sizes", default="1000,2500,5000,10000", help="target counts")
    parser.add_argument("--edits", type=int, default=20, help="edits timed per size")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = measure_sizes([int(s) for s in args.sizes.split(",") if s], args.edits)
    print(format_results(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
