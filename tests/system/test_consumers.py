"""examples/consumers: the configs other scrapers use to read sdgen's output.

The Prometheus ones (Prometheus, in agent mode too, the OpenTelemetry Collector's prometheus
receiver) pass `promtool check config`, and the vmagent one the real vmagent's `-dryRun`
(tests/system/test_agents.py runs both agents for real). Alloy reads the targets files with
one glob across the per-job directories (which Prometheus's own file_sd refuses); a real
Prometheus reading those files with one generic file_sd job shows that every target group's
own job, interval, scheme and path labels are honoured, which is what that config relies on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import REPO, binary, wait_for

CONSUMERS = REPO / "examples" / "consumers"
OUTPUT = "/etc/prometheus/sdgen"  # where deploy/ mounts sdgen's output in the Prometheus pod
PROMETHEUS_SYNTAX = ["prometheus.yml"]


def promtool_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("promtool")), "check", "config", str(config)], capture_output=True, text=True
    )


@pytest.mark.parametrize("name", PROMETHEUS_SYNTAX)
def test_prometheus_syntax_configs_pass_promtool(name: str) -> None:
    result = promtool_check(CONSUMERS / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_agent_config_passes_promtool_in_agent_mode() -> None:
    config = CONSUMERS / "prometheus-agent.yml"
    result = subprocess.run(
        [str(binary("promtool")), "check", "config", "--agent", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmagent_config_passes_vmagents_dry_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(binary("vmagent")), "-dryRun", f"-promscrape.config={CONSUMERS / 'vmagent.yml'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_otel_collector_receiver_config_passes_promtool(tmp_path: Path) -> None:
    collector = yaml.safe_load((CONSUMERS / "otel-collector.yaml").read_text())
    receiver = collector["receivers"]["prometheus"]["config"]
    assert collector["service"]["pipelines"]["metrics"]["receivers"] == ["prometheus"]
    extracted = tmp_path / "receiver.yml"
    extracted.write_text(yaml.safe_dump(receiver))
    result = promtool_check(extracted)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name",
    [
        *PROMETHEUS_SYNTAX,
        "prometheus-agent.yml",
        "otel-collector.yaml",
        "vmagent.yml",
        "alloy.alloy",
    ],
)
def test_every_consumer_reads_where_deploy_mounts_the_output(name: str) -> None:
    paths = set(re.findall(r"/etc/prometheus/sdgen/[\w/*.]+", (CONSUMERS / name).read_text()))
    assert paths and paths <= {f"{OUTPUT}/scrape/*.yml", f"{OUTPUT}/targets/*/*.json"}


def test_the_file_sd_consumer_globs_every_job_directory() -> None:
    """Prometheus's file_sd allows a `*` in the last path element only; Alloy, which reads
    the targets files directly, globs one directory level, one per scrape job."""
    assert f"{OUTPUT}/targets/*/*.json" in (CONSUMERS / "alloy.alloy").read_text()


STATIC = """\
targets:
- targetName: fast-exporter
  type: StaticEndpoints
  endpoints:
  - address: 127.0.0.1:9
    interval: 7s
    timeout: 3s
    path: /custom/metrics
    scheme: https
    params: {module: [http_2xx]}
- targetName: slow-exporter
  type: StaticEndpoints
  endpoints: [{address: 127.0.0.1:10, interval: 45s}]
"""


def test_one_file_sd_job_honours_each_target_groups_own_labels(
    tmp_path: Path, prometheus: Callable[..., Any]
) -> None:
    config, out = tmp_path / "scrape_config.yaml", tmp_path / "out"
    config.write_text(STATIC)
    out.mkdir()
    once = subprocess.run(
        [sys.executable, "-m", "sdgen", "once", "--config-file", str(config), "--output-dir", out],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "none")},
    )
    assert once.returncode == 0, once.stderr
    files = sorted(str(p) for p in out.glob("targets/*/targets.json"))
    assert len(files) == 2  # one scrape job each
    job = {"job_name": "sdgen", "file_sd_configs": [{"files": files}]}
    prom = prometheus(yaml.safe_dump({"scrape_configs": [job]}))

    def active() -> dict[str, dict[str, Any]]:
        found = {t["labels"]["job"]: t for t in prom.targets()["activeTargets"]}
        return found if len(found) == 2 else {}

    targets = wait_for(active, 30, 0.2, "both targets active")
    fast, slow = targets["fast-exporter"], targets["slow-exporter"]
    assert fast["scrapeUrl"] == "https://127.0.0.1:9/custom/metrics?module=http_2xx"
    assert (fast["scrapeInterval"], fast["scrapeTimeout"]) == ("7s", "3s")
    assert slow["scrapeUrl"] == "http://127.0.0.1:10/metrics"
    assert slow["scrapeInterval"] == "45s"
    assert {t["scrapePool"] for t in targets.values()} == {"sdgen"}
