"""Crash safety: kill -9 at random moments during heavy churn never leaves a half-written or
orphaned file, and a restarted sidecar converges.

After every kill each `*.json`/`*.yml` must be a complete file sdgen wrote: newline-terminated
and parsing; relabel and scrape files (which depend only on the config) must equal, byte for
byte, what sdgen renders for one of the configs the driver applied; file_sd files must be
whole file_sd documents of the config's jobs; every file must be listed in the ownership
manifest. CI kills 10 times (SDGEN_CRASH_KILLS; `make soak` 50); the seed replays with
SDGEN_CRASH_SEED.
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

from sdgen.config.document import parse_config
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.output.outputdir import MANIFEST, STAGING
from sdgen.resolve.resolver import resolve
from tests.fakeapi import FakeAPI
from tests.support.chaos import CONFIGMAP, Driver, Sdgen, render_once, seed_from_env, tree
from tests.support.helpers import wait_for


@functools.cache
def config_files(text: str) -> dict[str, bytes]:
    """The relabel and scrape files sdgen renders for this config (they need no cluster)."""
    config = parse_config(text, source="chaos")
    if not config.usable:
        return {}
    resolution = resolve(config, StaticCluster.from_objects(), default_namespace=CONFIGMAP[0])
    rendered = render.render(resolution.endpoints).items()
    return {relpath: data for relpath, data in rendered if not relpath.startswith("targets/")}


def allowed_files(texts: list[str]) -> dict[str, set[bytes]]:
    """relpath → every relabel/scrape file sdgen may have written for one of these configs."""
    allowed: dict[str, set[bytes]] = defaultdict(set)
    for text in texts:
        for relpath, data in config_files(text).items():
            allowed[relpath].add(data)
    return allowed


def check_whole(out: Path, allowed: dict[str, set[bytes]]) -> int:
    """Asserts every output file is complete and sdgen's; returns how many were checked."""
    manifest = out / MANIFEST
    owned = set(json.loads(manifest.read_bytes())["files"]) if manifest.exists() else set()
    checked = 0
    paths = [*out.glob("targets/*/targets.json"), *out.glob("relabel/*"), *out.glob("scrape/*")]
    for path in sorted(paths):  # temp files live in .staging/, where no glob looks
        relpath, data = str(path.relative_to(out)), path.read_bytes()
        assert relpath in owned, f"{relpath} is not in the manifest (orphaned)"
        assert data.endswith(b"\n"), f"{relpath} is cut short: {data[-80:]!r}"
        if relpath.startswith("targets/"):
            groups = json.loads(data)
            assert all(set(g) == {"targets", "labels"} and g["targets"] for g in groups)
        else:
            yaml.safe_load(data)
            assert data in allowed[relpath], f"{relpath} is no version sdgen wrote: {data!r}"
        checked += 1
    return checked


def test_kill_9_during_churn_never_leaves_a_broken_file(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    kills = int(os.environ.get("SDGEN_CRASH_KILLS", "10"))
    seed = seed_from_env("SDGEN_CRASH_SEED")
    print(f"crash seed {seed} (replay: SDGEN_CRASH_SEED={seed}), {kills} kills")
    rng = random.Random(seed)
    driver = Driver(fakeapi, random.Random(rng.random()))
    driver.seed()
    out, log = tmp_path / "out", tmp_path / "run.log"
    stop = threading.Event()

    def churn() -> None:
        while not stop.wait(0.002):
            driver.step()

    churner = threading.Thread(target=churn, name="churn")
    churner.start()
    checked = interrupted = 0
    started = time.monotonic()
    try:
        for _ in range(kills):
            writes = log.read_text().count("files updated") if log.exists() else 0
            run = Sdgen("run", out, kubeconfig, log)

            def wrote(run: Sdgen = run, before: int = writes) -> bool:
                return run.log.count("files updated") > before

            if rng.random() < 0.75:  # mostly while it writes; else anywhere, startup included
                _poll(wrote, 10)
            time.sleep(rng.uniform(0, 1.5))  # the random moment of the crash
            run.kill()
            checked += check_whole(out, allowed_files(list(driver.configs)))
            interrupted += len([p for p in out.rglob(".*") if ".tmp-" in p.name])
    finally:
        stop.set()
        churner.join()
    assert checked, "some kill came after sdgen had written files"
    operations = sum(driver.counts.values())
    elapsed = time.monotonic() - started
    print(f"{kills} kills in {elapsed:.0f} s: {checked} files checked, {interrupted} temp files")
    print(f"{operations} operations: {dict(sorted(driver.counts.items()))}")

    driver.finish()
    run = Sdgen("run", out, kubeconfig, log)
    try:
        expected = render_once(kubeconfig, tmp_path / "once", tmp_path / "once.log")
        try:
            wait_for(lambda: tree(out) == expected, 90, 0.2)
        except AssertionError:
            raise AssertionError(f"seed {seed}: no convergence\n{run.log[-5000:]}") from None
        print(f"converged {time.monotonic() - started:.0f} s after the start")
        leftovers = [p.name for p in out.rglob(".*") if p.name not in (MANIFEST, STAGING)]
        assert leftovers == [], "the restarted sidecar removes interrupted writes' temp files"
    finally:
        assert run.terminate() == 0


def _poll(predicate: Callable[[], bool], timeout: float) -> None:
    """Waits until predicate() or timeout, whichever comes first (no failure either way)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
