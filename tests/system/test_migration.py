"""The first run over an output directory in the layout before per-job directories migrates it
with a real Prometheus following along: its active target count never drops, the old files are
gone at the end, and only the reloads the migration needs are asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.helpers import REPO, wait_for
from tests.support.legacy import legacy_environment
from tests.support.sidecar import SidecarProcess

ADDRESSES = [f"127.0.0.1:{port}" for port in range(1, 7)]  # nothing listens: targets are down
CONFIG = yaml.safe_dump(
    {
        "targets": [
            {
                "targetName": "web",
                "type": "StaticEndpoints",
                "endpoints": [{"addresses": ADDRESSES[:4]}, {"addresses": ADDRESSES[4:]}],
            },
            {"targetName": "db", "type": "StaticEndpoints", "endpoints": [{"address": "db:9"}]},
        ]
    }
)
TARGETS = len(ADDRESSES) + 1


def once(out: Path, config: Path, cwd: Path, env: dict[str, str]) -> None:
    command = ["once", "--config-file", str(config), "--output-dir", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sdgen", *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "KUBECONFIG": "/nonexistent", **env},
    )
    assert result.returncode == 0, result.stderr


def old_layout(out: Path, config: Path, work: Path) -> None:
    """What the sdgen before per-job directories wrote for `config`."""
    once(out, config, REPO, legacy_environment(work))


def active(prom: Any) -> list[str]:
    """The scrape pool of each active target."""
    return [t["scrapePool"] for t in prom.targets()["activeTargets"]]


def test_migration_never_drops_a_target_and_removes_the_old_files(
    tmp_path: Path, prometheus: Callable[..., Any]
) -> None:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    old_layout(out, config, tmp_path)
    old_files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert len(list(out.glob("targets/*.json"))) == 3  # one file per endpoint, side by side

    prom = prometheus(yaml.safe_dump({"scrape_config_files": [f"{out}/scrape/*.yml"]}))
    wait_for(lambda: len(active(prom)) == TARGETS, 30, 0.1, "Prometheus follows the old layout")

    reload = f"{prom.url}/-/reload"
    run = SidecarProcess(tmp_path, ["--config-file", str(config), "--reload-url", reload])
    try:
        counts = []

        def migrated() -> bool:
            pools = active(prom)
            counts.append(len(pools))
            new = list(out.glob("targets/*/targets.json"))
            left = [f for f in old_files if (out / f).exists() and f != ".sdgen-owned.json"]
            on_new_jobs = len(pools) == TARGETS and all(pool.endswith(".p0") for pool in pools)
            return len(new) == 3 and not left and on_new_jobs

        deadline = time.monotonic() + 60
        while not migrated():
            assert time.monotonic() < deadline, f"not migrated:\n{run.log[-3000:]}"
        assert min(counts) >= TARGETS, f"Prometheus lost targets during the migration: {counts}"
        assert max(counts) == 2 * TARGETS, "Prometheus ran the old and the new jobs for a while"
        assert "removing the old files" in run.log
    finally:
        assert run.terminate() == 0


def test_a_fresh_directory_has_nothing_to_migrate(tmp_path: Path) -> None:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    once(out, config, REPO, {})
    assert sorted(p.parent.name.rpartition(".")[2] for p in out.glob("targets/*/targets.json")) == [
        "p0",
        "p0",
        "p0",
    ]
