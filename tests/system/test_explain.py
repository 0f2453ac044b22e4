"""`GET /explain` of a running sidecar over the emulator: the same JSON as
`sdgen explain --json`, answered from the caches without a single API request, following
the cluster as it changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO
from tests.support.sidecar import Ops, configmap, load_yaml

GOLDEN = REPO / "tests" / "data" / "golden"
SHARDS = ("--shards", "2", "--shard-index", "1")
QUESTIONS = [
    {"target": "db-service", "object": "svc/corners/db"},
    {"target": "db-service"},
    {"target": "db-pods", "object": "pod/corners/db-0"},
    {"target": "db-pods", "object": "pod/other/db-elsewhere"},
    {"target": "agents-by-number", "address": "10.1.0.6:9100"},
]


@pytest.fixture
def sidecar(fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> Iterator[Ops]:
    for obj in load_yaml(GOLDEN / "cluster.yaml"):
        fakeapi.create(obj)
    fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
    fakeapi.create(configmap((GOLDEN / "scrape_config.yaml").read_text()))
    ops = Ops(tmp_path / "run", kubeconfig, *SHARDS)
    ops.until(lambda: ops.get("/readyz")[0] == 200 and ops.files(), what="first render")
    yield ops
    assert ops.terminate() == 0, ops.log


def _ask(ops: Ops, **question: str) -> tuple[int, Any]:
    code, body = ops.get(f"/explain?{urlencode(question)}")
    return code, json.loads(body)


def _cli(kubeconfig: Path, out: Path, question: dict[str, str]) -> Any:
    args = [question["target"]]
    if "object" in question:
        args += ["--object", question["object"]]
    if "address" in question:
        args += ["--address", question["address"]]
    args += ["--json", *SHARDS, "--output-dir", str(out), "--kubeconfig", str(kubeconfig)]
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "explain", *args, "--configmap", "monitoring/sdgen-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_explain_answers_from_the_caches_as_the_cli_does(
    sidecar: Ops, fakeapi: FakeAPI, kubeconfig: Path
) -> None:
    before = fakeapi.reads
    answers = []
    for question in QUESTIONS:
        code, answer = _ask(sidecar, **question)
        assert code == 200, answer
        answers.append(answer)
    assert fakeapi.reads == before, "GET /explain made API requests"
    db = answers[0]
    assert db["object"] == "service/corners/db"
    assert {c["outcome"] for c in db["candidates"]} == {"written", "filtered_by_shard"}
    written = [c for c in db["candidates"] if c["outcome"] == "written"]
    assert all((sidecar.out / c["file"]).is_file() for c in written)
    # the same question asked of `sdgen explain` gives the same answer
    for question, answer in zip(QUESTIONS, answers, strict=True):
        assert _cli(kubeconfig, sidecar.out, question) == answer, question


def test_explain_follows_the_cluster_and_rejects_bad_questions(
    sidecar: Ops, fakeapi: FakeAPI
) -> None:
    code, answer = _ask(sidecar, target="db-pods", object="pod/corners/db-0")
    assert code == 200 and answer["stages"][1]["passed"]
    fakeapi.patch(
        "pods", "corners", "db-0", {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}
    )
    reason = "matchLabels app.kubernetes.io/name='db': the object has app.kubernetes.io/name='x'"

    def unselected() -> bool:
        stage = _ask(sidecar, target="db-pods", object="pod/corners/db-0")[1]["stages"][1]
        return not stage["passed"] and stage["reason"] == reason

    sidecar.until(unselected, what="explain sees the new labels")
    for question, message in [
        ({}, "missing ?target="),
        ({"target": "nope"}, "no target 'nope' in the config"),
        ({"target": "db-pods", "object": "pod/corners/nope"}, "is not in the cache"),
        ({"target": "db-pods", "object": "deployment/corners/db"}, "unknown kind"),
        ({"target": "db-pods", "tenant": "team-a/scrape"}, "follows one config, not tenant"),
    ]:
        code, answer = _ask(sidecar, **question)
        assert code == 400 and message in answer["error"], (question, answer)
