"""`sdgen explain` as a user runs it: offline from a cluster dump, text and JSON, its exit
codes, and the file it names is the one `sdgen targets` names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli import test_main
from tests.cli.test_main import CORNERS, sdgen
from tests.system.test_tenants import DATA as TENANTS
from tests.system.test_tenants import tenant_configmap, web_pod

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


@pytest.mark.parametrize("index", [0, 1])
def test_the_namespace_scheme_names_the_hash_and_the_range(
    dump: Path, tmp_path: Path, index: int
) -> None:
    flags = ("--shards", "2", "--shard-index", str(index), "--shard-by", "namespace")
    done = explain(dump, tmp_path, "db-service", "--object", "svc/corners/db", *flags)
    assert "shard: FNV-1a 64 of the namespace 'corners' = 0x" in done.stdout
    mine = f"this is shard {index}: this shard's"
    assert (mine in done.stdout) is (done.returncode == 0), done.stdout


# --- --tenant: one tenant ConfigMap of many, with the tenant rules -------------------------


@pytest.fixture
def tenants_dump(tmp_path: Path) -> Path:
    """Three tenants in one dump: team-a and team-b with one config (the same targetName
    `web`), hostile team-c; a `web` pod in each namespace."""
    objects: list[dict[str, Any]] = []
    for i, ns in enumerate(("team-a", "team-b", "team-c")):
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        objects.append(web_pod("web-0", ns, f"10.0.{i}.1"))
        text = (TENANTS / ("hostile.yaml" if ns == "team-c" else "team.yaml")).read_text()
        objects.append(tenant_configmap(ns, text))
    path = tmp_path / "tenants-dump.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


def explain_tenant(dump: Path, tmp: Path, tenant: str, *args: str) -> Any:
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    return sdgen(
        "explain", "--tenant", tenant, "--snapshot", str(dump), "--output-dir", str(out), *args,
        tmp=tmp,
    )  # fmt: skip


def written(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in answer["candidates"] if c["outcome"] == "written"]


def test_each_tenant_answers_from_its_own_configmap(tenants_dump: Path, tmp_path: Path) -> None:
    for ns in ("team-a", "team-b"):
        done = explain_tenant(
            tenants_dump, tmp_path, f"{ns}/scrape", "web", "--object", f"pod/{ns}/web-0", "--json"
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["target"] == f"{ns}/scrape/web"  # the name the sidecar gives it
        (candidate,) = written(answer)
        # The tenant label the sidecar enforces, and the job label the tenant wrote.
        assert candidate["labels"]["namespace"] == ns and candidate["labels"]["job"] == "web"
        # The file the sidecar writes for this tenant's target, not the other tenant's.
        assert candidate["file"].startswith(f"targets/{ns}_scrape_web")
    # A tenant reads its own namespace only: team-b's `web` does not see team-a's pod.
    done = explain_tenant(
        tenants_dump, tmp_path, "team-b/scrape", "web", "--object", "pod/team-a/web-0"
    )
    assert done.returncode == 1, done.stderr
    assert "FAIL namespaces_selected" in done.stdout


def test_a_tenant_explains_with_the_tenant_rules_applied(
    tenants_dump: Path, tmp_path: Path
) -> None:
    # `spoof` sets namespace=team-a; the rule sdgen appends for team-c sets it back.
    done = explain_tenant(
        tenants_dump, tmp_path, "team-c/scrape", "spoof", "--object", "pod/team-c/web-0", "--json"
    )
    assert done.returncode == 0, done.stderr
    (candidate,) = written(json.loads(done.stdout))
    assert candidate["labels"]["namespace"] == "team-c"
    assert candidate["trace"][-1]["changed"] == {"namespace": ["team-a", "team-c"]}

    # A target the tenant rules reject: exit 2 with the located error, as `sdgen check` says.
    done = explain_tenant(tenants_dump, tmp_path, "team-c/scrape", "other-team")
    assert done.returncode == 2, done.stdout
    assert "target 'team-c/scrape/other-team' is rejected by config errors" in done.stderr
    assert ":9: targets[1].namespaceSelector: selects namespaces other than" in done.stderr

    # The same target in a trusted namespace keeps its rules, and scrapes team-a's pod.
    done = explain_tenant(
        tenants_dump, tmp_path, "team-c/scrape", "other-team", "--object", "pod/team-a/web-0",
        "--trusted-namespaces", "team-c", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (candidate,) = written(json.loads(done.stdout))
    assert "namespace" not in candidate["labels"] or candidate["labels"]["namespace"] == "team-a"


def test_an_unknown_tenant_is_exit_2(tenants_dump: Path, tmp_path: Path) -> None:
    done = explain_tenant(tenants_dump, tmp_path, "team-x/scrape", "web")
    assert done.returncode == 2
    assert "--tenant team-x/scrape: no ConfigMap of that name" in done.stderr
    done = explain_tenant(tenants_dump, tmp_path, "team-a", "web")
    assert done.returncode == 2
    assert "expected NAMESPACE/NAME" in done.stderr
