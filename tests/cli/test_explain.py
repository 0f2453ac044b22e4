"""`sdgen explain` as a user runs it: offline from a cluster dump, text and JSON, its exit
codes, and the file it names is the one `sdgen targets` names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import test_main
from tests.cli.test_main import CORNERS, sdgen

dump = test_main.snapshot  # the seed clusters as a dump, a fixture

CONFIG = str(CORNERS / "scrape_config.yaml")


def explain(dump: Path, tmp: Path, *args: str) -> Any:
    return sdgen("explain", "--config-file", CONFIG, "--snapshot", str(dump), *args, tmp=tmp)


def test_an_object_that_is_scraped_exits_0_with_every_stage_and_candidate(
    dump: Path, tmp_path: Path
) -> None:
    done = explain(dump, tmp_path, "db-service", "--object", "SVC/corners/db", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["target"] == "db-service"
    assert answer["object"] == "service/corners/db"
    assert [s["stage"] for s in answer["stages"]] == [
        "namespaces_selected",
        "objects_selected",
        "candidates",
        "dropped_by_relabel",
        "dropped_by_shard",
        "written",
    ]
    assert all(s["passed"] for s in answer["stages"])
    first = answer["candidates"][0]
    assert {"address", "outcome", "dropped_by", "trace", "labels", "file"} <= first.keys()
    assert first["trace"] == [
        {
            "list": "relabelings",
            "index": 0,
            "action": "replace",
            "changed": {"ready": [None, "true"]},
        }
    ]
    # the file is the one `sdgen targets` names for the same target
    listing = sdgen(
        "targets", "--config-file", CONFIG, "--snapshot", str(dump), "--json", tmp=tmp_path
    )
    files = {
        (row["address"], json.dumps(row["labels"], sort_keys=True)): row["file"]
        for row in json.loads(listing.stdout)["targets"]
        if row["target"] == "db-service"
    }
    for candidate in answer["candidates"]:
        key = (candidate["address"], json.dumps(candidate["labels"], sort_keys=True))
        assert files[key] == candidate["file"]
    assert len(answer["candidates"]) == len(files)

    text = explain(dump, tmp_path, "db-service", "--object", "svc/corners/db")
    assert text.returncode == 0, text.stderr
    assert "ok   objects_selected (2): selected by monitored=yes" in text.stdout
    assert 'relabelings[0] (replace): ready: (none) → "true"' in text.stdout


def test_an_object_that_is_not_scraped_exits_1_and_says_why(dump: Path, tmp_path: Path) -> None:
    done = explain(dump, tmp_path, "db-pods", "--object", "pod/corners/agent-x7k2p")
    assert done.returncode == 1, done.stderr
    assert (
        "FAIL objects_selected (0): matchLabels app.kubernetes.io/name='db': "
        "the object has app.kubernetes.io/name='agent'"
    ) in done.stdout


def test_without_an_object_it_shows_the_targets_funnel(dump: Path, tmp_path: Path) -> None:
    done = explain(dump, tmp_path, "db-service", "--json", "--shards", "2")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    counts = {s["stage"]: s.get("count") for s in answer["stages"]}
    assert counts == {
        "namespaces_selected": 1,
        "objects_selected": 2,
        "candidates": 8,
        "dropped_by_relabel": 0,
        "dropped_by_shard": 4,
        "written": 4,
    }
    assert answer["object"] is None and answer["candidates"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "no target 'nope' in the config"),
        (("db-pods", "--object", "pod/corners/nope"), "pod corners/nope is not in the cache"),
        (("db-pods", "--object", "deploy/corners/db"), "unknown kind 'deploy'"),
        (("db-pods", "--object", "pod/db-0"), "expected KIND/NAMESPACE/NAME"),
        (("db-pods", "--object", "pod/a/b", "--address", "1.2.3.4:5"), "not allowed with"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    dump: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = explain(dump, tmp_path, *args)
    assert done.returncode == 2
    assert message in done.stderr
