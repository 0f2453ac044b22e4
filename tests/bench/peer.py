"""The peer: Prometheus's own `kubernetes_sd_configs` discovering the same emulated cluster.

Roles `pod` and `endpointslice` with the rules the Prometheus Operator generates for the
bench config's PodMonitor and ServiceMonitor (tests/bench/synth.py: the selector and port
rules first, then the endpoints' relabelings), and a final `drop` of every target, so nothing
is ever scraped (the synthetic pod IPs are not addresses anyone may scrape). Measured from
outside: the seconds from start until `prometheus_sd_discovered_targets` settles (unchanged
for QUIET seconds; the settle time is when it last changed), and Prometheus's peak RSS
(VmHWM) then.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import IO, Any

import yaml

from tests.bench import proc, synth
from tests.bench.sdgen_run import server_url
from tests.support.helpers import binary, free_port

QUIET = 5.0  # seconds without a change in the discovered count that count as settled
_SNAKE = {
    "sourceLabels": "source_labels",
    "targetLabel": "target_label",
}


def _rules(relabelings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The config's relabelings in Prometheus's snake_case."""
    return [{_SNAKE.get(key, key): value for key, value in rule.items()} for rule in relabelings]


def _label(name: str) -> str:
    """A Kubernetes label name as its meta label suffix (the sanitising Prometheus does)."""
    return "".join(c if c.isalnum() else "_" for c in name)


def prometheus_config(api_server: str, revision: int = 0) -> str:
    """The bench config's two targets as kubernetes_sd jobs, every target dropped at the end."""
    config = yaml.safe_load(synth.scrape_config(revision))
    pod_target, service_target = config["targets"]
    [pod_ep], [svc_ep] = pod_target["endpoints"], service_target["endpoints"]
    [(pod_key, pod_value)] = pod_target["selector"]["matchLabels"].items()
    [expression] = service_target["selector"]["matchExpressions"]
    assert expression["operator"] == "Exists", expression
    drop_all = {"action": "drop", "regex": ".*"}
    jobs = [
        {
            "job_name": synth.POD_TARGET,
            "kubernetes_sd_configs": [{"role": "pod", "api_server": api_server}],
            "relabel_configs": [
                {
                    "source_labels": [
                        f"__meta_kubernetes_pod_label_{_label(pod_key)}",
                        f"__meta_kubernetes_pod_labelpresent_{_label(pod_key)}",
                    ],
                    "regex": f"({pod_value});true",
                    "action": "keep",
                },
                {
                    "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                    "regex": pod_ep["port"],
                    "action": "keep",
                },
                *_rules(pod_ep["relabelings"]),
                drop_all,
            ],
        },
        {
            "job_name": synth.SERVICE_TARGET,
            "kubernetes_sd_configs": [{"role": "endpointslice", "api_server": api_server}],
            "relabel_configs": [
                {
                    "source_labels": [
                        f"__meta_kubernetes_service_labelpresent_{_label(expression['key'])}"
                    ],
                    "regex": "true",
                    "action": "keep",
                },
                {
                    "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
                    "regex": svc_ep["port"],
                    "action": "keep",
                },
                *_rules(svc_ep["relabelings"]),
                {**drop_all},  # a copy: no YAML anchor in the config
            ],
        },
    ]
    return yaml.safe_dump({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs})


def measure(kubeconfig: Path, work: Path, log: IO[str], timeout: float = 600.0) -> dict[str, Any]:
    """Start Prometheus on the emulator at `kubeconfig`; time until its discovered-target count
    settles, and its peak RSS then."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "prometheus-peer.yml"
    config.write_text(prometheus_config(server_url(kubeconfig)))
    port = free_port()
    started = time.monotonic()
    prometheus = subprocess.Popen(
        [
            str(binary("prometheus")),
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'peer-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        count, changed = 0.0, started
        while time.monotonic() - changed < QUIET or not count:
            if prometheus.poll() is not None:
                raise RuntimeError(f"Prometheus exited with {prometheus.returncode}; see its log")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"Prometheus's discovered count never settled ({count:g})")
            now = _discovered(url)
            if now != count:
                count, changed = now, time.monotonic()
            time.sleep(0.05)
        return {
            "settled_s": changed - started,
            "discovered_targets": count,
            "peak_rss_mb": proc.memory_mb(prometheus.pid)["VmHWM"],
        }
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(15)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()


def _discovered(url: str) -> float:
    """The sum of prometheus_sd_discovered_targets over the scrape jobs (0 before it serves)."""
    try:
        values = proc.scrape(url)
    except OSError:
        return 0.0
    return sum(
        v
        for series, v in values.items()
        if series.startswith("prometheus_sd_discovered_targets{") and 'name="scrape"' in series
    )
