"""The GitOps loop end to end: "edit merged → files written → Prometheus loaded it" in
/status, /metrics and as Kubernetes Events on the ConfigMap (read with the real kubectl), with
a real Prometheus that rejects a reload for a reason sdgen cannot foresee (a fragment's job
name that the main prometheus.yml already uses)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from sdgen.output.naming import job_name, slug
from tests.conftest import Binaries
from tests.fakeapi import FakeAPI
from tests.support.prom import PromHandle
from tests.support.sidecar import Ops, configmap, samples, value

FINE = """\
targets:
  - targetName: fine
    type: StaticEndpoints
    endpoints: [{address: "127.0.0.1:9"}]
"""
CLASH = (
    FINE
    + """\
  - targetName: clash
    type: StaticEndpoints
    endpoints: [{address: "127.0.0.1:9"}]
"""
)
CLASHING_JOB = job_name(slug("clash", 0), 0)  # the job sdgen's fragment for "clash" names


def version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def start_loop(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path, prometheus: Callable[..., PromHandle]
) -> tuple[Ops, PromHandle]:
    """Prometheus whose own config already has a job named like the fragment of `clash`,
    and `sdgen run` reloading it."""
    fakeapi.create(configmap(FINE))
    out = tmp_path / "sdgen" / "out"
    prom = prometheus(
        "global: {scrape_interval: 1m}\n"
        f"scrape_config_files: ['{out}/scrape/*.yml']\n"
        "scrape_configs:\n"
        f"  - job_name: '{CLASHING_JOB}'\n"
        "    static_configs: [{targets: ['127.0.0.1:9']}]\n"
    )
    run = Ops(tmp_path / "sdgen", kubeconfig, "--reload-url", f"{prom.url}/-/reload")
    return run, prom


def config_info(run: Ops) -> dict[str, str]:
    """state → version of sdgen_config_info."""
    return {
        dict(labels)["state"]: dict(labels)["version"]
        for (name, labels), v in samples(run.port).items()
        if name == "sdgen_config_info" and v == 1
    }


def kubectl(binaries: Binaries, kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        [str(binaries.kubectl), "--kubeconfig", str(kubeconfig), "-n", "monitoring", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def describe_events(binaries: Binaries, kubeconfig: Path) -> str:
    """The Events section of `kubectl describe configmap sdgen-config`."""
    described = kubectl(binaries, kubeconfig, "describe", "configmap", "sdgen-config")
    return described.partition("Events:")[2]


def test_status_metrics_and_events_show_seen_written_loaded_and_prometheus_rejection(
    fakeapi: FakeAPI,
    kubeconfig: Path,
    tmp_path: Path,
    prometheus: Callable[..., PromHandle],
    binaries: Binaries,
) -> None:
    run, prom = start_loop(fakeapi, kubeconfig, tmp_path, prometheus)
    try:
        v1, v2 = version(FINE), version(CLASH)
        run.until(
            lambda: run.status()["rollout"].get("loaded", {}).get("version") == v1,
            what="v1 loaded",
        )
        rollout = run.status()["rollout"]
        assert rollout["seen"]["version"] == rollout["written"]["version"] == v1
        assert rollout["reload"]["result"] == "success"
        assert rollout["written"]["at"] <= rollout["reload"]["at"]
        assert config_info(run) == {"seen": v1, "written": v1, "loaded": v1}

        fakeapi.apply(configmap(CLASH))
        run.until(
            lambda: run.status()["rollout"]["reload"]["result"] == "failure",
            30,
            "Prometheus rejects the reload",
        )
        rollout = run.status()["rollout"]
        assert (rollout["seen"]["version"], rollout["written"]["version"]) == (v2, v2)
        assert rollout["loaded"]["version"] == v1, "Prometheus still runs v1"
        # Prometheus's own answer (its log names the job; its 500 says only this much)
        assert rollout["reload"]["answer"].startswith(
            "HTTP 500 Internal Server Error: failed to reload config:"
        )
        assert config_info(run) == {"seen": v2, "written": v2, "loaded": v1}
        assert (value(run.port, "sdgen_reload_requests_total", result="failure") or 0) >= 1

        # The same, as an Event on the ConfigMap, with Prometheus's message.
        def reload_failed() -> str:
            listed = kubectl(binaries, kubeconfig, "events", "--for", "configmap/sdgen-config")
            return "\n".join(line for line in listed.splitlines() if "ReloadFailed" in line)

        run.until(lambda: reload_failed() != "", 20, "a ReloadFailed event")
        line = reload_failed()
        assert "Warning" in line and "ConfigMap/sdgen-config" in line, line
        assert "Prometheus refused the reload: HTTP 500" in line, line
        assert "failed to reload config" in line, line
        assert "ConfigApplied" in describe_events(binaries, kubeconfig)

        fakeapi.apply(configmap(FINE))  # the fix: back to a config Prometheus accepts
        # (Prometheus kept running v1 all along: it never took v2, so loaded stayed v1.)
        run.until(lambda: run.status()["rollout"]["reload"]["result"] == "success", 30)
        assert config_info(run) == {"seen": v1, "written": v1, "loaded": v1}
    finally:
        run.terminate()
        prom.stop()


BROKEN_TARGET = (
    FINE
    + """\
  - targetName: broken
    type: StaticEndpoints
    endpoints: [{address: "127.0.0.1:9", interval: soon}]
"""
)


def test_invalid_configs_and_rejected_targets_are_events_on_the_configmap(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path, binaries: Binaries
) -> None:
    fakeapi.create(configmap(FINE))
    run = Ops(tmp_path / "sdgen", kubeconfig)
    try:
        run.until(lambda: "ConfigApplied" in describe_events(binaries, kubeconfig), 20)
        assert f"config version {version(FINE)} applied: 1 scrape targets" in describe_events(
            binaries, kubeconfig
        )
        fakeapi.apply(configmap(BROKEN_TARGET))
        run.until(lambda: "TargetRejected" in describe_events(binaries, kubeconfig), 20)
        events = describe_events(binaries, kubeconfig)
        assert "target broken rejected" in events and "not a valid duration" in events, events
        fakeapi.apply(configmap("targets: [\n"))
        run.until(lambda: "ConfigInvalid" in describe_events(binaries, kubeconfig), 20)
        events = describe_events(binaries, kubeconfig)
        assert "nothing changes until it is fixed" in events, events
        assert value(run.port, "sdgen_events_total", reason="ConfigInvalid", result="created") == 1
        assert "forbidden" not in run.log.lower()
    finally:
        run.terminate()


def test_no_events_writes_none(fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    fakeapi.create(configmap(BROKEN_TARGET))
    run = Ops(tmp_path / "sdgen", kubeconfig, "--no-events")
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, what="first render")
        run.until(lambda: run.status()["targets"]["broken"]["last_error"] != "")
        assert fakeapi.list("events") == []
        assert not any(m == "POST" for m, _ in fakeapi.requests)
    finally:
        run.terminate()
