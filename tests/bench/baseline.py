"""The naive baseline: an informer built the obvious way on the official kubernetes client.

`python -m tests.bench.baseline --kubeconfig PATH --output-dir DIR` lists every pod, Service,
EndpointSlice and Namespace with the generated API (`list_*_for_all_namespaces`, pages of 500,
as client-go's pager would), keeps the model objects as its cache (what a naive informer
holds), converts them to sdgen's records (`sanitize_for_serialization` + `msgspec.convert`),
and renders with exactly sdgen's resolve/render/write code. It prints one JSON line with its
phase times and peak memory when the files are written, and exits. The only difference from
sdgen is therefore how objects get from the wire into the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec
from kubernetes import client, config

from sdgen.config.document import parse_config
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Service
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.output.outputdir import OutputDir
from sdgen.resolve.resolver import Resolver
from tests.bench import proc, synth

PAGE = 500


def list_all(lister: Callable[..., Any]) -> list[Any]:
    """Every item of a paginated list, as the client's model objects."""
    items: list[Any] = []
    token = None
    while True:
        page = lister(limit=PAGE, _continue=token)
        items.extend(page.items)
        token = page.metadata._continue
        if not token:
            return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.baseline", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.monotonic()
    api_client = client.ApiClient(_configuration(args.kubeconfig))
    core, slices = client.CoreV1Api(api_client), client.DiscoveryV1Api(api_client)
    configmap = core.read_namespaced_config_map(synth.CONFIG_NAME, synth.CONFIG_NAMESPACE)
    scrape = parse_config((configmap.data or {})[synth.CONFIG_KEY], source="configmap")
    cache: dict[type[Any], list[Any]] = {
        Pod: list_all(core.list_pod_for_all_namespaces),
        Service: list_all(core.list_service_for_all_namespaces),
        EndpointSlice: list_all(slices.list_endpoint_slice_for_all_namespaces),
        Namespace: list_all(core.list_namespace),
    }
    listed = time.monotonic()
    records: dict[type, list[Any]] = {
        kind: [msgspec.convert(api_client.sanitize_for_serialization(m), kind) for m in models]  # type: ignore[no-untyped-call]
        for kind, models in cache.items()
    }
    cluster = StaticCluster.from_objects(
        records[Pod], records[Service], records[EndpointSlice], records[Namespace]
    )
    converted = time.monotonic()
    resolver = Resolver(default_namespace=synth.CONFIG_NAMESPACE, keep_discovered=False)
    resolution = resolver(scrape, cluster)  # as `sdgen run` resolves
    output = OutputDir(args.output_dir)
    output.prepare()
    output.sync(render.render(resolution.endpoints))
    done = time.monotonic()
    report = {
        "list_s": listed - started,
        "convert_s": converted - listed,
        "render_s": done - converted,
        "targets": {et.target.name: len(et.lines) for et in resolution.endpoints},
        **proc.memory_mb("self"),
    }
    print(json.dumps(report), flush=True)
    return 0


def measure(kubeconfig: Path, work: Path, timeout: float, log: IO[str]) -> dict[str, Any]:
    """Runs the baseline in a subprocess: seconds from start to its files written, and what it
    reports. A baseline still listing after `timeout` is stopped and reported as such."""
    out = work / "baseline-out"
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    process = proc.python(
        "tests.bench.baseline", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), log=log
    )
    at_stop: dict[str, float] = {}

    def give_up() -> None:
        at_stop.update(proc.memory_mb(process.pid))
        process.kill()

    timer = threading.Timer(timeout, give_up)
    timer.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        elapsed = time.monotonic() - started
    finally:
        timer.cancel()
        proc.stop(process)
    if at_stop:
        return {"stopped_after_s": timeout, **at_stop}
    if not line:
        raise RuntimeError(f"the baseline failed (exit code {process.returncode}); see its log")
    return {"first_render_s": elapsed, **json.loads(line)}


def _configuration(kubeconfig: str) -> client.Configuration:
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    return configuration


if __name__ == "__main__":
    sys.exit(main())
