"""Sharded sidecars over the emulator: `--shard-by namespace` with server-side sharding.

Each shard is a real `sdgen once` (and one `sdgen run` for /status and /metrics) against the
emulator with the ShardedListAndWatch gate on or off. Whatever the gate, the shards' targets
are disjoint and together are exactly what one unsharded sidecar writes; with the gate on the
API server did the filtering, and under `--server-side-sharding on` a server without the gate
is a clear failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdgen.k8s.shardrange import HashRange
from tests.bench import synth
from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO
from tests.support.sidecar import Ops, output_files, samples

# Names with different first letters: names alike but for the last characters (team-000,
# team-001) share FNV-1a's top bits and fall into one range (docs/architecture.md, Sharding).
NAMESPACES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
PODS = 240
STATIC = """\
  - targetName: static
    type: StaticEndpoints
    endpoints:
      - addresses: [{addresses}]
"""
Targets = set[tuple[str, str]]  # (scrape job, one file_sd group)


def cluster() -> Iterator[dict[str, Any]]:
    """The bench's synthetic pods, Services and EndpointSlices in NAMESPACES, and its config
    plus a StaticEndpoints target."""
    count = len(NAMESPACES)
    rename = {f"team-{n:03d}": name for n, name in enumerate(NAMESPACES)}
    yield synth.namespace(synth.CONFIG_NAMESPACE)
    yield from (synth.namespace(name) for name in NAMESPACES)
    static = ", ".join(f'"10.99.0.{i}:9100"' for i in range(1, 41))
    yield synth.configmap(synth.scrape_config() + STATIC.format(addresses=static))
    for first in range(0, PODS, synth.PODS_PER_DEPLOYMENT):
        deployment = first // synth.PODS_PER_DEPLOYMENT
        members = [synth.pod(i, count) for i in range(first, first + synth.PODS_PER_DEPLOYMENT)]
        made = [*members]
        if deployment % 3 == 0:  # more Services than the bench: slices in every namespace
            made += [synth.service(deployment, count), synth.endpoint_slice(deployment, members)]
        for obj in made:
            text = json.dumps(obj)
            for old, new in rename.items():
                text = text.replace(f'"{old}"', f'"{new}"')
            yield json.loads(text)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    fake = FakeAPI(list(cluster()))
    fake.start()
    yield fake
    fake.stop()


def once(api: FakeAPI, tmp: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], Targets]:
    out = tmp / "out"
    out.mkdir(parents=True)
    kubeconfig = tmp / "kubeconfig"
    api.write_kubeconfig(kubeconfig)
    args = ["--kubeconfig", str(kubeconfig), "--configmap", "monitoring/sdgen-config"]
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "once", "--output-dir", str(out), *args, *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    found = {
        (job.rsplit(".p", 1)[0], json.dumps(group, sort_keys=True))
        for job, text in output_files(out).items()
        for group in json.loads(text)
    }
    return done, found


def shard_flags(count: int, index: int, mode: str) -> list[str]:
    return [
        *("--shards", str(count), "--shard-index", str(index)),
        *("--shard-by", "namespace", "--server-side-sharding", mode),
    ]


def namespaces_of(targets: Targets) -> set[str]:
    return {json.loads(group)["labels"].get("namespace", "") for _, group in targets} - {""}


@pytest.mark.parametrize("count", [2, 4])
@pytest.mark.parametrize("gate", [True, False], ids=["gate on", "gate off"])
def test_namespace_shards_are_disjoint_and_add_up_to_the_whole(
    api: FakeAPI, tmp_path: Path, gate: bool, count: int
) -> None:
    done, whole = once(api, tmp_path / "whole")
    assert done.returncode == 0, done.stderr
    assert namespaces_of(whole) == set(NAMESPACES)
    assert any(job.startswith("static.") for job, _ in whole)
    api.sharded_list_watch = gate
    parts: list[Targets] = []
    for index in range(count):
        done, part = once(api, tmp_path / f"shard-{index}", *shard_flags(count, index, "auto"))
        assert done.returncode == 0, done.stderr
        owned = HashRange.of_shard(count, index)
        assert all(owned.holds(ns) for ns in namespaces_of(part))  # whole namespaces, its own
        parts.append(part)
    assert sum(len(p) for p in parts) == len(whole)  # disjoint ...
    assert set().union(*parts) == whole  # ... and complete
    assert sum(1 for p in parts if p) >= 2
    asked = [path for _, path in api.requests if "shardSelector=shardRange" in path]
    assert {p.split("?")[0] for p in asked} == {
        "/api/v1/pods",
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
    }


def test_on_without_the_gate_fails_clearly(api: FakeAPI, tmp_path: Path) -> None:
    done, found = once(api, tmp_path, *shard_flags(2, 0, "on"))
    assert done.returncode == 1 and not found
    assert "ignored shardSelector" in done.stderr
    assert "ShardedListAndWatch" in done.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shards", "2", "--server-side-sharding", "auto"], "needs --shard-by namespace"),
        (["--shard-by", "namespace", "--server-side-sharding", "on"], "needs --shards N"),
    ],
)
def test_server_side_sharding_needs_the_namespace_scheme(
    api: FakeAPI, tmp_path: Path, flags: list[str], message: str
) -> None:
    done, _ = once(api, tmp_path, *flags)
    assert done.returncode == 2 and message in done.stderr


def test_status_and_metrics_name_the_scheme_and_the_balance(api: FakeAPI, tmp_path: Path) -> None:
    api.sharded_list_watch = True
    kubeconfig = tmp_path / "kubeconfig"
    api.write_kubeconfig(kubeconfig)
    ops = Ops(tmp_path / "run", kubeconfig, *shard_flags(2, 1, "auto"))
    try:
        ops.until(lambda: ops.get("/readyz")[0] == 200 and ops.files(), what="first render")
        status = ops.status()
        assert status["sharding"] == {
            "scheme": "namespace",
            "shards": 2,
            "index": 1,
            "assignment": "shard 1 of 2 (FNV-1a 64 of the namespace, or of the final "
            "__address__ without one, in [0x8000000000000000, 0x10000000000000000))",
            "server_side": "auto",
            "range": ["0x8000000000000000", "0x10000000000000000"],
        }
        assert status["watches"]["pods/*"]["server_sharded"] is True
        assert status["watches"]["configmaps/monitoring"]["server_sharded"] is None
        written = sum(len(json.loads(text)) for text in ops.files().values())
        ops.until(lambda: _metric(ops, "sdgen_shard_targets") == written, what="balance")
        assert _metric(ops, "sdgen_informer_server_sharded", informer="pods/*") == 1
    finally:
        assert ops.terminate() == 0, ops.log


def _metric(ops: Ops, name: str, **labels: str) -> float | None:
    found = [
        v for (n, ls), v in samples(ops.port).items() if n == name and set(labels.items()) <= ls
    ]
    return found[0] if found else None


def test_a_running_sidecar_under_on_shows_the_refusal_and_stays_unready(
    api: FakeAPI, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    api.write_kubeconfig(kubeconfig)  # the gate is off
    ops = Ops(tmp_path / "run", kubeconfig, *shard_flags(2, 0, "on"))
    try:

        def refused() -> str:
            return str(ops.status()["watches"].get("pods/*", {}).get("last_error", ""))

        ops.until(lambda: "ignored shardSelector" in refused(), what="the refusal in /status")
        assert "ShardedListAndWatch" in refused()
        assert ops.status()["watches"]["pods/*"]["synced"] is False
        assert ops.get("/readyz")[0] != 200 and not ops.files()
        assert _metric(ops, "sdgen_informer_server_sharded", informer="pods/*") == 0
    finally:
        assert ops.terminate() == 0, ops.log
