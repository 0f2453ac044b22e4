"""The GitOps loop end to end with a real Prometheus: "edit merged → files written →
Prometheus loaded it" in /status and /metrics, and a reload Prometheus rejects for a reason
sdgen cannot foresee (a fragment's job name that the main prometheus.yml already uses)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from sdgen.output.naming import job_name, slug
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


def test_status_and_metrics_show_seen_written_loaded_and_prometheus_rejection(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path, prometheus: Callable[..., PromHandle]
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

        fakeapi.apply(configmap(FINE))  # the fix: back to a config Prometheus accepts
        # (Prometheus kept running v1 all along: it never took v2, so loaded stayed v1.)
        run.until(lambda: run.status()["rollout"]["reload"]["result"] == "success", 30)
        assert config_info(run) == {"seen": v1, "written": v1, "loaded": v1}
    finally:
        run.terminate()
        prom.stop()
