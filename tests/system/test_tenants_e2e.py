"""Many teams, one Prometheus, with a real Prometheus: two tenants' targets of one name are two
scrape pools, their series told apart by the tenant label, and a series that claims another
team's namespace keeps its own (Prometheus renames the scraped one to exported_namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakeapi import FakeAPI
from tests.support.exporters import Exporter, series
from tests.support.helpers import REPO, wait_for
from tests.support.prom import PromHandle
from tests.support.sidecar import SidecarProcess
from tests.system.test_tenants import SELECTOR, tenant_configmap, web_pod

pytestmark = pytest.mark.prometheus

TEAMS = {"team-a": "127.0.0.21", "team-b": "127.0.0.22"}
SPOOF = '# TYPE demo_claim gauge\ndemo_claim{namespace="team-a"} 1\n'


def test_two_tenants_same_target_name_two_scrape_pools(
    fakeapi: FakeAPI,
    kubeconfig: Path,
    tmp_path: Path,
    prometheus: Callable[..., PromHandle],
) -> None:
    exporters = {
        ns: Exporter(host, body=series(ns) + (SPOOF if ns == "team-b" else ""))
        for ns, host in TEAMS.items()
    }
    sdgen: SidecarProcess | None = None
    try:
        for ns, host in TEAMS.items():
            fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            pod = web_pod("web-0", ns, host)
            pod["spec"]["containers"][0]["ports"][0]["containerPort"] = exporters[ns].port
            pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
            fakeapi.create(pod)
            fakeapi.create(
                tenant_configmap(ns, (REPO / "tests/data/tenants/team.yaml").read_text())
            )
        out = tmp_path / "sdgen" / "out"
        prom = prometheus(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            f"scrape_config_files: ['{out}/scrape/*.yml']\n"
        )
        sdgen = SidecarProcess(
            tmp_path / "sdgen",
            [
                *("--kubeconfig", str(kubeconfig), "--configmap-selector", SELECTOR),
                *("--reload-url", f"{prom.url}/-/reload"),
            ],
            env={"POD_NAMESPACE": "monitoring"},
        )

        def active() -> list[dict[str, Any]]:
            return [t for t in prom.targets()["activeTargets"] if t["health"] == "up"]

        try:
            wait_for(lambda: len(active()) == 2, timeout=30, interval=0.2, message="two up")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{sdgen.log}\n{prom.log()[-3000:]}") from None
        targets = active()
        assert len({t["scrapePool"] for t in targets}) == 2  # two jobs, one per tenant
        assert {t["labels"]["job"] for t in targets} == {"web"}  # the job as the teams wrote it
        assert {t["labels"]["namespace"] for t in targets} == set(TEAMS)

        def by_namespace(expr: str) -> dict[str, dict[str, str]]:
            return {r["metric"]["namespace"]: r["metric"] for r in prom.query(expr)}

        wait_for(lambda: len(by_namespace('up{job="web"}')) == 2, timeout=30, interval=0.2)
        temperatures = by_namespace('demo_temperature_celsius{job="web"}')
        assert {ns: m["exporter"] for ns, m in temperatures.items()} == {ns: ns for ns in TEAMS}
        wait_for(lambda: by_namespace("demo_claim"), timeout=30, interval=0.2)
        (claim,) = by_namespace("demo_claim").values()
        assert claim["namespace"] == "team-b" and claim["exported_namespace"] == "team-a"
    finally:
        if sdgen is not None:
            sdgen.terminate()
        for exporter in exporters.values():
            exporter.stop()
