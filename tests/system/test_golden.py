"""Golden output: `sdgen once` over a seeded emulator writes exactly the files under
tests/data/golden/<case>/ — target files, relabel files and scrape fragments, byte for byte.

The same output must come from `sdgen once --snapshot` over a `kubectl get … -o yaml` dump of
that cluster, which is what a pull-request preview runs.

Regenerate after an intended change with `SDGEN_REGENERATE_GOLDEN=1 make pytest
PYTEST_ARGS=tests/system/test_golden.py`, then review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import REPO

GOLDEN = REPO / "tests" / "data" / "golden"
CASES = {
    "examples": REPO / "examples" / "scrape_config.yaml",
    "corners": GOLDEN / "scrape_config.yaml",
}


@pytest.fixture
def seeded(fakeapi: Any) -> Any:
    for path in (REPO / "examples" / "cluster.yaml", GOLDEN / "cluster.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                fakeapi.create(obj)
    return fakeapi


# The API server assigns uids on create, so they differ from run to run.
UID = re.compile(rb'("__meta_kubernetes_pod_uid":)"[0-9a-f-]+"')


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): UID.sub(rb'\1"<uid>"', p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def sdgen_once(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdgen", "once", "--configmap", "monitoring/sdgen-config", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def check_golden(case: str, out: Path) -> None:
    expected_dir = GOLDEN / case
    if os.environ.get("SDGEN_REGENERATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, data in tree(out).items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_bytes(data)
    actual, expected = tree(out), tree(expected_dir)
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name].decode() == expected[name].decode(), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_once_matches_golden_files(
    case: str, seeded: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = sdgen_once(
        "--config-file",
        str(CASES[case]),
        "--kubeconfig",
        str(kubeconfig),
        "--keep-meta-labels",
        "--output-dir",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    check_golden(case, out)


def test_snapshot_gives_the_same_files(
    seeded: Any, kubeconfig: Path, tmp_path: Path, binaries: Any
) -> None:
    dump = subprocess.run(
        [
            str(binaries.kubectl),
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "pods,services,endpointslices,namespaces",
            "-A",
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    snapshot = tmp_path / "cluster-dump.yaml"
    snapshot.write_text(dump)
    out = tmp_path / "out"
    out.mkdir()
    done = sdgen_once(
        "--config-file",
        str(CASES["corners"]),
        "--snapshot",
        str(snapshot),
        "--keep-meta-labels",
        "--output-dir",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    check_golden("corners", out)
