"""sdgen as it was before per-job directories (`targets/<slug>.json` side by side), taken from
git history, for the migration test and the benchmark's side-by-side consumer cost."""

from __future__ import annotations

import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

from tests.support.helpers import REPO

# The last commit whose sdgen wrote targets/<slug>.json, all in one directory, through a
# temp file beside it.
LEGACY_REVISION = "10b5a0f4b1e485ff1bbe715ca3afb5856f3dc202"


def legacy_source(work: Path) -> Path:
    """A directory holding that revision's `sdgen` package, for PYTHONPATH."""
    target = work / "legacy-src"
    if not (target / "sdgen").is_dir():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", LEGACY_REVISION, "sdgen"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target


def legacy_environment(work: Path) -> dict[str, str]:
    """Environment variables that make `python -m sdgen` run that revision, from any working
    directory (PYTHONSAFEPATH: the working directory, a checkout of today's sdgen for the
    benchmark, is not put before PYTHONPATH)."""
    return {"PYTHONPATH": str(legacy_source(work)), "PYTHONSAFEPATH": "1"}
