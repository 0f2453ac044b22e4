"""The bundled examples stay valid: sdgen check passes them, promtool accepts prometheus.yml."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from sdgen.cli.check import check_text
from sdgen.config.document import parse_config
from sdgen.config.manifest import load_configmap_key
from tests.support.helpers import REPO, wait_for

EXAMPLES = REPO / "examples"
DATA = REPO / "tests" / "data" / "config"
SCRAPE_CONFIGS = ["scrape_config.yaml", "configmap.yaml", "openagent-configmap.yaml"]
# What the examples' credential files need (--allowed-file-prefixes): the kube-apiserver
# example authenticates with Prometheus's own service account.
SERVICE_ACCOUNT = ("/var/run/secrets/kubernetes.io/serviceaccount",)


def test_every_example_that_holds_a_config_passes_check() -> None:
    """What `sdgen check --allowed-file-prefixes … examples/` sees: configs without any
    issue; other files skipped."""
    checked = []
    for path in sorted(EXAMPLES.glob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        issues = check_text(text, explicit=False, allowed_files=SERVICE_ACCOUNT)
        assert issues in (None, []), (path.name, issues)
        if issues is not None:
            checked.append(path.name)
    assert set(SCRAPE_CONFIGS) <= set(checked)


@pytest.mark.parametrize("name", SCRAPE_CONFIGS)
def test_scrape_config_example_is_clean_when_named(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert check_text(text, allowed_files=SERVICE_ACCOUNT) == []
    # Without the flag, each local file path is a warning (issue 17, item 11), and only that.
    issues = check_text(text)
    assert issues and all(
        i.severity == "warning" and "will read the local file" in i.message for i in issues
    )


def test_examples_describe_the_same_targets() -> None:
    plain = parse_config((EXAMPLES / "scrape_config.yaml").read_text(encoding="utf-8"))
    for name in ("configmap.yaml", "openagent-configmap.yaml"):
        (embedded,) = load_configmap_key((EXAMPLES / name).read_text(encoding="utf-8")).configs
        assert embedded.parse().targets == plain.targets, name
    assert [t.name for t in plain.targets] == ["kube-apiserver", "demo-app", "legacy-db"]


def test_configmap_example_is_where_sdgen_looks_by_default() -> None:
    (embedded,) = load_configmap_key((EXAMPLES / "configmap.yaml").read_text()).configs
    assert (embedded.configmap, embedded.key) == ("monitoring/sdgen-config", "scrape_config.yaml")


def test_openagent_sample_passes_with_warnings_only() -> None:
    """The openAgent ConfigMap sample exactly as existing users have it (byte for byte)."""
    issues = check_text((DATA / "openagent-sample-configmap.yaml").read_text(encoding="utf-8"))
    assert issues is not None
    assert [(i.severity, i.line, i.path) for i in issues] == [
        ("warning", 35, "features.openAgent.targets[0].metricRelabelConfigs"),
        ("warning", 54, "features.openAgent.targets[1].endpoints[0].adaptiveTimeout"),
    ]


def _promtool() -> str:
    tool = os.environ.get("PROMTOOL") or str(REPO / ".cache" / "bin" / "promtool")
    assert Path(tool).is_file(), f"promtool not found at {tool}; run `make tools` or set PROMTOOL"
    return tool


def _promtool_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), "check", "config", config.name],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.prometheus
def test_promtool_accepts_prometheus_example() -> None:
    run = _promtool_check(EXAMPLES / "prometheus.yml")
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.prometheus
def test_prometheus_example_loads_fragments_from_its_glob(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "prometheus.yml", tmp_path)
    scrape = tmp_path / "sdgen" / "scrape"
    scrape.mkdir(parents=True)
    shutil.copy(DATA / "prometheus-fragment" / "job.yml", scrape)
    good = _promtool_check(tmp_path / "prometheus.yml")
    assert good.returncode == 0, good.stdout + good.stderr
    # The glob is really read: a broken fragment there makes the config invalid.
    (scrape / "broken.yml").write_text("scrape_configs:\n  - job_name: x\n    bogus: 1\n")
    broken = _promtool_check(tmp_path / "prometheus.yml")
    assert broken.returncode != 0
    assert "bogus" in broken.stdout + broken.stderr


def test_make_run_picks_free_ports_when_its_defaults_are_taken(tmp_path: Path) -> None:
    """`make run` (tests/tools/run-example) with both preferred ports taken: it says which
    port is taken, uses free ones, and sdgen renders the example and answers on its port."""
    taken = [socket.socket(), socket.socket()]
    for s in taken:
        s.bind(("127.0.0.1", 0))
        s.listen()
    api_port, ops_port = (s.getsockname()[1] for s in taken)
    env = {
        **os.environ,
        "FAKEAPI_PORT": str(api_port),
        "OPS_PORT": str(ops_port),
        "OUT_DIR": str(tmp_path / "out"),
        "STATE_DIR": str(tmp_path / "state"),
    }
    script = subprocess.Popen(
        [str(REPO / "tests" / "tools" / "run-example")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert script.stdout is not None and script.stderr is not None
        said = [script.stderr.readline(), script.stderr.readline()]
        assert f"port {api_port} is taken; the API emulator uses" in said[0], said
        assert f"port {ops_port} is taken; the sdgen ops port uses" in said[1], said
        lines = iter(script.stdout.readline, "")
        page = next(line for line in lines if "page and status" in line)
        url = page.split()[-3].rstrip("/")  # http://127.0.0.1:PORT/ (curl ...)
        assert not url.endswith(f":{ops_port}")

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as reply:
                    return bool(reply.status == 200)
            except OSError:
                return False

        wait_for(ready, 30, message="sdgen ready on the port make run chose")
        assert list((tmp_path / "out" / "targets").glob("*/targets.json"))
    finally:
        os.killpg(script.pid, signal.SIGINT)
        script.wait(timeout=10)
        for s in taken:
            s.close()
