"""Many tenants (issue 15): `sdgen run --configmap-selector` over the bench cluster, with one
tenant ConfigMap of 5 PodMonitor targets per 5 deployments, in the deployments' namespaces:
at 10k pods, 200 tenants of 5 targets, every pod selected once, as a single ConfigMap of 1,000
targets would. Measures the first render (until every tenant target's file exists) and a
tenant ConfigMap edit → its file (p50). The goals are those of one ConfigMap of 1,000 targets.

`python -m tests.bench.tenants [--pods N] [--edits E] [--out FILE]` runs it alone; `make
bench` runs it at 10k pods (the `tenants` rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sdgen.output import naming
from tests.bench import proc, synth
from tests.bench.emulator import seeded
from tests.bench.sdgen_run import _stamp
from tests.fakeapi import FakeAPI
from tests.support.helpers import free_port

SELECTOR = "bench.sdgen.io/tenant=true"
TARGETS_PER_TENANT = 5


def tenant_config(apps: list[str], revision: int = 0) -> str:
    """One tenant's targets t0..t4, each selecting one deployment (`apps`) of its namespace;
    `revision` changes a replacement of t0 (the edit measured): t0's file changes only."""
    lines = ["scrapingInterval: 30s", "targets:"]
    for j, app in enumerate(apps):
        lines += [
            f"  - targetName: t{j}",
            "    type: PodMonitor",
            f"    selector: {{matchLabels: {{app.kubernetes.io/name: {app}}}}}",
            "    endpoints:",
            "      - port: metrics",
            "        relabelings:",
            "          - {targetLabel: config_revision, "
            f"replacement: r{revision if j == 0 else 0}}}",
        ]
    return "\n".join(lines) + "\n"


def tenants(pods: int) -> list[tuple[str, str, list[str]]]:
    """(namespace, ConfigMap name, its apps): every deployment in exactly one tenant, five
    of one namespace per tenant (deployment d lives in namespace d mod the namespace count)."""
    namespaces = synth.namespace_count(pods)
    deployments = -(-pods // synth.PODS_PER_DEPLOYMENT)
    by_namespace: dict[int, list[int]] = {}
    for d in range(deployments):
        by_namespace.setdefault(d % namespaces, []).append(d)
    found = []
    for ns, members in sorted(by_namespace.items()):
        for k in range(0, len(members), TARGETS_PER_TENANT):
            apps = [f"svc-{d:05d}" for d in members[k : k + TARGETS_PER_TENANT]]
            found.append((f"team-{ns:03d}", f"scrape-{k // TARGETS_PER_TENANT:03d}", apps))
    return found


def configmap(namespace: str, name: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"bench.sdgen.io/tenant": "true"},
        },
        "data": {synth.CONFIG_KEY: text},
    }


def targets_file(out: Path, namespace: str, name: str, target: str) -> list[Path]:
    stem = naming.slug(f"{namespace}/{name}/{target}", 0)
    return sorted((out / "targets").glob(f"{stem}.p*/targets.json"))


def measure(pods: int, edits: int, work: Path) -> dict[str, Any]:
    api: FakeAPI = seeded(pods)
    plan = tenants(pods)
    for namespace, name, apps in plan:
        api.create(configmap(namespace, name, tenant_config(apps)))
    api.start()
    kubeconfig = work / "kubeconfig"
    api.write_kubeconfig(kubeconfig)
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    log = (work / "sdgen.log").open("w")
    args = ["--kubeconfig", str(kubeconfig), "--output-dir", str(out)]
    args += ["--configmap-selector", SELECTOR, "--listen", f"127.0.0.1:{free_port()}"]
    started = time.monotonic()
    sdgen = proc.python("sdgen", "run", *args, log=log, env={"POD_NAMESPACE": "monitoring"})
    try:
        expected = len(plan) * TARGETS_PER_TENANT
        proc.poll(lambda: len(list((out / "scrape").glob("*.yml"))) >= expected, 600, 0.01)
        result: dict[str, Any] = {
            "pods": pods,
            "tenants": len(plan),
            "targets_per_tenant": TARGETS_PER_TENANT,
            "first_render_s": time.monotonic() - started,
        }
        result["peak_rss_mb"] = proc.memory_mb(sdgen.pid)["VmHWM"]
        time.sleep(2)  # the churn after sync
        namespace, name, apps = plan[len(plan) // 2]
        path = targets_file(out, namespace, name, "t0")
        samples = []
        for revision in range(1, edits + 1):
            before = _stamp(path)
            t0 = time.monotonic()
            api.update(configmap(namespace, name, tenant_config(apps, revision)))
            proc.poll(lambda old=before: _stamp(path) != old, 60, 0.002)
            samples.append(time.monotonic() - t0)
            time.sleep(0.3)  # the cycle that wrote it finishes; not counted
        result["tenant_edit_s"] = proc.percentiles(samples)
        return result
    finally:
        proc.stop(sdgen)
        api.stop()
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.tenants", description=__doc__)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--out", type=Path, help="JSON results file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.pods, args.edits, Path(tmp))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
