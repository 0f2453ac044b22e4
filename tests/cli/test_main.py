"""`sdgen once` and `sdgen targets` as a user runs them: offline from a cluster dump, sharded,
without a cluster, and with a broken target."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sdgen.cli import commands
from sdgen.cli.main import build_parser
from tests.support.helpers import REPO

CORNERS = REPO / "tests" / "data" / "golden"


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A dump of the seed clusters (multi-document YAML, as `kubectl get -o yaml` pieces)."""
    path = tmp_path / "dump.yaml"
    parts = [
        (REPO / "examples" / "cluster.yaml").read_text(),
        (CORNERS / "cluster.yaml").read_text(),
    ]
    path.write_text("\n---\n".join(parts))
    return path


def sdgen(
    *args: str, tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(tmp / "no-such-kubeconfig"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sdgen", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def targets_files(out: Path) -> list[Path]:
    """The targets file of every scrape job: `targets/<job>/targets.json`, nothing else."""
    assert list((out / "targets").glob("*.json")) == [], "no file lies in targets/ itself"
    return sorted((out / "targets").glob("*/targets.json"))


def target_names(out: Path) -> list[str]:
    """The target each targets file belongs to: its job name up to the first dot."""
    return [path.parent.name.split(".")[0] for path in targets_files(out)]


def target_set(out: Path) -> set[tuple[str, str]]:
    found = set()
    for path in targets_files(out):
        for group in json.loads(path.read_text()):
            for address in group["targets"]:
                found.add((address, json.dumps(group["labels"], sort_keys=True)))
    return found


def test_shards_are_disjoint_and_add_up_to_the_whole(snapshot: Path, tmp_path: Path) -> None:
    config = str(CORNERS / "scrape_config.yaml")
    whole = tmp_path / "whole"
    whole.mkdir()
    done = sdgen(
        "once",
        "--config-file",
        config,
        "--snapshot",
        str(snapshot),
        "--output-dir",
        str(whole),
        tmp=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    shards = []
    for index in range(3):
        out = tmp_path / f"shard{index}"
        out.mkdir()
        done = sdgen(
            "once",
            "--config-file",
            config,
            "--snapshot",
            str(snapshot),
            "--output-dir",
            str(out),
            "--shards",
            "3",
            "--shard-index",
            str(index),
            tmp=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        shards.append(target_set(out))
    everything = target_set(whole)
    assert len(everything) > 10
    assert set().union(*shards) == everything
    assert sum(len(s) for s in shards) == len(everything), "shards overlap"
    assert all(shards), "with this many targets every shard gets some"


def test_targets_prints_table_and_json_with_discovered_labels(
    snapshot: Path, tmp_path: Path
) -> None:
    config = str(CORNERS / "scrape_config.yaml")
    table = sdgen(
        "targets",
        "--config-file",
        config,
        "--snapshot",
        str(snapshot),
        "--discovered",
        tmp=tmp_path,
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["TARGET", "ENDPOINT", "ADDRESS", "LABELS"]
    assert any(line.startswith("db-service") and "10.1.0.5:9187" in line for line in lines)
    assert any("discovered:" in line and "__meta_kubernetes_pod_name" in line for line in lines)

    as_json = sdgen(
        "targets", "--config-file", config, "--snapshot", str(snapshot), "--json", tmp=tmp_path
    )
    document: dict[str, Any] = json.loads(as_json.stdout)
    rows = [r for r in document["targets"] if r["target"] == "db-pods"]
    assert {r["address"] for r in rows} == {"10.1.0.5:9187"}
    assert all(r["labels"]["job"] == "db-pods" for r in rows)
    assert all("__meta_kubernetes_pod_name" in r["discovered"] for r in rows)
    assert all(not k.startswith("__meta_") for r in rows for k in r["labels"])
    assert f"{len(document['targets'])} targets" in table.stdout


def test_a_broken_target_is_reported_and_the_others_still_render(
    snapshot: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "targets:\n"
        "- targetName: good\n  type: StaticEndpoints\n  endpoints: [{address: '192.0.2.1:80'}]\n"
        "- targetName: broken\n  type: StaticEndpoints\n  endpoints:\n"
        "  - address: '192.0.2.2:80'\n    relabelings: [{regex: '(unclosed', action: keep}]\n"
    )
    listing = sdgen(
        "targets", "--config-file", str(config), "--snapshot", str(snapshot), tmp=tmp_path
    )
    assert listing.returncode == 1
    assert "192.0.2.1:80" in listing.stdout
    assert "targets[1].endpoints[0].relabelings[0].regex" in listing.stdout

    out = tmp_path / "out"
    out.mkdir()
    once = sdgen(
        "once",
        "--config-file",
        str(config),
        "--snapshot",
        str(snapshot),
        "--output-dir",
        str(out),
        tmp=tmp_path,
    )
    assert once.returncode == 1
    assert target_names(out) == ["good"]
    assert "targets[1].endpoints[0].relabelings[0].regex" in once.stderr


def test_allowed_file_prefixes_reject_a_target_naming_another_file(tmp_path: Path) -> None:
    """Issue 17, item 11, as `sdgen once` runs: SDGEN_ALLOWED_FILE_PREFIXES (or the flag)
    rejects the target whose credential file lies elsewhere; the other renders."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "targets:\n"
        "- targetName: good\n  type: StaticEndpoints\n  endpoints:\n"
        "  - {address: '192.0.2.1:80', bearerTokenFile: /etc/prometheus/certs/token}\n"
        "- targetName: thief\n  type: StaticEndpoints\n  endpoints:\n"
        "  - {address: '192.0.2.2:80', bearerTokenFile: /var/run/secrets/kubernetes.io/"
        "serviceaccount/token}\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    args = ("once", "--config-file", str(config), "--output-dir", str(out))
    env = {"SDGEN_ALLOWED_FILE_PREFIXES": "/etc/prometheus/certs"}
    once = sdgen(*args, tmp=tmp_path, env=env)
    assert once.returncode == 1
    assert target_names(out) == ["good"]
    assert "targets[1].endpoints[0].bearerTokenFile" in once.stderr
    assert "is outside --allowed-file-prefixes (/etc/prometheus/certs)" in once.stderr
    everything = sdgen(*args, tmp=tmp_path)  # unset: any path, with a warning each
    assert everything.returncode == 0, everything.stderr
    assert target_names(out) == ["good", "thief"]
    assert everything.stderr.count("will read the local file") == 2


def test_without_a_cluster_static_targets_work_and_monitors_report_no_cluster(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "targets:\n"
        "- targetName: static\n  type: StaticEndpoints\n  endpoints: [{address: '192.0.2.1:80'}]\n"
        "- targetName: pods\n  type: PodMonitor\n  selector: {}\n  endpoints: [{port: metrics}]\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    once = sdgen("once", "--config-file", str(config), "--output-dir", str(out), tmp=tmp_path)
    assert once.returncode == 1
    assert target_names(out) == ["static"]
    listing = sdgen("targets", "--config-file", str(config), "--json", tmp=tmp_path)
    errors = json.loads(listing.stdout)["errors"]
    assert list(errors) == ["pods"] and errors["pods"].startswith("no cluster")


def test_missing_output_dir_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("targets: []\n")
    missing = tmp_path / "nowhere"
    done = sdgen("once", "--config-file", str(config), "--output-dir", str(missing), tmp=tmp_path)
    assert done.returncode == 2
    assert str(missing) in done.stderr


def test_an_unreadable_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("targets: []\n")
    dump = tmp_path / "dump.yaml"
    dump.write_text("{{ not yaml")
    done = sdgen("targets", "--config-file", str(config), "--snapshot", str(dump), tmp=tmp_path)
    assert done.returncode == 2
    assert f"{dump}: not a YAML dump" in done.stderr


def test_an_unknown_on_missing_config_from_the_environment_is_a_clear_error(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("targets: []\n")
    env = {"SDGEN_ON_MISSING_CONFIG": "wipe"}
    done = sdgen("targets", "--config-file", str(config), tmp=tmp_path, env=env)
    assert done.returncode == 2
    assert "--on-missing-config 'wipe': expected one of keep, clear" in done.stderr


def test_targets_names_the_file_of_each_targets_part(tmp_path: Path) -> None:
    """`sdgen targets --json` says which part (file, scrape job) holds each target, as the
    sidecar over the same output dir splits the endpoints."""
    out, config = tmp_path / "out", tmp_path / "scrape_config.yaml"
    out.mkdir()
    addresses = [f"10.0.0.{i}:9100" for i in range(12)]
    endpoint = {"addresses": addresses}
    config.write_text(
        json.dumps(
            {"targets": [{"targetName": "web", "type": "StaticEndpoints", "endpoints": [endpoint]}]}
        )
    )
    common = ["--config-file", str(config), "--output-dir", str(out), "--part-size", "2"]
    assert sdgen("once", *common, tmp=tmp_path).returncode == 0
    found = json.loads(sdgen("targets", "--json", *common, tmp=tmp_path).stdout)["targets"]
    assert len(found) == 12 and len({t["file"] for t in found}) == len(targets_files(out)) > 1
    for target in found:
        groups = json.loads((out / target["file"]).read_text())
        assert any(target["address"] in group["targets"] for group in groups), target


def test_a_listen_port_in_use_is_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    config, out = tmp_path / "scrape_config.yaml", tmp_path / "out"
    config.write_text("targets: []\n")
    out.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sdgen(
            "run", "--config-file", str(config), "--output-dir", str(out),
            "--listen", f"127.0.0.1:{port}", tmp=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"--listen 127.0.0.1:{port}: cannot listen there: Address already in use" in (
        result.stderr
    )
    assert "pick another port" in result.stderr and "Traceback" not in result.stderr


def test_the_targets_table_shows_hostile_values_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "scrape_config.yaml"
    target = {
        "targetName": "web\nerror: forged",
        "type": "StaticEndpoints",
        "relabelConfigs": [{"targetLabel": "team", "replacement": "a\r\nb\x1b[2K"}],
        "endpoints": [{"address": "10.0.0.1:9100"}],
    }
    config.write_text(json.dumps({"targets": [target]}))
    result = sdgen("targets", "--config-file", str(config), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4, lines  # header, the one target, its file, the count
    assert "web\\nerror: forged" in lines[1] and 'team="a\\r\\nb\\u001b[2K"' in lines[1]


def test_serve_parses_its_flags_and_has_the_shared_assemblys_defaults() -> None:
    """`build` reads one namespace shape for every command: serve's absent flags default."""
    args = build_parser().parse_args(["serve", "--shards", "3", "--sd-refresh-interval", "5s"])
    assert args.func is commands.serve
    assert (args.shards, args.sd_refresh_interval, args.sd_url) == (
        3,
        5.0,
        "http://sdgen-central:8080",
    )
    assert (args.reload_url, args.materialize_secrets, args.snapshot) == (None, False, None)
    assert args.on_missing_config == "keep" and args.shard_index == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--output-dir", "/tmp/x"])  # it writes no files
