"""`sdgen diff` on the corner-case cluster: a golden table of edits of the corner-case config
(tests/data/golden/scrape_config.yaml), each diffed against the unedited config.

Each case's text report and exit code are kept in tests/data/golden/diff/<case>.txt; the JSON
report is checked beside it. The cases run offline on a dump of the seed clusters, as a CI job
does; one runs against the live emulator with OLD taken from the ConfigMap, and one takes OLD
from a dump that holds the ConfigMap. Regenerate with SDGEN_REGENERATE_GOLDEN=1, then review.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import REPO

GOLDEN = REPO / "tests" / "data" / "golden"
CONFIG = (GOLDEN / "scrape_config.yaml").read_text()
CONFIGMAP = "monitoring/sdgen-config"

ADDED = """\
  - targetName: extra-static
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.50:9100"
"""

# case → (edit of the corner-case config, expected exit code)
CASES: dict[str, tuple[str, int]] = {
    "no-change": (CONFIG, 0),
    "added": (CONFIG + ADDED, 1),
    "removed": (
        CONFIG.replace("targetName: db-pods", "targetName: db-pods\n    enabled: false"),
        1,
    ),
    "changed": (
        CONFIG.replace("interval: 10s", "interval: 15s").replace(
            "targetLabel: ready", "targetLabel: is_ready"
        ),
        1,
    ),
    "invalid-target": (CONFIG.replace("interval: 10s", "interval: soon"), 2),
    "invalid-config": (CONFIG + "  - [this is not a target\n", 2),
}


def sdgen_diff(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "sdgen", "diff", "--configmap", CONFIGMAP, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def configmap(text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "sdgen-config", "namespace": "monitoring"},
        "data": {"scrape_config.yaml": text},
    }


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """The seed clusters as one dump (what `kubectl get … -A -o yaml` gives)."""
    path = tmp_path / "dump.yaml"
    seeds = [
        (REPO / "examples" / "cluster.yaml").read_text(),
        (GOLDEN / "cluster.yaml").read_text(),
    ]
    path.write_text("\n---\n".join(seeds))
    return path


def check_golden(case: str, done: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    # file names are temporary: shown as the case's names
    report = done.stdout.replace(str(tmp_path) + "/", "")
    actual = f"exit {done.returncode}\n{report}"
    golden = GOLDEN / "diff" / f"{case}.txt"
    if os.environ.get("SDGEN_REGENERATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text(), done.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_diff_matches_golden(case: str, dump: Path, tmp_path: Path) -> None:
    edited, code = CASES[case]
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(CONFIG)
    new.write_text(edited)
    common = ("--from", str(old), str(new), "--snapshot", str(dump))
    done = sdgen_diff(*common)
    assert done.returncode == code, done.stderr
    check_golden(case, done, tmp_path)
    document = json.loads(sdgen_diff(*common, "--output", "json").stdout)
    assert set(document) == {"targets", "jobs", "issues"}
    assert bool(document["targets"] or any(document["jobs"].values())) == (code == 1)
    assert any(i["severity"] == "error" for i in document["issues"]) == (code == 2)


def test_json_names_added_removed_and_changed_targets(dump: Path, tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(CONFIG)
    new.write_text(CASES["added"][0])
    done = sdgen_diff("--from", str(old), str(new), "--snapshot", str(dump), "--output", "json")
    document = json.loads(done.stdout)
    assert document["targets"] == {
        "extra-static": {"added": ["192.0.2.50:9100"], "removed": [], "changed": []}
    }
    assert [j.split(".")[0] for j in document["jobs"]["added"]] == ["extra-static"]
    new.write_text(CASES["changed"][0])
    done = sdgen_diff("--from", str(old), str(new), "--snapshot", str(dump), "--output", "json")
    document = json.loads(done.stdout)
    changed = document["targets"]["db-service"]["changed"]
    assert {c["address"] for c in changed} == {
        "10.1.0.5:9187",
        "10.1.0.6:9187",
        "10.1.0.9:9187",
        "10.1.0.20:9187",
    }
    assert changed[0]["labels"]["ready"][1] is None  # the label is gone on the new side
    assert changed[0]["labels"]["is_ready"][0] is None
    [job] = document["jobs"]["changed"]
    assert job["fields"] == {"scrape_interval": ["10s", "15s"]}


def test_invalid_new_is_located_as_sdgen_check_locates_it(dump: Path, tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(CONFIG)
    new.write_text(CASES["invalid-target"][0])
    done = sdgen_diff("--from", str(old), str(new), "--snapshot", str(dump), "--output", "json")
    assert done.returncode == 2
    [issue] = [i for i in json.loads(done.stdout)["issues"] if i["severity"] == "error"]
    line = CONFIG.splitlines().index("        interval: 10s") + 1
    assert (issue["file"], issue["line"]) == (str(new), line)
    assert issue["path"] == "targets[2].endpoints[0].interval"
    checked = subprocess.run(
        [sys.executable, "-m", "sdgen", "check", str(new)], capture_output=True, text=True, cwd=REPO
    )
    assert f"{new}:{line}: targets[2].endpoints[0].interval" in checked.stdout


def test_offline_old_comes_from_the_configmap_in_the_dump(dump: Path, tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(configmap(CASES["added"][0])))  # NEW as a manifest
    done = sdgen_diff(str(new), "--snapshot", str(dump))
    assert done.returncode == 2, done.stdout  # no ConfigMap in the dump: asks for --from
    assert "--from" in done.stderr
    with dump.open("a") as stream:
        stream.write("\n---\n" + yaml.safe_dump(configmap(CONFIG)))
    done = sdgen_diff(str(new), "--snapshot", str(dump), "--output", "json")
    assert done.returncode == 1, done.stderr
    assert list(json.loads(done.stdout)["targets"]) == ["extra-static"]
    # without --configmap: the dump's sdgen-config, whatever its namespace
    args = ["diff", str(new), "--snapshot", str(dump), "--output", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", *args], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 1, done.stderr
    assert list(json.loads(done.stdout)["targets"]) == ["extra-static"]


def test_live_old_is_the_configmap_in_the_cluster(
    fakeapi: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    for path in (REPO / "examples" / "cluster.yaml", GOLDEN / "cluster.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                fakeapi.create(obj)
    fakeapi.create(configmap(CONFIG))
    new = tmp_path / "new.yaml"
    new.write_text(CASES["removed"][0])
    done = sdgen_diff(str(new), "--kubeconfig", str(kubeconfig), "--output", "markdown")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("**sdgen diff**: 0 target(s) added, 1 removed, 0 changed;")
    new.write_text(CONFIG)
    done = sdgen_diff(str(new), "--kubeconfig", str(kubeconfig))
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"+++ {new}\n")  # nothing below the header


def test_new_is_read_with_the_sidecars_file_rules(dump: Path, tmp_path: Path) -> None:
    """A credentials file outside --allowed-file-prefixes rejects its target in NEW, as
    `sdgen run` and `sdgen check` with that flag would; without the flag it is a warning."""
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(CONFIG)
    tls = "        tlsConfig:\n          caFile: /etc/prometheus/secrets/ca.crt\n"
    new.write_text(CONFIG + ADDED + tls)
    common = ("--from", str(old), str(new), "--snapshot", str(dump), "--output", "json")
    allowed = sdgen_diff(*common)
    assert allowed.returncode == 1, allowed.stderr
    severities = {i["severity"] for i in json.loads(allowed.stdout)["issues"]}
    assert severities == {"warning"}
    refused = sdgen_diff(*common, "--allowed-file-prefixes", "/var/run/secrets")
    assert refused.returncode == 2, refused.stderr
    [issue] = [i for i in json.loads(refused.stdout)["issues"] if i["severity"] == "error"]
    assert issue["path"].endswith("tlsConfig.caFile")
