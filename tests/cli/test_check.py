"""`sdgen check`: located messages, exit codes 0/1/2, manifests, directories, stdin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sdgen.cli.main import main
from sdgen.output import naming
from tests.config.test_filepaths import FILES
from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO
from tests.support.sidecar import load_yaml

DATA = Path("tests/data/config")  # relative to REPO: the CLI prints paths as given
GOOD = "targets:\n  - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}\n"
BAD = "targets:\n  - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1/x'}]}\n"
THREE_ERRORS = [
    f"{DATA}/three-errors.yaml:7: targets[0].endpoints[0].interval: "
    'unknown unit " s" in duration "30 s"',
    f"{DATA}/three-errors.yaml:10: targets[0].endpoints[0].metricRelabelConfigs[0].regex: "
    "error parsing regexp: missing closing ): `^(?s:http_(requests)$`",
    f"{DATA}/three-errors.yaml:12: targets[0].endpoints[0].honorLabel: "
    'unknown field "honorLabel"; did you mean "honorLabels"?',
]


SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"  # the examples' files


def sdgen(
    *args: str, stdin: str = "", cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, the way a CI job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sdgen", "check", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """The CLI in-process: (exit code, stdout lines, stderr)."""
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_three_errors_located_and_exit_1() -> None:
    run = sdgen(str(DATA / "three-errors.yaml"))
    assert run.returncode == 1
    assert run.stdout.splitlines() == THREE_ERRORS
    assert "3 error(s)" in run.stderr


def test_clean_config_exits_0_silently() -> None:
    run = sdgen("--allowed-file-prefixes", SERVICE_ACCOUNT, "examples/scrape_config.yaml")
    assert (run.returncode, run.stdout) == (0, "")


def test_missing_file_exits_2_after_checking_the_others() -> None:
    run = sdgen("does-not-exist.yaml", str(DATA / "three-errors.yaml"))
    assert run.returncode == 2
    assert "does-not-exist.yaml: no such file or directory" in run.stderr
    assert run.stdout.splitlines() == THREE_ERRORS


def test_stdin() -> None:
    run = sdgen("-", stdin=BAD)
    assert run.returncode == 1
    assert run.stdout.startswith("<stdin>:2: targets[0].endpoints[0].address: ")


def test_usage_error_exits_2() -> None:
    assert sdgen().returncode == 2


def test_configmap_manifest_reports_manifest_lines(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(REPO / DATA / "configmap-bad.yaml")
    code, out, _ = check(capsys, path)
    assert code == 1
    assert out == [
        f'{path}:17: targets[0].endpoints[0].interval: unknown unit "x" in duration "1x"'
    ]


def test_key_option_picks_the_data_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
        "  good.yaml: |\n    targets: []\n"
        "  bad.yaml: |\n    targets: []\n    bogus: 1\n"
    )
    assert check(capsys, str(manifest), "--key", "good.yaml")[:2] == (0, [])
    assert check(capsys, str(manifest), "--key", "bad.yaml")[:2] == (
        1,
        [f'{manifest}:9: bogus: unknown field "bogus"'],
    )
    assert check(capsys, str(manifest))[:2] == (
        1,
        [f'{manifest}: no ConfigMap with data key "scrape_config.yaml"'],
    )


def test_warnings_only_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("features:\n  openAgent:\n    imageName: agent\n    targets: []\n")
    code, out, err = check(capsys, str(config))
    assert code == 0
    assert out == [
        f"{config}:3: features.openAgent.imageName: warning: "
        "an openAgent setting Prometheus has no use for; ignored"
    ]
    assert "0 error(s), 1 warning(s)" in err


def test_directory_is_searched_recursively(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "nested" / "deeper" / "bad.yml").write_text(BAD)
    (tmp_path / ".git" / "bad.yaml").write_text(BAD)  # hidden: skipped
    (tmp_path / "notes.txt").write_text(BAD)  # not YAML by name: skipped
    # not scrape configs: a Prometheus config, a Deployment, another ConfigMap
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    (tmp_path / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    (tmp_path / "dash.yaml").write_text("kind: ConfigMap\ndata: {dash.json: '{}'}\n")
    code, out, err = check(capsys, str(tmp_path))
    assert code == 1
    assert out == [
        f"{tmp_path}/nested/deeper/bad.yml:2: targets[0].endpoints[0].address: "
        '"h:1/x" is not a valid host:port address (scheme and path are separate fields)'
    ]
    assert "2 file(s), 1 error(s)" in err


def test_directory_without_configs_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    code, out, _ = check(capsys, str(tmp_path))
    assert (code, out) == (1, [f"{tmp_path}: no scrape config found in this directory"])


def test_broken_yaml_in_a_directory_is_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text("targets: [\n")
    code, out, _ = check(capsys, str(tmp_path))
    assert code == 1
    assert [line.split(": ")[0:2] for line in out] == [
        [f"{tmp_path}/broken.yaml:2", "invalid YAML"]
    ]


def test_not_utf8_is_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes(b"targets: []\n# caf\xe9\n")
    code, out, _ = check(capsys, str(config))
    assert (code, out) == (
        1,
        [f"{config}:2: not UTF-8 text (invalid continuation byte at byte 17)"],
    )


def test_examples_directory_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(
        capsys, "--allowed-file-prefixes", SERVICE_ACCOUNT, str(REPO / "examples")
    )
    assert (code, out) == (0, [])
    assert "0 error(s), 0 warning(s)" in err


def test_a_fifo_named_like_a_config_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stuck.yaml")
    (tmp_path / "good.yaml").write_text("targets: []\n")
    result = sdgen(str(tmp_path))  # a read of the FIFO would never return
    assert result.returncode == 2, result.stderr
    assert f"{tmp_path / 'stuck.yaml'}: not a regular file" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_endless_device_is_an_error_not_a_memory_error() -> None:
    result = sdgen("/dev/zero")
    assert result.returncode == 2, result.stderr
    assert "/dev/zero: not a regular file" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr


def test_a_huge_file_is_refused_after_a_bounded_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as stream:
        stream.truncate(64 << 20)  # sparse: 64 MiB that cost no disk
    result = sdgen(str(huge))
    assert result.returncode == 2, result.stderr
    assert f"{huge}: larger than 8 MiB" in result.stdout + result.stderr


def test_check_reports_a_file_name_clash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17, item 7: `sdgen check` passed a config whose render then failed."""
    real = naming.target_prefix
    monkeypatch.setattr(naming, "target_prefix", lambda n: real("a" if n == "b" else n))
    config = tmp_path / "scrape_config.yaml"
    config.write_text(
        "targets:\n"
        "  - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}\n"
        "  - {targetName: b, type: StaticEndpoints, endpoints: [{address: 'h:2'}]}\n"
    )
    code, lines, _ = check(capsys, str(config))
    assert code == 1
    assert lines == [
        f'{config}:3: targets[1].targetName: target "b" would write the same files as '
        'target "a" (line 2); rename one of them'
    ]


def test_allowed_file_prefixes_rejects_a_path_outside_them(tmp_path: Path) -> None:
    """Issue 17, item 11: a config could make Prometheus send its own service-account token
    to any address. The flag (or SDGEN_ALLOWED_FILE_PREFIXES) limits the paths; a path
    outside is a located error on its target."""
    config = tmp_path / "scrape_config.yaml"
    config.write_text(FILES)
    run = sdgen("--allowed-file-prefixes", "/etc/prometheus/certs/,/etc/other", str(config))
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f'{config}:6: targets[0].endpoints[0].bearerTokenFile: "/var/run/secrets/kubernetes.io/'
        'serviceaccount/token" is outside --allowed-file-prefixes (/etc/prometheus/certs, '
        "/etc/other): name a file under one of them",
        f'{config}:20: targets[2].endpoints[0].basicAuth.passwordFile: "/etc/passwd" is outside '
        "--allowed-file-prefixes (/etc/prometheus/certs, /etc/other): name a file under one of "
        "them",
    ]
    allowed = sdgen(str(config), env={"SDGEN_ALLOWED_FILE_PREFIXES": "/etc,/var/run/secrets"})
    assert (allowed.returncode, allowed.stdout) == (0, "")
    default = sdgen(str(config))
    assert default.returncode == 0
    assert [line.split(": ", 1)[0] for line in default.stdout.splitlines()] == [
        f"{config}:{line}" for line in (6, 11, 13, 14, 15, 20)
    ]
    assert "warning: Prometheus will read the local file" in default.stdout
    bad = sdgen("--allowed-file-prefixes", "etc/relative", str(config))
    assert bad.returncode == 2 and 'prefix "etc/relative" is not an absolute path' in bad.stderr


LINTED = """apiVersion: v1
kind: ConfigMap
metadata: {name: scrape, namespace: demo}
data:
  scrape_config.yaml: |
    targets:
      - targetName: nothing
        type: PodMonitor
        selector: {matchLabels: {app: no-such-app}}
        endpoints: [{port: metrics}]
      - targetName: wrong-port
        type: PodMonitor
        selector: {matchLabels: {app: demo-app}}
        endpoints:
          - port: no-such-port
"""


def test_snapshot_adds_located_lint_warnings_and_exits_0(tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(LINTED)
    run = sdgen(str(manifest), "--snapshot", "examples/cluster.yaml")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"{manifest}:9: targets[0].selector: warning: "
        "matches no pod (running, with an IP) in the 1 namespace(s) selected",
        f"{manifest}:15: targets[1].endpoints[0].port: warning: "
        'no selected pod has port "no-such-port"',
    ]
    assert "0 error(s), 2 warning(s)" in run.stderr
    assert sdgen(str(manifest)).stdout == "", "no cluster objects: no lint"


def test_an_unreadable_snapshot_exits_2(tmp_path: Path) -> None:
    run = sdgen("examples/scrape_config.yaml", "--snapshot", str(tmp_path / "none.yaml"))
    assert run.returncode == 2
    assert "none.yaml: cannot read snapshot" in run.stderr


def test_kubeconfig_lints_against_the_live_cluster(
    fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    for obj in load_yaml(REPO / "examples" / "cluster.yaml"):
        fakeapi.create(obj)
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(LINTED)
    run = sdgen(str(manifest), "--kubeconfig", str(kubeconfig))
    assert run.returncode == 0, run.stderr
    assert [line.split(": ", 1)[1] for line in run.stdout.splitlines()] == [
        "targets[0].selector: warning: "
        "matches no pod (running, with an IP) in the 1 namespace(s) selected",
        'targets[1].endpoints[0].port: warning: no selected pod has port "no-such-port"',
    ]


TENANTS = REPO / "tests/data/tenants"


def test_tenant_applies_the_tenant_rules_with_located_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hostile tenant of tests/system/test_tenants.py: each attempt is located."""
    hostile = str(TENANTS / "hostile.yaml")
    code, out, err = check(capsys, "--tenant", "team-c", hostile)
    assert code == 1 and "4 error(s)" in err
    expected = {
        9: "targets[1].namespaceSelector: selects namespaces other than the tenant's own",
        18: "targets[2].endpoints[0].relabelings[0]: warning: sets the 'namespace' label",
        25: "targets[3].endpoints[0].bearerTokenFile: references a file of the Prometheus pod",
        26: "targets[3].endpoints[0].tlsConfig.caFile: references a file of the Prometheus pod",
        28: "targets[4].type: StaticEndpoints name addresses of their own",
    }
    for line, text in expected.items():
        assert any(o.startswith(f"{hostile}:{line}: {text}") for o in out), (line, out)
    assert sum("metricRelabelConfigs: warning: rule 0" in o for o in out) == 1
    assert sum("honorLabels: warning: forced to false" in o for o in out) == 1
    # Without --tenant the same file is a valid config.
    assert check(capsys, hostile)[0] == 0


def test_tenant_in_a_trusted_namespace_and_allowed_addresses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = str(TENANTS / "hostile.yaml")
    trusted = check(capsys, "--tenant", "team-c", "--trusted-namespaces", "ops,team-c", hostile)
    # Files are the --allowed-file-prefixes' business then: unset, each is a warning.
    assert trusted[0] == 0 and all(": warning: " in line for line in trusted[1])
    code, out, _ = check(
        capsys, "--tenant", "team-c", "--tenant-static-endpoints", "allow", hostile
    )
    assert code == 1 and not any("StaticEndpoints" in o for o in out)


def test_tenant_on_a_configmap_manifest_uses_manifest_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = (TENANTS / "hostile.yaml").read_text()
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scrape, namespace: team-c}\n"
        "data:\n  scrape_config.yaml: |\n" + textwrap.indent(config, "    ")
    )
    code, out, _ = check(capsys, "--tenant", "team-c", str(manifest))
    assert code == 1
    assert any(o.startswith(f"{manifest}:{9 + 5}: targets[1].namespaceSelector") for o in out)


def test_the_two_team_example_passes_as_a_tenant(capsys: pytest.CaptureFixture[str]) -> None:
    for team in ("team-a", "team-b"):
        assert check(capsys, "--tenant", team, "examples/teams.yaml")[:2] == (0, [])
