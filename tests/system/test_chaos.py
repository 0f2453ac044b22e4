"""Chaos convergence: `sdgen run` under sustained random cluster churn and API faults ends up
byte for byte where a fresh `sdgen once` over the final cluster state lands.

CI runs ~25 s of chaos (SDGEN_CHAOS_SECONDS); `make soak` runs 10 minutes. The seed is printed
and replays with SDGEN_CHAOS_SEED. The convergence bound covers two of sdgen's longest backoffs
(30 s each, like client-go's): a watch retrying after the last fault can come back to find its
history compacted (410) and back off once more before it relists.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

from tests.fakeapi import FakeAPI
from tests.support.chaos import Driver, FaultInjector, Sdgen, render_once, seed_from_env, tree
from tests.support.helpers import wait_for

CONVERGENCE_SECONDS = 90.0


def test_sdgen_converges_to_a_fresh_render_after_chaos(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    seconds = float(os.environ.get("SDGEN_CHAOS_SECONDS", "25"))
    seed = seed_from_env("SDGEN_CHAOS_SEED")
    print(f"chaos seed {seed} (replay: SDGEN_CHAOS_SEED={seed}), {seconds:.0f} s")
    rng = random.Random(seed)
    driver = Driver(fakeapi, random.Random(rng.random()))
    faults = FaultInjector(fakeapi, random.Random(rng.random()))
    driver.seed()
    run = Sdgen("run", tmp_path / "run", kubeconfig, tmp_path / "run.log")
    try:
        stop = threading.Event()
        injector = threading.Thread(target=faults.run, args=(stop, 1.5), name="faults")
        injector.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            driver.step()
            time.sleep(driver.rng.uniform(0, 0.01))  # pacing: a few hundred operations/s
        stop.set()
        injector.join()
        driver.finish()
        operations, injected = sum(driver.counts.values()), sum(faults.counts.values())
        print(f"operations {operations}: {dict(sorted(driver.counts.items()))}")
        print(f"faults {injected}: {dict(sorted(faults.counts.items()))}")

        expected = render_once(kubeconfig, tmp_path / "once", tmp_path / "once.log")
        assert expected, "the final state renders something (a config always has a target)"
        quiet = time.monotonic()
        try:
            wait_for(lambda: tree(run.out) == expected, CONVERGENCE_SECONDS, 0.2)
        except AssertionError:
            diff = _diff(tree(run.out), expected)
            raise AssertionError(
                f"seed {seed}: not converged after {CONVERGENCE_SECONDS} s: {diff}\n"
                f"--- sdgen run log (tail) ---\n{run.log[-6000:]}"
            ) from None
        print(f"converged {time.monotonic() - quiet:.1f} s after the faults, {len(expected)} files")
        assert run.proc.poll() is None, "sdgen run survived the chaos"
    finally:
        assert run.terminate() == 0, run.log[-3000:]


def _diff(actual: dict[str, bytes], expected: dict[str, bytes]) -> str:
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    changed = sorted(k for k in actual.keys() & expected.keys() if actual[k] != expected[k])
    details = [f"{k}:\n  run:  {actual[k][:300]!r}\n  once: {expected[k][:300]!r}" for k in changed]
    return f"missing {missing}, extra {extra}, different {changed}\n" + "\n".join(details)
