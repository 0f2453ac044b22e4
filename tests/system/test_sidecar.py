"""The sidecar end to end: `sdgen run` as a real process against the emulator over HTTP.

Each test starts the emulator in-process, a real `sdgen run` subprocess pointed at it through
a kubeconfig, and watches the output directory; edits go through the emulator's API (and
`kubectl apply --server-side` where the issue names it).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import ReloadEndpoint
from tests.support.sidecar import EXAMPLES, SidecarProcess, configmap, load_yaml, until


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Any]:
    started: list[SidecarProcess] = []

    def start(*args: str) -> SidecarProcess:
        process = SidecarProcess(tmp_path, list(args))
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()


def static(name: str, address: str) -> str:
    return (
        f"targets:\n- targetName: {name}\n  type: StaticEndpoints\n"
        f"  endpoints: [{{address: '{address}'}}]\n"
    )


def by_job(targets: dict[str, list[dict[str, Any]]], job: str) -> list[str]:
    return sorted(
        addr
        for groups in targets.values()
        for group in groups
        if group["labels"].get("job") == job
        for addr in group["targets"]
    )


@pytest.fixture
def cluster(fakeapi: Any) -> Any:
    for obj in load_yaml(EXAMPLES / "cluster.yaml"):
        fakeapi.create(obj)
    return fakeapi


def test_configmap_edits_pods_and_disable_follow_without_restart(
    cluster: Any, kubeconfig: Path, sidecar: Any, tmp_path: Path, binaries: Any
) -> None:
    text = (EXAMPLES / "scrape_config.yaml").read_text()
    cluster.create(configmap(text))
    run = sidecar("--kubeconfig", str(kubeconfig), "--configmap", "monitoring/sdgen-config")

    # the first sync writes the three targets' files one after another
    until(run, lambda: len(run.files("targets")) == 3, 20)
    assert by_job(run.targets(), "demo-app") == ["10.244.1.17:9090", "10.244.2.9:9090"]
    assert by_job(run.targets(), "kube-apiserver") == ["192.0.2.10:6443", "192.0.2.11:6443"]
    assert by_job(run.targets(), "legacy-db") == ["192.0.2.100:9100", "192.0.2.101:9100"]

    # A new metric relabel regex, applied with kubectl server-side apply, reaches the relabel
    # file and the fragment.
    edited = text.replace("node_(cpu|memory|filesystem)_.*", "node_(load1|load5)")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(yaml.safe_dump(configmap(edited)))
    subprocess.run(
        [
            str(binaries.kubectl),
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--validate=false",
            "-f",
            str(manifest),
        ],
        check=True,
        capture_output=True,
    )
    # one sync writes both, one file after the other: wait for each
    until(run, lambda: any("node_(load1|load5)" in t for t in run.files("relabel").values()), 10)
    until(run, lambda: any("node_(load1|load5)" in t for t in run.files("scrape").values()), 5)

    # A new pod joins the targets; deleting it removes it again.
    pod = next(
        o
        for o in load_yaml(EXAMPLES / "cluster.yaml")
        if o["metadata"]["name"] == "demo-app-7d9c6b5f4-abcde"
    )
    pod["metadata"]["name"] = "demo-app-7d9c6b5f4-zzzzz"
    pod["metadata"].pop("uid", None)
    pod["status"]["podIP"] = "10.244.3.3"
    cluster.create(pod)
    until(run, lambda: "10.244.3.3:9090" in by_job(run.targets(), "demo-app"), 10)
    cluster.delete("pods", "demo", "demo-app-7d9c6b5f4-zzzzz")
    until(run, lambda: "10.244.3.3:9090" not in by_job(run.targets(), "demo-app"), 10)

    # Disabling one target removes its files; disabling openAgent removes all of them.
    disabled = edited.replace(
        "  - targetName: legacy-db\n", "  - targetName: legacy-db\n    enabled: false\n"
    )
    cluster.apply(configmap(disabled))
    until(run, lambda: by_job(run.targets(), "legacy-db") == [], 10)
    assert by_job(run.targets(), "demo-app")
    assert not any("legacy" in name for name in run.files("scrape"))

    off = "features:\n  openAgent:\n    enabled: false\n" + "    targets: []\n"
    cluster.apply(configmap(off))
    until(run, lambda: run.files("targets") == {} and run.files("scrape") == {}, 10)
    assert run.terminate() == 0


def test_invalid_edit_and_missing_configmap_keep_last_good_files(
    cluster: Any, kubeconfig: Path, sidecar: Any
) -> None:
    text = (EXAMPLES / "scrape_config.yaml").read_text()
    cluster.create(configmap(text))
    run = sidecar("--kubeconfig", str(kubeconfig), "--configmap", "monitoring/sdgen-config")
    until(run, lambda: len(run.files("targets")) == 3, 20)
    good = {sub: run.files(sub) for sub in ("targets", "relabel", "scrape")}

    cluster.apply(configmap(text.replace("interval: 15s", "interval: 15 seconds")))
    until(run, lambda: "15 seconds" in run.log, 10)
    # the other targets still render; the broken one keeps its last good files
    assert {sub: run.files(sub) for sub in ("targets", "relabel", "scrape")} == good

    cluster.apply(configmap("targets: [this is: not yaml"))
    until(run, lambda: "config rejected" in run.log, 10)
    cluster.delete("configmaps", "monitoring", "sdgen-config")
    until(run, lambda: "not found" in run.log, 10)
    assert {sub: run.files(sub) for sub in ("targets", "relabel", "scrape")} == good
    assert run.terminate() == 0


def test_on_missing_config_clear_removes_files(
    cluster: Any, kubeconfig: Path, sidecar: Any
) -> None:
    cluster.create(configmap((EXAMPLES / "scrape_config.yaml").read_text()))
    run = sidecar(
        "--kubeconfig",
        str(kubeconfig),
        "--configmap",
        "monitoring/sdgen-config",
        "--on-missing-config",
        "clear",
    )
    until(run, lambda: len(run.files("targets")) == 3, 20)
    cluster.delete("configmaps", "monitoring", "sdgen-config")
    until(run, lambda: run.files("targets") == {} and run.files("scrape") == {}, 10)


def test_api_failing_then_back(cluster: Any, kubeconfig: Path, sidecar: Any) -> None:
    cluster.create(configmap((EXAMPLES / "scrape_config.yaml").read_text()))
    run = sidecar(
        "--kubeconfig",
        str(kubeconfig),
        "--configmap",
        "monitoring/sdgen-config",
        "--interval",
        "200ms",
    )
    until(run, lambda: len(run.files("targets")) == 3, 20)
    good = run.files("targets")

    # Every watch is cut and the next requests fail: sdgen retries (the emulator sees the
    # failing requests) while periodic renders keep the files exactly as they were.
    before = len(cluster.requests)
    cluster.fail_next(4, status=503)
    cluster.drop_watches()
    until(run, lambda: len(cluster.requests) >= before + 4, 30)
    assert run.files("targets") == good

    cluster.patch(
        "pods",
        "demo",
        "demo-app-canary",
        {"metadata": {"labels": {"sdgen.example.com/no-scrape": None}}},
    )
    until(run, lambda: "10.244.1.30:9090" in by_job(run.targets(), "demo-app"), 60)


def test_sigterm_exits_zero_quickly_without_temp_files(tmp_path: Path, sidecar: Any) -> None:
    config = tmp_path / "config" / "scrape_config.yaml"
    config.parent.mkdir()
    config.write_text(static("db", "192.0.2.1:9100"))
    run = sidecar("--config-file", str(config))
    until(run, lambda: len(run.files("targets")) == 1, 20)
    started = time.monotonic()
    assert run.terminate(timeout=10) == 0
    assert time.monotonic() - started < 2.0, "SIGTERM must end sdgen within 2 s"
    leftovers = [p for p in run.out.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_local_file_mode_follows_symlink_swap_and_in_place_edit(
    tmp_path: Path, sidecar: Any
) -> None:
    # A ConfigMap volume: files are symlinks into ..data, itself a symlink swapped atomically.
    volume = tmp_path / "volume"
    volume.mkdir()

    def publish(version: str, text: str) -> None:
        data = volume / f"..{version}"
        data.mkdir()
        (data / "scrape_config.yaml").write_text(text)
        tmp_link = volume / "..data_tmp"
        tmp_link.symlink_to(data.name)
        os.replace(tmp_link, volume / "..data")

    publish("2026_01", static("first", "192.0.2.1:9100"))
    (volume / "scrape_config.yaml").symlink_to("..data/scrape_config.yaml")
    run = sidecar(
        "--config-file",
        str(volume / "scrape_config.yaml"),
        "--interval",
        "1h",
    )
    until(run, lambda: by_job(run.targets(), "first") == ["192.0.2.1:9100"], 20)

    publish("2026_02", static("second", "192.0.2.2:9100"))
    # the new target's files appear and the old one's are removed (in that order)
    until(run, lambda: by_job(run.targets(), "second") == ["192.0.2.2:9100"], 5)
    until(run, lambda: by_job(run.targets(), "first") == [], 5)


def test_local_file_mode_follows_in_place_edit(tmp_path: Path, sidecar: Any) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(static("third", "192.0.2.3:9100"))
    run = sidecar("--config-file", str(plain), "--interval", "1h")
    until(run, lambda: by_job(run.targets(), "third") == ["192.0.2.3:9100"], 20)
    with plain.open("w") as stream:  # truncate and rewrite the same inode
        stream.write(static("third", "192.0.2.33:9100"))
    until(run, lambda: by_job(run.targets(), "third") == ["192.0.2.33:9100"], 5)


def test_reload_is_posted_when_a_fragment_changes_not_for_target_churn(
    cluster: Any, kubeconfig: Path, sidecar: Any
) -> None:
    reload = ReloadEndpoint()
    try:
        text = (EXAMPLES / "scrape_config.yaml").read_text()
        cluster.create(configmap(text))
        run = sidecar(
            "--kubeconfig",
            str(kubeconfig),
            "--configmap",
            "monitoring/sdgen-config",
            "--reload-url",
            reload.url,
        )
        until(run, lambda: len(reload.posts) == 1, 20)

        # Pod churn changes only target files: Prometheus picks those up without a reload.
        cluster.patch(
            "pods",
            "demo",
            "demo-app-canary",
            {"metadata": {"labels": {"sdgen.example.com/no-scrape": None}}},
        )
        until(run, lambda: "10.244.1.30:9090" in by_job(run.targets(), "demo-app"), 10)
        # a render after the change proves no reload was queued for it
        cluster.apply(configmap(text + "\n# comment only\n"))
        until(run, lambda: "config loaded" in run.log and run.log.count("config loaded") >= 2, 10)
        assert len(reload.posts) == 1

        cluster.apply(configmap(text.replace("interval: 60s", "interval: 45s")))
        until(run, lambda: len(reload.posts) == 2, 10)
    finally:
        reload.stop()
