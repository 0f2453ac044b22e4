"""`sdgen serve` over the emulator, read by real Prometheus through `http_sd_configs`.

Two replicas answer byte for byte alike; each of two Prometheus shards, loading its
`/scrape/<shard>` document (the test plays the config reloader), sees exactly the targets of
its shard; the shards' union is what unsharded `sdgen targets` finds; a ConfigMap edit
reaches the served bytes, and Prometheus at its next poll (no reload: its jobs did not
change). An edit that adds or removes a job (a new endpoint) changes `/scrape/<shard>`,
which needs the config reloader and a Prometheus reload, as a sidecar's fragments do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeapi import FakeAPI
from tests.support.helpers import REPO, free_port, wait_for
from tests.support.prom import PromHandle
from tests.support.sidecar import Ops, configmap

SHARDS = 2
PODS = 24
REFRESH = "1s"


def pod(i: int) -> dict[str, Any]:
    ip = f"127.0.0.{i + 1}"  # loopback: a scrape is refused at once, never hangs
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"web-{i}", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "app", "ports": [{"name": "metrics", "containerPort": 9}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def scrape_config(statics: list[str], team: str = "shop") -> str:
    return yaml.safe_dump(
        {
            "scrapingInterval": "30s",
            "targets": [
                {
                    "targetName": "web",
                    "type": "PodMonitor",
                    "namespaceSelector": {"matchNames": ["shop"]},
                    "selector": {"matchLabels": {"app": "web"}},
                    "endpoints": [
                        {
                            "port": "metrics",
                            "relabelings": [{"targetLabel": "team", "replacement": team}],
                            "metricRelabelings": [{"regex": "go_.*", "action": "drop"}],
                        }
                    ],
                },
                {
                    "targetName": "static",
                    "type": "StaticEndpoints",
                    "endpoints": [{"address": a} for a in statics],
                },
            ],
        }
    )


STATICS = [f"127.0.1.{i}:9" for i in range(1, 7)]


@dataclass
class Central:
    api: FakeAPI
    replicas: list[Ops]
    kubeconfig: Path
    tmp: Path

    def get(self, path: str, replica: int = 0) -> bytes:
        code, body = self.replicas[replica].get(path)
        assert code == 200, (path, code, body)
        return body.encode()

    def groups(self, shard: int) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = json.loads(self.get(f"/sd/{shard}"))
        return groups

    def addresses(self, shard: int) -> set[str]:
        return {a for g in self.groups(shard) for a in g["targets"]}


@pytest.fixture
def central(fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> Iterator[Central]:
    fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    for i in range(PODS):
        fakeapi.create(pod(i))
    fakeapi.create(configmap(scrape_config(STATICS)))
    port = free_port()  # replica 0's: the URL both put in their fragments (a Service's, live)
    common = ("--shards", str(SHARDS), "--sd-refresh-interval", REFRESH)
    url = ("--sd-url", f"http://127.0.0.1:{port}")
    replicas = [
        Ops(tmp_path / f"serve-{i}", kubeconfig, *common, *url, command="serve", port=p)
        for i, p in enumerate((port, free_port()))
    ]
    try:
        for replica in replicas:
            replica.until(lambda r=replica: r.get("/readyz")[0] == 200, what="serve ready")
        yield Central(fakeapi, replicas, kubeconfig, tmp_path)
    finally:
        for replica in replicas:
            replica.terminate()


def served_paths(central: Central) -> list[str]:
    paths = [f"/sd/{i}" for i in range(SHARDS)] + [f"/scrape/{i}" for i in range(SHARDS)]
    for shard in range(SHARDS):
        for job in yaml.safe_load(central.get(f"/scrape/{shard}"))["scrape_configs"]:
            [sd] = job["http_sd_configs"]
            paths.append(urllib.parse.urlsplit(sd["url"]).path)
    return paths


def test_two_replicas_serve_byte_identical_documents(central: Central) -> None:
    paths = served_paths(central)
    assert len(paths) > 2 * SHARDS
    for path in paths:
        assert central.get(path, 0) == central.get(path, 1), path


def test_the_union_of_the_shards_is_what_unsharded_sdgen_targets_finds(
    central: Central,
) -> None:
    shards = [central.groups(i) for i in range(SHARDS)]
    per_shard = [{a for g in groups for a in g["targets"]} for groups in shards]
    assert all(per_shard) and not per_shard[0] & per_shard[1]
    found = subprocess.run(
        [
            *(sys.executable, "-m", "sdgen", "targets", "--json"),
            *("--kubeconfig", str(central.kubeconfig), "--configmap", "monitoring/sdgen-config"),
            *("--output-dir", str(central.tmp / "none")),
        ],
        capture_output=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    unsharded = json.loads(found.stdout)["targets"]
    assert len(unsharded) == PODS + len(STATICS)
    assert sorted(
        json.dumps({"targets": [t["address"]], "labels": t["labels"]}, sort_keys=True)
        for t in unsharded
    ) == sorted(json.dumps(g, sort_keys=True) for groups in shards for g in groups)


def test_each_prometheus_shard_sees_exactly_its_targets(
    central: Central, prometheus: Callable[..., PromHandle]
) -> None:
    proms = []
    for shard in range(SHARDS):
        fragment = central.tmp / f"scrape-{shard}.yml"
        fragment.write_bytes(central.get(f"/scrape/{shard}"))  # as a config reloader would
        proms.append(prometheus(including(str(fragment))))
    jobs: set[str] = set()
    for shard, prom in enumerate(proms):
        expected = central.addresses(shard)
        wait_for(lambda p=prom, e=expected: active_addresses(p) == e, timeout=30, interval=0.2)
        for target in prom.targets()["activeTargets"]:
            jobs.add(target["labels"]["job"])
            assert target["labels"]["team" if target["labels"]["job"] == "web" else "job"]
    assert jobs == {"web", "static"}  # the jobs' relabels applied, in both kinds of job


def including(fragments: str) -> str:
    """A Prometheus config loading these scrape fragments (a path or a glob), scraping never
    within a test (the pods' loopback addresses refuse anyway)."""
    return f"global: {{scrape_interval: 30s}}\nscrape_config_files: ['{fragments}']\n"


def active_addresses(prom: PromHandle) -> set[str]:
    return {t["discoveredLabels"]["__address__"] for t in prom.targets()["activeTargets"]}


def test_a_configmap_edit_reaches_the_served_bytes_and_prometheus(
    central: Central, prometheus: Callable[..., PromHandle]
) -> None:
    """An edit that changes labels, not jobs: no reload, Prometheus's next poll has it."""
    shard = 0
    fragment = central.tmp / "scrape.yml"
    fragment.write_bytes(central.get(f"/scrape/{shard}"))
    prom = prometheus(including(str(fragment)))
    wait_for(lambda: active_addresses(prom) == central.addresses(shard), timeout=30)
    edited = time.monotonic()
    central.api.update(configmap(scrape_config(STATICS, team="edited")))
    for replica in range(2):
        wait_for(
            lambda r=replica: teams(central, shard, r) == {"edited"}, timeout=10, interval=0.02
        )
    served = time.monotonic() - edited
    wait_for(lambda: prom_teams(prom) == {"edited"}, timeout=10, interval=0.05)
    seen = time.monotonic() - edited
    print(f"\nedit → served {served:.2f}s, → Prometheus (refresh_interval {REFRESH}) {seen:.2f}s")
    assert central.get(f"/scrape/{shard}") == fragment.read_bytes()  # no reload was needed


def teams(central: Central, shard: int, replica: int) -> set[str]:
    groups = json.loads(central.get(f"/sd/{shard}", replica))
    return {g["labels"]["team"] for g in groups if g["labels"]["job"] == "web"}


def prom_teams(prom: PromHandle) -> set[str]:
    return {
        t["labels"]["team"] for t in prom.targets()["activeTargets"] if t["labels"]["job"] == "web"
    }


def test_propagation_latency_central_and_sidecar(
    central: Central, prometheus: Callable[..., PromHandle]
) -> None:
    """Edit → Prometheus shows the new label, through `serve` (http_sd, refresh 1s) and
    through a sidecar (file_sd), each Prometheus fed by one of them, the same edits. Both
    wait for Prometheus's discovery manager, which hands over targets at most every 5 s."""
    fragment = central.tmp / "central.yml"
    fragment.write_bytes(central.get("/scrape/0"))
    via_http = prometheus(including(str(fragment)))
    sidecar = Ops(
        central.tmp / "sidecar", central.kubeconfig, "--shards", "2", "--shard-index", "0"
    )
    try:
        sidecar.until(lambda: sidecar.get("/readyz")[0] == 200, what="sidecar ready")
        via_file = prometheus(including(f"{sidecar.out}/scrape/*.yml"))
        for prom in (via_http, via_file):
            wait_for(lambda p=prom: prom_teams(p) == {"shop"}, timeout=30)
        samples: dict[str, list[float]] = {"serve (http_sd 1s)": [], "sidecar (file_sd)": []}
        for edit in range(3):
            team = f"edit{edit}"
            edited = time.monotonic()
            central.api.update(configmap(scrape_config(STATICS, team=team)))
            pending = dict(zip(samples, (via_http, via_file), strict=True))
            while pending:
                for name, prom in list(pending.items()):
                    if prom_teams(prom) == {team}:
                        samples[name].append(time.monotonic() - edited)
                        del pending[name]
                assert time.monotonic() - edited < 15, f"not seen: {sorted(pending)}"
                time.sleep(0.05)
        print()
        for name, seconds in samples.items():
            print(f"edit → Prometheus, {name}: " + ", ".join(f"{s:.2f}s" for s in seconds))
        assert max(samples["serve (http_sd 1s)"]) <= 1 + 5 + 2  # refresh + handover + slack
    finally:
        assert sidecar.terminate() == 0
