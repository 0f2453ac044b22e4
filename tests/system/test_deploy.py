"""deploy/, the Dockerfile and the consumer examples, checked by the tools that consume them.

Every kustomization is rendered with the real `kubectl kustomize` and validated against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict, pinned version); the Prometheus config
passes `promtool check config`; the RBAC rules are asserted to be exactly what sdgen reads; and
`sdgen run` against the emulator, which then refuses every read the manifests do not grant,
still syncs and renders, which proves the rules are enough.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sdgen.prom.duration import parse_duration
from tests.fakeapi import FakeAPI
from tests.support.deploy import DEPLOY, allow_list, granted_rules, render, workload
from tests.support.helpers import REPO, binary
from tests.support.sidecar import Ops

DOCKERFILE = REPO / "Dockerfile"
OPENAGENT_SAMPLE = (
    REPO / "tests" / "data" / "config" / "openagent-sample-configmap.yaml"
)  # as users have it
K8S_VERSION = "1.30.0"
KUSTOMIZATIONS = sorted(
    str(p.parent.relative_to(DEPLOY)) for p in DEPLOY.rglob("kustomization.yaml")
)
# What apply-able overlays users pick (the shards/statefulset stage is an internal step).
ENTRY_POINTS = [
    "base",
    "overlays/cluster-discovery",
    "overlays/shards",
    "overlays/openagent",
    "overlays/secrets",
    "overlays/prometheus-agent",
    "overlays/agent",
    "overlays/multi-tenant",
]
CENTRAL = "overlays/central"  # sdgen serve for the shards of overlays/shards
# The entry points whose scraper is a Prometheus (overlays/agent runs vmagent instead).
PROMETHEUS_ENTRY_POINTS = [k for k in ENTRY_POINTS if k != "overlays/agent"]
READ = ("get", "list", "watch")
CONFIG_RULES = {
    ("Role", "", "configmaps", READ),
    ("Role", "events.k8s.io", "events", ("create", "patch")),  # Events on the ConfigMap
}
DISCOVERY_RULES = CONFIG_RULES | {
    ("ClusterRole", "", "pods", READ),
    ("ClusterRole", "", "services", READ),
    ("ClusterRole", "", "namespaces", READ),
    ("ClusterRole", "discovery.k8s.io", "endpointslices", READ),
}
EXPECTED_RULES = {
    "base": CONFIG_RULES,
    "overlays/cluster-discovery": DISCOVERY_RULES,
    "overlays/shards": DISCOVERY_RULES,
    "overlays/openagent": DISCOVERY_RULES,
    "overlays/secrets": CONFIG_RULES | {("Role", "", "secrets", READ)},
    "overlays/prometheus-agent": DISCOVERY_RULES,
    "overlays/agent": DISCOVERY_RULES,
    "overlays/multi-tenant": DISCOVERY_RULES
    | {
        ("ClusterRole", "", "configmaps", READ),
        ("ClusterRole", "events.k8s.io", "events", ("create", "patch")),
    },
}


def one(docs: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, Any]:
    containers = workload(docs)["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = next(c for c in containers if c["name"] == name)
    return found


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


# --- rendering and schema validation ---------------------------------------------------------


def test_every_user_facing_kustomization_is_listed() -> None:
    assert set(ENTRY_POINTS) <= set(KUSTOMIZATIONS)
    # overlays/central has two workloads (sdgen serve, and the Prometheus shards): its own
    # tests are at the end.
    assert set(KUSTOMIZATIONS) - set(ENTRY_POINTS) == {"overlays/shards/statefulset", CENTRAL}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_manifests_pass_strict_schema_validation(kustomization: str) -> None:
    docs = render(kustomization)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validator really is strict: a misspelt field in the rendered Deployment fails."""
    deployment = copy.deepcopy(workload(render("base")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", ENTRY_POINTS)
def test_namespaced_objects_share_one_namespace(kustomization: str) -> None:
    docs = render(kustomization)
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] not in cluster_scoped}
    expected = "whatap-monitoring" if kustomization.endswith("openagent") else "monitoring"
    assert namespaces == {expected}


# --- the Prometheus side ----------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", PROMETHEUS_ENTRY_POINTS)
def test_prometheus_config_passes_promtool_and_loads_sdgen_fragments(
    kustomization: str, tmp_path: Path
) -> None:
    docs = render(kustomization)
    text = one(docs, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    prometheus, sdgen = container(docs, "prometheus"), container(docs, "sdgen")
    mode = ["--agent"] if "--agent" in prometheus["args"] else []  # checked as agent-mode config
    result = subprocess.run(
        [str(binary("promtool")), "check", "config", *mode, str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    assert "--web.enable-lifecycle" in prometheus["args"]
    assert "--reload-url=http://localhost:9090/-/reload" in sdgen["args"]
    output = next(a.split("=", 1)[1] for a in sdgen["args"] if a.startswith("--output-dir="))
    mounts = {m["name"]: m for m in prometheus["volumeMounts"]}
    shared = next(m for m in sdgen["volumeMounts"] if m["mountPath"] == output)
    assert mounts[shared["name"]]["mountPath"] == output and mounts[shared["name"]]["readOnly"]
    volumes = {v["name"]: v for v in workload(docs)["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[shared["name"]]
    assert yaml.safe_load(text)["scrape_config_files"] == [f"{output}/scrape/*.yml"]


def test_alert_rules_pass_promtool_unit_tests(tmp_path: Path) -> None:
    """The alerts on sdgen's metrics fire (and stay quiet) as the README describes."""
    data = one(render("base"), "ConfigMap", "prometheus-config")["data"]
    (tmp_path / "sdgen.rules.yml").write_text(data["sdgen.rules.yml"])
    cases = tmp_path / "sdgen-alerts.test.yml"
    cases.write_text((REPO / "tests" / "data" / "deploy" / "sdgen-alerts.test.yml").read_text())
    promtool = str(binary("promtool"))
    for command in (
        ["check", "rules", str(tmp_path / "sdgen.rules.yml")],
        ["test", "rules", str(cases)],
    ):
        result = subprocess.run([promtool, *command], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# --- least privilege ----------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", ENTRY_POINTS)
def test_rbac_grants_exactly_what_sdgen_reads(kustomization: str) -> None:
    assert granted_rules(render(kustomization)) == EXPECTED_RULES[kustomization]


@pytest.mark.parametrize("kustomization", ENTRY_POINTS)
def test_containers_run_unprivileged_on_a_read_only_root(kustomization: str) -> None:
    assert_unprivileged(workload(render(kustomization))["spec"]["template"]["spec"])


def assert_unprivileged(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["runAsUser"] != 0 and sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("kustomization", ENTRY_POINTS)
def test_sdgen_container_image_and_probes(kustomization: str) -> None:
    sdgen = container(render(kustomization), "sdgen")
    assert sdgen["image"] == "sdgen:0.1.0"
    assert sdgen["args"][0] == "run"
    assert sdgen["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "sdgen"}
    assert sdgen["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "sdgen"}
    assert {"name": "sdgen", "containerPort": 8080} in sdgen["ports"]
    assert "--listen=:8080" in sdgen["args"]


@pytest.mark.parametrize("kustomization", ENTRY_POINTS)
def test_the_ops_port_is_reachable_only_from_inside_the_pod(kustomization: str) -> None:
    """sdgen's ops port serves the pod itself (Prometheus scrapes localhost:8080), the
    kubelet's probes and `kubectl port-forward`: no Service exposes it, and the
    NetworkPolicy lets other pods reach only the scraper's port (README, "Security model")."""
    docs = render(kustomization)
    pod = workload(docs)["spec"]["template"]
    ops = {"sdgen", 8080}
    for service in (d for d in docs if d["kind"] == "Service"):
        ports = service["spec"]["ports"]
        assert not [p for p in ports if {p.get("targetPort"), p["port"]} & ops], service
    policy = one(docs, "NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert "from" not in rule and rule["ports"] == [{"port": "web", "protocol": "TCP"}]
    scraper = next(c for c in pod["spec"]["containers"] if c["name"] != "sdgen")
    assert any(p["name"] == "web" for p in scraper["ports"])  # Prometheus's, or vmagent's


# --- the overlays say what they promise -----------------------------------------------------


def test_shards_overlay_is_a_statefulset_with_one_shard_per_replica() -> None:
    docs = render("overlays/shards")
    statefulset = workload(docs)
    assert statefulset["kind"] == "StatefulSet"
    sdgen_env = env(container(docs, "sdgen"))
    assert int(sdgen_env["SDGEN_SHARDS"]) == statefulset["spec"]["replicas"] >= 2
    assert sdgen_env["SDGEN_SHARD_FROM_HOSTNAME"] == "true"
    headless = one(docs, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    # Besides the shard settings, the pod is the cluster-discovery pod.
    single = copy.deepcopy(workload(render("overlays/cluster-discovery"))["spec"]["template"])
    sharded = copy.deepcopy(statefulset["spec"]["template"])
    sdgen = next(c for c in sharded["spec"]["containers"] if c["name"] == "sdgen")
    sdgen["env"] = [e for e in sdgen["env"] if not e["name"].startswith("SDGEN_SHARD")]
    for template in (sharded, single):  # a strategic merge patch may reorder containers
        template["spec"]["containers"].sort(key=lambda c: c["name"])
    assert sharded == single


def test_prometheus_agent_overlay_runs_prometheus_as_an_agent_that_remote_writes() -> None:
    docs = render("overlays/prometheus-agent")
    args = container(docs, "prometheus")["args"]
    assert "--agent" in args and not any(a.startswith("--storage.tsdb.") for a in args)
    config = one(docs, "ConfigMap", "prometheus-config")["data"]
    assert set(config) == {"prometheus.yml"}  # no rule files: agent mode evaluates none
    assert [w["url"] for w in yaml.safe_load(config["prometheus.yml"])["remote_write"]] == [
        "http://REMOTE_WRITE_URL/api/v1/write"
    ]
    assert "--fragment-format=vmagent" not in container(docs, "sdgen")["args"]


def test_agent_overlay_runs_vmagent_on_sdgens_vmagent_fragments(tmp_path: Path) -> None:
    """vmagent in place of Prometheus: sdgen writes vmagent's dialect naming the files where
    vmagent mounts them, POSTs vmagent's /-/reload, and vmagent's config passes its dry run."""
    docs = render("overlays/agent")
    assert workload(docs)["metadata"]["name"] == "vmagent"
    assert not [d for d in docs if d["metadata"]["name"] in ("prometheus-config",)]
    assert {c["name"] for c in workload(docs)["spec"]["template"]["spec"]["containers"]} == {
        "vmagent",
        "sdgen",
    }
    vmagent, sdgen = container(docs, "vmagent"), container(docs, "sdgen")
    flags = dict(a.split("=", 1) for a in sdgen["args"][1:])
    assert flags["--fragment-format"] == "vmagent"
    port = vmagent["ports"][0]["containerPort"]
    assert flags["--reload-url"] == f"http://localhost:{port}/-/reload"
    assert f"-httpListenAddr=:{port}" in vmagent["args"]
    assert any(a.startswith("-remoteWrite.url=") for a in vmagent["args"])
    # One emptyDir: sdgen writes it at --output-dir, vmagent reads it at the prefix.
    shared = next(m for m in sdgen["volumeMounts"] if m["mountPath"] == flags["--output-dir"])
    mounts = {m["name"]: m for m in vmagent["volumeMounts"]}
    prefix = flags["--consumer-path-prefix"]
    assert mounts[shared["name"]]["mountPath"] == prefix and mounts[shared["name"]]["readOnly"]
    volumes = {v["name"]: v for v in workload(docs)["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[shared["name"]]
    # vmagent loads every fragment from there, and its config passes its own check.
    config_flag = next(a for a in vmagent["args"] if a.startswith("-promscrape.config="))
    config_dir, _, config_name = config_flag.split("=", 1)[1].rpartition("/")
    config_mount = next(m for m in vmagent["volumeMounts"] if m["mountPath"] == config_dir)
    config_map = volumes[config_mount["name"]]["configMap"]["name"]
    text = one(docs, "ConfigMap", config_map)["data"][config_name]
    assert yaml.safe_load(text)["scrape_config_files"] == [f"{prefix}/scrape/*.yml"]
    (tmp_path / config_name).write_text(text)
    checked = subprocess.run(
        [str(binary("vmagent")), "-dryRun", f"-promscrape.config={tmp_path / config_name}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openagent_overlay_follows_the_existing_configmap_and_owns_no_shared_objects() -> None:
    docs = render("overlays/openagent")
    assert env(container(docs, "sdgen"))["SDGEN_CONFIGMAP"] == "whatap-open-agent-config"
    assert env(container(docs, "sdgen"))["SDGEN_KEY"] == "scrape_config.yaml"
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("ConfigMap", "sdgen-config") not in kinds
    assert not any(kind == "Namespace" for kind, _ in kinds)


@pytest.mark.parametrize("kustomization", ["base", "overlays/cluster-discovery"])
def test_example_scrape_config_passes_sdgen_check(kustomization: str, tmp_path: Path) -> None:
    """Checked as the deployed sidecar reads it: with its container's SDGEN_* settings, so
    the credentials files the example names lie under its --allowed-file-prefixes."""
    docs = render(kustomization)
    manifest = tmp_path / "sdgen-config.yaml"
    manifest.write_text(yaml.safe_dump(one(docs, "ConfigMap", "sdgen-config")))
    sdgen_env = {k: v for k, v in env(container(docs, "sdgen")).items() if k.startswith("SDGEN_")}
    assert "SDGEN_ALLOWED_FILE_PREFIXES" in sdgen_env
    result = subprocess.run(
        [sys.executable, "-m", "sdgen", "check", str(manifest)],
        capture_output=True,
        text=True,
        env={**os.environ, **sdgen_env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s), 0 warning(s)" in result.stdout + result.stderr


# --- the RBAC list is sufficient: sdgen against an emulator that enforces it ---------------------


@pytest.fixture
def example_cluster(fakeapi: FakeAPI) -> Iterator[FakeAPI]:
    for obj in yaml.safe_load_all((REPO / "examples" / "cluster.yaml").read_text()):
        if obj:
            fakeapi.create(obj)
    yield fakeapi


def deployed_sidecar(
    api: FakeAPI, kustomization: str, kubeconfig: Path, tmp_path: Path, configmap: dict[str, Any]
) -> Ops:
    """`sdgen run` configured by the overlay's container environment (as the kubelet would
    set it), under the overlay's RBAC only."""
    docs = render(kustomization)
    namespace = workload(docs)["metadata"]["namespace"]
    api.create({**configmap, "metadata": {**configmap["metadata"], "namespace": namespace}})
    api.allow_only(allow_list(docs))
    pod_env = {**env(container(docs, "sdgen")), "POD_NAMESPACE": namespace}
    return Ops(tmp_path, kubeconfig, env=pod_env)


@pytest.mark.parametrize(
    "kustomization", ["base", "overlays/cluster-discovery", "overlays/openagent"]
)
def test_sdgen_syncs_renders_and_reports_with_only_the_granted_rights(
    example_cluster: FakeAPI, kubeconfig: Path, tmp_path: Path, kustomization: str
) -> None:
    if kustomization.endswith("openagent"):
        configmap = yaml.safe_load(OPENAGENT_SAMPLE.read_text())
    else:
        configmap = one(render(kustomization), "ConfigMap", "sdgen-config")
    run = deployed_sidecar(example_cluster, kustomization, kubeconfig, tmp_path, configmap)
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "/readyz 200 under the RBAC list")
        targets = run.status()["targets"]
        assert targets and all(t["last_error"] == "" for t in targets.values()), targets
        assert any(t["targets"] for t in targets.values())
        forbidden = re.findall(r"HTTP 403.*", run.log)
        assert not forbidden, forbidden
        # ...and writes its Events on the ConfigMap with the granted create and patch.
        run.until(lambda: example_cluster.list("events") != [], 10, "a ConfigApplied event")
        assert {e["reason"] for e in example_cluster.list("events")} == {"ConfigApplied"}
        assert "cannot write Events" not in run.log
    finally:
        assert run.terminate() == 0


def test_the_emulator_enforces_the_list_a_namespace_only_role_cannot_discover_pods(
    example_cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    """The control for the test above: the base's rights are not enough for pod targets."""
    configmap = one(render("overlays/cluster-discovery"), "ConfigMap", "sdgen-config")
    run = deployed_sidecar(example_cluster, "base", kubeconfig, tmp_path, configmap)
    try:
        run.until(lambda: "HTTP 403" in run.log, 30, "a 403 in sdgen's log")
        code, body = run.get("/readyz")
        assert code == 503 and "not synced" in body
    finally:
        assert run.terminate() == 0


# --- the image ------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_final_image_stage_runs_sdgen_unprivileged_without_build_tools() -> None:
    *builders, final = dockerfile_stages()
    assert builders, "the wheel is built in a separate stage"
    assert any("pip wheel" in args for ins, args in builders[0] if ins == "RUN")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", DOCKERFILE.read_text(), re.M)
    assert {stage[0][1].split()[0] for stage in (*builders, final)} == {"${PYTHON_IMAGE}"}
    commands = " ".join(args for ins, args in final if ins == "RUN")
    for tool in ("apt-get", "apk", "gcc", "build-essential", "make", "pip install"):
        assert tool not in commands
    assert any(ins == "COPY" and args.startswith("--from=builder") for ins, args in final)
    user = [args for ins, args in final if ins == "USER"]
    assert user and user[-1].split(":")[0] == "65532"
    assert ("ENTRYPOINT", '["sdgen"]') in final and ("CMD", '["run"]') in final


def test_docker_context_holds_only_what_the_build_copies() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything excluded unless listed
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    (builder, *_) = dockerfile_stages()
    copied = {
        src
        for ins, args in builder
        if ins == "COPY"
        for src in args.split()[:-1]
        if not src.startswith("--")
    }
    assert copied == allowed
    assert all((REPO / path).exists() for path in copied)


# --- overlays/central: sdgen serve, and Prometheus shards reading it --------------------------


def central_docs(workload_name: str) -> tuple[dict[str, Any], ...]:
    """overlays/central with only one of its two workloads (for the one-workload helpers)."""
    return tuple(
        d
        for d in render(CENTRAL)
        if d["kind"] not in ("Deployment", "StatefulSet") or d["metadata"]["name"] == workload_name
    )


def test_central_overlay_serves_every_shard_of_the_statefulset() -> None:
    serve_docs, prom_docs = central_docs("sdgen-central"), central_docs("prometheus")
    serve, shards = workload(serve_docs), workload(prom_docs)
    sdgen = container(serve_docs, "sdgen")
    assert sdgen["args"][0] == "serve" and serve["spec"]["replicas"] >= 2  # HA
    serve_env = env(sdgen)
    assert int(serve_env["SDGEN_SHARDS"]) == shards["spec"]["replicas"] >= 2
    assert parse_seconds(serve_env["SDGEN_SD_REFRESH_INTERVAL"]) < 60  # below Prometheus's default
    service = one(serve_docs, "Service", "sdgen-central")
    assert (
        service["spec"]["selector"].items()
        <= serve["spec"]["template"]["metadata"]["labels"].items()
    )
    assert (
        serve_env["SDGEN_SD_URL"] == f"http://sdgen-central:{service['spec']['ports'][0]['port']}"
    )
    reloader = container(prom_docs, "reloader")
    assert env(reloader)["CENTRAL_URL"] == serve_env["SDGEN_SD_URL"]
    assert (
        "/scrape/$shard" in reloader["args"][0]
        and "/etc/prometheus/sdgen/scrape/" in reloader["args"][0]
    )
    names = [c["name"] for c in shards["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["prometheus", "reloader"]  # no sdgen beside Prometheus


def parse_seconds(text: str) -> float:
    return parse_duration(text) / 1000


def test_central_overlay_grants_the_cluster_to_sdgen_serve_only() -> None:
    assert granted_rules(central_docs("sdgen-central")) == DISCOVERY_RULES
    with pytest.raises(AssertionError, match="binds"):
        granted_rules(central_docs("prometheus"))  # every binding names sdgen-central


@pytest.mark.parametrize("name", ["sdgen-central", "prometheus"])
def test_central_overlay_containers_run_unprivileged(name: str) -> None:
    assert_unprivileged(workload(central_docs(name))["spec"]["template"]["spec"])


def test_central_overlay_serves_under_its_rbac_and_prometheus_accepts_the_jobs(
    example_cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    """`sdgen serve` as the overlay configures it, under the overlay's RBAC only; every
    shard's /scrape document passes promtool inside the overlay's Prometheus config."""
    docs = central_docs("sdgen-central")
    namespace = workload(docs)["metadata"]["namespace"]
    configmap = one(docs, "ConfigMap", "sdgen-config")
    example_cluster.create(
        {**configmap, "metadata": {**configmap["metadata"], "namespace": namespace}}
    )
    example_cluster.allow_only(allow_list(docs))
    pod_env = {**env(container(docs, "sdgen")), "POD_NAMESPACE": namespace}
    serve = Ops(tmp_path / "serve", kubeconfig, env=pod_env, command="serve")
    try:
        serve.until(lambda: serve.get("/readyz")[0] == 200, 30, "/readyz 200 under the RBAC list")
        assert not re.findall(r"HTTP 403.*", serve.log)
        shards = int(pod_env["SDGEN_SHARDS"])
        prom_config = one(docs, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
        scrape_dir = tmp_path / "sdgen" / "scrape"
        scrape_dir.mkdir(parents=True)
        served_jobs = 0
        for shard in range(shards):
            code, body = serve.get(f"/scrape/{shard}")
            assert code == 200
            (scrape_dir / "central.yml").write_text(body)
            served_jobs += len(yaml.safe_load(body)["scrape_configs"])
            config = tmp_path / "prometheus.yml"
            config.write_text(prom_config.replace("/etc/prometheus/sdgen/", f"{tmp_path}/sdgen/"))
            result = subprocess.run(
                [str(binary("promtool")), "check", "config", "--syntax-only", str(config)],
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stdout + result.stderr
        assert served_jobs >= shards  # every shard has the jobs
    finally:
        assert serve.terminate() == 0
