"""Many teams, one Prometheus, against the API emulator: three tenant ConfigMaps, one hostile.

The hostile tenant (team-c) selects another namespace, sets the namespace label to another
team, references files of the Prometheus pod, names an address of its own, goes over
--tenant-max-targets, then writes invalid YAML, then is deleted. Each attempt is rejected with
a located message, and the other tenants' files stay the same bytes throughout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO, pod_manifest
from tests.support.sidecar import Ops
from tests.system.test_secrets import secret

DATA = REPO / "tests/data/tenants"
SELECTOR = "sdgen.io/scrape-config=true"
TEAMS = ("team-a", "team-b")
HOSTILE = "team-c"
MANY = 10_010  # team-c's pods of the over-limit target: 10k over the limit, MAX
MAX = 10


def tenant_configmap(namespace: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "scrape",
            "namespace": namespace,
            "labels": {"sdgen.io/scrape-config": "true"},
        },
        "data": {"scrape_config.yaml": text},
    }


def web_pod(name: str, namespace: str, ip: str, app: str = "web") -> dict[str, Any]:
    pod = pod_manifest(name, namespace, {"app": app}, ip)
    pod["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    return pod


HOSTILE_TEXT = (DATA / "hostile.yaml").read_text() + (
    "  - targetName: many                 # over --tenant-max-targets\n"
    "    type: PodMonitor\n"
    "    selector: {matchLabels: {app: many}}\n"
    "    endpoints: [{port: web}]\n"
    "  - targetName: nothing              # lint: selects no pod\n"
    "    type: PodMonitor\n"
    "    selector: {matchLabels: {app: none}}\n"
    "    endpoints: [{port: web}]\n"
)


@pytest.fixture
def cluster(fakeapi: FakeAPI) -> FakeAPI:
    for i, ns in enumerate((*TEAMS, HOSTILE, "monitoring")):
        fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        fakeapi.create(web_pod("web-0", ns, f"10.0.{i}.1"))
    for ns in TEAMS:
        fakeapi.create(tenant_configmap(ns, (DATA / "team.yaml").read_text()))
    fakeapi.create(tenant_configmap(HOSTILE, HOSTILE_TEXT))
    for j in range(MANY):
        fakeapi.create(web_pod(f"many-{j}", HOSTILE, f"10.9.{j // 250}.{j % 250 + 1}", "many"))
    # Not a tenant: no label.
    unlabelled = tenant_configmap("monitoring", (DATA / "team.yaml").read_text())
    del unlabelled["metadata"]["labels"]
    fakeapi.create(unlabelled)
    return fakeapi


def files_of(out: Path, prefix: str) -> dict[str, bytes]:
    """Every file sdgen wrote for targets whose name starts with `prefix`, by path."""
    stem = prefix.replace("/", "_")
    found = {}
    for path in sorted(out.rglob("*")):
        parts = path.relative_to(out).parts
        if not path.is_file() or len(parts) < 2 or parts[0].startswith("."):
            continue
        readable = parts[1].partition(".")[0]
        if readable == stem or (prefix.endswith("/") and readable.startswith(stem)):
            found[str(path.relative_to(out))] = path.read_bytes()
    return found


def groups(out: Path, prefix: str) -> list[dict[str, Any]]:
    found = []
    for path, data in files_of(out, prefix).items():
        if path.startswith("targets/"):
            found.extend(json.loads(data))
    return found


def test_three_tenants_one_hostile(cluster: FakeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    run = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--tenant-max-targets",
        str(MAX),
        "--tenant-sample-limit",
        "5000",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "the first render")
        run.until(lambda: len(run.status().get("tenants", {})) == 3, 30, "three tenants")
        good = {ns: files_of(run.out, f"{ns}/scrape/") for ns in TEAMS}
        assert all(len(files) == 3 for files in good.values()), good  # targets, relabel, scrape
        assert not set(good["team-a"]) & set(good["team-b"])  # one targetName, two tenants

        # Same job label, told apart by the tenant label.
        for ns in TEAMS:
            (group,) = groups(run.out, f"{ns}/scrape/web")
            assert group["labels"]["job"] == "web" and group["labels"]["namespace"] == ns

        status = run.status()
        hostile = status["tenants"][f"{HOSTILE}/scrape"]
        assert hostile["valid"] is False
        issues = "\n".join(hostile["issues"])
        origin = f"configmap {HOSTILE}/scrape key scrape_config.yaml"
        for where, message in (
            (
                ":9: targets[1].namespaceSelector:",
                "selects namespaces other than",
            ),
            (
                ":25: targets[3].endpoints[0].bearerTokenFile:",
                "references a file of the Prometheus",
            ),
            (":28: targets[4].type:", "StaticEndpoints name addresses"),
        ):
            assert f"{origin}{where} {message}" in issues, issues
        lint = [i for i in status["config"]["issues"] if "targets[6].selector" in i]
        assert len(lint) == 1 and lint[0].startswith(f"{origin}:36: "), lint  # its own line
        targets = status["targets"]
        for name in ("other-team", "steal", "metadata"):
            assert targets[f"{HOSTILE}/scrape/{name}"]["last_error"], name
        over = targets[f"{HOSTILE}/scrape/many"]["last_error"]
        # web and spoof scrape team-c's web-0 first, then `many` would add its 10,010 pods.
        assert f"would have {MANY + 2} targets with this one, over --tenant-max-targets" in over
        assert files_of(run.out, f"{HOSTILE}/scrape/many") == {}
        # The label it tried to set is its own namespace, in the targets and the fragment.
        (spoof,) = groups(run.out, f"{HOSTILE}/scrape/spoof")
        assert spoof["labels"]["namespace"] == HOSTILE
        (fragment,) = (
            yaml.safe_load(data)
            for path, data in files_of(run.out, f"{HOSTILE}/scrape/spoof").items()
            if path.startswith("scrape/")
        )
        (job,) = fragment["scrape_configs"]
        assert job["honor_labels"] is False and "metric_relabel_configs" not in job
        assert job["sample_limit"] == 5000
        hostile_web = files_of(run.out, f"{HOSTILE}/scrape/web")
        assert len(hostile_web) == 3

        # Events on the hostile tenant's own ConfigMap, in its namespace; none for the others.
        def notes(reason: str) -> list[str]:
            found = cluster.list("events", HOSTILE)
            return [e.get("message", e.get("note", "")) for e in found if e["reason"] == reason]

        run.until(lambda: len(notes("TargetRejected")) == 4, 30, "four TargetRejected events")
        assert any(f"over --tenant-max-targets {MAX}" in n for n in notes("TargetRejected"))
        run.until(lambda: notes("ConfigInvalid"), 30, "a ConfigInvalid event")
        assert all(cluster.list("events", ns) == [] for ns in TEAMS)
        regarding = cluster.list("events", HOSTILE)[0]["involvedObject"]
        assert (regarding["kind"], regarding["name"]) == ("ConfigMap", "scrape")

        # Invalid YAML: team-c keeps its last good files, the others are untouched.
        cluster.update(tenant_configmap(HOSTILE, "targets: [\n"))

        def hostile_issues() -> str:
            return "\n".join(run.status()["tenants"][f"{HOSTILE}/scrape"]["issues"])

        run.until(lambda: f"{origin}:2: invalid YAML" in hostile_issues(), 30, "invalid YAML")
        assert files_of(run.out, f"{HOSTILE}/scrape/web") == hostile_web
        # A change for team-a still renders while team-c is broken.
        cluster.create(web_pod("web-1", "team-a", "10.0.0.2"))
        run.until(lambda: len(groups(run.out, "team-a/scrape/web")) == 2, 30, "team-a's new pod")
        assert files_of(run.out, "team-b/scrape/") == good["team-b"]
        assert files_of(run.out, f"{HOSTILE}/scrape/web") == hostile_web

        # Deleted: --on-missing-config keep holds its files, for it alone.
        cluster.delete("configmaps", HOSTILE, "scrape")
        gone = f"ConfigMap {HOSTILE}/scrape not found"
        run.until(lambda: gone in hostile_issues(), 30, "the deleted ConfigMap reported")
        cluster.delete("pods", "team-b", "web-0")
        run.until(lambda: groups(run.out, "team-b/scrape/web") == [], 30, "team-b's pod gone")
        assert files_of(run.out, f"{HOSTILE}/scrape/web") == hostile_web
        metrics = run.get("/metrics")[1]
        assert f'sdgen_tenant_config_valid{{tenant="{HOSTILE}/scrape"}} 0.0' in metrics
        assert 'sdgen_tenant_targets{tenant="team-a/scrape"} 2.0' in metrics
    finally:
        assert run.terminate() == 0, run.log


PLATFORM = """\
targets:
  - targetName: static
    type: StaticEndpoints
    endpoints:
      - address: 10.1.0.1:9100
        bearerTokenFile: /etc/prometheus/token
"""


def test_the_platform_configmap_is_trusted_followed_once_and_not_waited_for(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    run = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--configmap",
        "monitoring/platform",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:
        # Ready without the platform ConfigMap; the tenants render meanwhile.
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "the first render")
        assert len(files_of(run.out, "team-a/scrape/web")) == 3
        platform = tenant_configmap("monitoring", PLATFORM)  # matches the selector too
        platform["metadata"]["name"] = "platform"
        cluster.create(platform)
        run.until(lambda: len(files_of(run.out, "static")) == 3, 30, "the platform's files")
        status = run.status()
        assert status["tenants"]["monitoring/platform"]["valid"] is True  # files allowed
        assert (
            "static" in status["targets"] and "monitoring/platform/static" not in status["targets"]
        )
        (fragment,) = (d for p, d in files_of(run.out, "static").items() if p.startswith("scrape/"))
        assert b"credentials_file: '/etc/prometheus/token'" in fragment
    finally:
        assert run.terminate() == 0, run.log
    # Restarted while the platform ConfigMap is gone: with keep, its files stay.
    platform_files = files_of(run.out, "static")
    cluster.delete("configmaps", "monitoring", "platform")
    again = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--configmap",
        "monitoring/platform",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:
        again.until(lambda: again.get("/readyz")[0] == 200, 30, "the first render")
        cluster.delete("pods", "team-a", "web-0")  # another render
        again.until(lambda: groups(again.out, "team-a/scrape/web") == [], 30, "team-a's pod gone")
        assert files_of(again.out, "static") == platform_files
    finally:
        assert again.terminate() == 0, again.log


SECRET_CONFIG = """\
targets:
  - targetName: web
    type: PodMonitor
    selector: {matchLabels: {app: web}}
    endpoints:
      - port: web
        bearerTokenSecret: {name: token, key: token}
"""


def test_a_tenant_reads_secrets_from_its_own_namespace_only(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    cluster.update(tenant_configmap("team-a", SECRET_CONFIG))
    cluster.update(tenant_configmap("team-b", SECRET_CONFIG))
    cluster.create(secret("token", "team-a", token="team-a-token"))
    cluster.create(secret("token", "monitoring", token="platform-token"))  # never a tenant's
    run = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--materialize-secrets",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:

        def secret_files() -> list[bytes]:
            found = files_of(run.out, "team-a/scrape/web")
            return [data for path, data in found.items() if path.startswith("secrets/")]

        run.until(secret_files, 30, "team-a's secret file")
        (value,) = secret_files()
        assert value == b"team-a-token"
        missing = 'Secret "team-b/token" not found'
        run.until(
            lambda: missing in run.status()["targets"]["team-b/scrape/web"]["last_error"],
            30,
            "team-b's missing Secret",
        )
        assert not any(p.startswith("secrets/") for p in files_of(run.out, "team-b/scrape/"))
    finally:
        assert run.terminate() == 0, run.log


def test_clear_removes_a_deleted_tenants_files_only(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    run = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--on-missing-config",
        "clear",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:
        run.until(lambda: len(files_of(run.out, "team-b/scrape/web")) == 3, 30, "team-b's files")
        team_a = files_of(run.out, "team-a/scrape/")
        cluster.delete("configmaps", "team-b", "scrape")
        run.until(lambda: files_of(run.out, "team-b/scrape/") == {}, 30, "team-b's files gone")
        run.until(lambda: "team-b/scrape" not in run.status()["tenants"], 30, "team-b forgotten")
        assert files_of(run.out, "team-a/scrape/") == team_a
    finally:
        assert run.terminate() == 0, run.log


def test_a_target_crossing_the_limit_keeps_its_last_good_files(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    run = Ops(
        tmp_path,
        kubeconfig,
        "--configmap-selector",
        SELECTOR,
        "--tenant-max-targets",
        "1",
        env={"POD_NAMESPACE": "monitoring"},
    )
    try:
        run.until(lambda: len(groups(run.out, "team-a/scrape/web")) == 1, 30, "team-a's web")
        before = files_of(run.out, "team-a/scrape/web")
        cluster.create(web_pod("web-1", "team-a", "10.0.0.2"))  # 2 targets: over 1

        def held() -> str:
            return str(run.status()["targets"]["team-a/scrape/web"]["last_error"])

        run.until(lambda: "over --tenant-max-targets 1" in held(), 30, "the limit reported")
        assert files_of(run.out, "team-a/scrape/web") == before
        cluster.delete("pods", "team-a", "web-0")  # back within the limit: files follow again
        run.until(lambda: held() == "", 30, "the error gone")
        run.until(
            lambda: [g["labels"]["pod"] for g in groups(run.out, "team-a/scrape/web")] == ["web-1"],
            30,
            "the file follows again",
        )
    finally:
        assert run.terminate() == 0, run.log


def _explain(run: Ops, **question: str) -> tuple[int, Any]:
    code, body = run.get(f"/explain?{urlencode(question)}")
    return code, json.loads(body)


def test_explain_answers_for_a_tenants_target(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    """GET /explain?tenant=…: each tenant's `web` from its own config and rules; without a
    tenant, a name several tenants have is a 400 naming them; `sdgen explain --tenant` against
    the same cluster gives the same answer."""
    for i, ns in enumerate((*TEAMS, HOSTILE)):
        fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        fakeapi.create(web_pod("web-0", ns, f"10.0.{i}.1"))
        text = (DATA / ("hostile.yaml" if ns == HOSTILE else "team.yaml")).read_text()
        fakeapi.create(tenant_configmap(ns, text))
    run = Ops(tmp_path, kubeconfig, "--configmap-selector", SELECTOR, env={"POD_NAMESPACE": "x"})
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "the first render")
        before = fakeapi.reads
        answers = {}
        for ns in TEAMS:
            question = {"tenant": f"{ns}/scrape", "target": "web", "object": f"pod/{ns}/web-0"}
            code, answer = _explain(run, **question)
            assert code == 200, answer
            assert answer["target"] == f"{ns}/scrape/web"
            (written,) = (c for c in answer["candidates"] if c["outcome"] == "written")
            assert written["labels"]["namespace"] == ns
            assert (
                json.loads((run.out / written["file"]).read_text())[0]["labels"]["namespace"] == ns
            )
            answers[ns] = answer
        # team-b's `web` reads team-b only.
        code, answer = _explain(
            run, tenant="team-b/scrape", target="web", object="pod/team-a/web-0"
        )
        assert code == 200 and answer["written"] == 0 and not answer["stages"][0]["passed"]
        # A name only one tenant has needs no tenant; one three tenants have is ambiguous.
        code, answer = _explain(run, target="spoof", object=f"pod/{HOSTILE}/web-0")
        assert code == 200 and answer["target"] == f"{HOSTILE}/scrape/spoof", answer
        code, answer = _explain(run, target="web")
        assert code == 400
        assert "in several tenants: team-a/scrape, team-b/scrape, team-c/scrape" in answer["error"]
        for question, message in [
            (
                {"tenant": f"{HOSTILE}/scrape", "target": "other-team"},
                ":9: targets[1].namespaceSelector: selects namespaces other than",
            ),
            ({"tenant": "team-x/scrape", "target": "web"}, "no tenant ConfigMap 'team-x/scrape'"),
        ]:
            code, answer = _explain(run, **question)
            assert code == 400 and message in answer["error"], (question, answer)
        assert fakeapi.reads == before, "GET /explain made API requests"
        # The page's drill-down asks by the qualified name /status lists: its form keeps it.
        code, page = run.get(
            "/ui/target?" + urlencode({"name": "team-a/scrape/web", "object": "pod/team-a/web-0"})
        )
        assert code == 200 and 'name="name" value="team-a/scrape/web"' in page
        assert "explain-error" not in page and "1 targets written" in page

        # The CLI reads the one tenant ConfigMap from the cluster and answers the same.
        def cli(tenant: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable, "-m", "sdgen", "explain", "web", "--tenant", tenant,
                    "--configmap-selector", SELECTOR, "--object", "pod/team-a/web-0", "--json",
                    "--kubeconfig", str(kubeconfig), "--output-dir", str(run.out),
                ],
                capture_output=True, text=True, cwd=REPO, timeout=120,
            )  # fmt: skip

        done = cli("team-a/scrape")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == answers["team-a"]
        done = cli("monitoring/scrape")  # no such ConfigMap
        assert done.returncode == 2 and "no tenant ConfigMap 'monitoring/scrape'" in done.stderr
    finally:
        assert run.terminate() == 0, run.log
