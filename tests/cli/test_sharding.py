"""The sharding flags as a user meets them: `--shard-cuts` and `sdgen targets --shard-plan`,
offline from a cluster dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdgen.k8s.shardrange import HashRange
from tests.cli import test_main
from tests.cli.test_main import CORNERS, sdgen

dump = test_main.snapshot  # the seed clusters as a dump, a fixture

CONFIG = str(CORNERS / "scrape_config.yaml")


def targets(dump: Path, tmp: Path, *args: str) -> tuple[int, str, str]:
    done = sdgen("targets", "--config-file", CONFIG, "--snapshot", str(dump), *args, tmp=tmp)
    return done.returncode, done.stdout, done.stderr


def rows(stdout: str) -> set[str]:
    return {json.dumps(row, sort_keys=True) for row in json.loads(stdout)["targets"]}


def test_the_shard_plan_s_cuts_split_the_targets_as_it_says(dump: Path, tmp_path: Path) -> None:
    code, whole, err = targets(dump, tmp_path, "--json")
    assert code == 0, err
    code, plan, err = targets(dump, tmp_path, "--shard-plan", "2")
    assert code == 0, err
    lines = plan.splitlines()
    assert lines[0] == "targets per shard of 2, --shard-by namespace:"
    balanced = [int(n) for n in lines[2].split(":")[1].split()]
    assert sum(balanced) == len(rows(whole))
    flag, cuts = lines[3].split(" ")
    assert flag == "--shard-cuts" and int(cuts, 16) > 0
    parts = []
    for index in (0, 1):
        shard = ("--shards", "2", "--shard-index", str(index), "--shard-by", "namespace")
        code, out, err = targets(dump, tmp_path, "--json", *shard, "--shard-cuts", cuts)
        assert code == 0, err
        parts.append(rows(out))
    assert [len(p) for p in parts] == balanced
    assert parts[0] | parts[1] == rows(whole) and not parts[0] & parts[1]
    # a hand check of the first shard's range: its namespaces hash below the cut
    owned = HashRange(0, int(cuts, 16))
    namespaces = {json.loads(r)["labels"].get("namespace") for r in parts[0]} - {None}
    assert all(owned.holds(ns) for ns in namespaces)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shard-cuts", "0x10"], "1 cut(s) for 3 shards: need 2"),
        (["--shard-by", "address", "--shard-cuts", "0x10,0x20"], "namespace scheme only"),
        (["--shard-cuts", "0x20,0x10"], "increase strictly"),
        (["--shard-cuts", "zz,0x10"], "hex values"),
    ],
)
def test_bad_cuts_are_usage_errors(
    dump: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    shard = ["--shards", "3", "--shard-by", "namespace"]
    code, _, err = targets(dump, tmp_path, *shard, *flags)
    assert code == 2 and message in err, err
