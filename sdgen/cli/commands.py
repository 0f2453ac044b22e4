"""Wiring: turn parsed flags into a running App (source, discovery, output, ops server).

`sdgen run`, `sdgen once` and `sdgen targets` share this assembly and differ only in how long
they run and what they print. Everything that touches the process (signals, exit codes) is
here, so `app` stays a loop that tests can drive directly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdgen.cache import apiclient
from sdgen.cache.informer import Informer, stop_all
from sdgen.cache.informerset import InformerSet as InformerDiscovery
from sdgen.cache.snapshot import SnapshotError, load_snapshot
from sdgen.cli.report import targets_report
from sdgen.cli.settings import configmap_ref
from sdgen.k8s.view import Cluster, ClusterNeeds, StaticCluster
from sdgen.output.outputdir import OutputDir, OutputError
from sdgen.resolve.sharding import Shard, shard_from_hostname
from sdgen.runtime import logs
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.loop import App, Discovery, Options
from sdgen.runtime.metrics import Metrics
from sdgen.runtime.opsserver import OpsServer
from sdgen.runtime.reload import Reloader
from sdgen.runtime.source import ConfigMapSource, ConfigSource

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A flag combination or environment that cannot work; exit code 2 with the message."""


class SnapshotDiscovery:
    """Discovery from a fixed dump: always synced, never changes."""

    def __init__(self, cluster: StaticCluster) -> None:
        self._cluster = cluster

    def ensure(self, needed: ClusterNeeds) -> None:
        pass

    def synced(self) -> bool:
        return True

    def cluster(self) -> Cluster:
        return self._cluster

    def version(self) -> object:
        return 0

    def stalled(self) -> list[str]:
        return []

    def informers(self) -> list[Informer[Any]]:
        return []

    def stop(self) -> None:
        pass


@dataclass
class Sidecar:
    """An assembled App plus what must be started and stopped around it."""

    app: App
    source: ConfigSource
    discovery: Discovery | None
    stop: threading.Event = field(default_factory=threading.Event)
    server: OpsServer | None = None
    reloader: Reloader | None = None

    def start(self) -> None:
        self.source.start()
        if self.reloader is not None:
            self.reloader.start()
        if self.server is not None:
            self.server.start()

    def shutdown(self) -> None:
        """Stop every thread within one 2 s budget: informers are signalled together."""
        self.stop.set()
        informers: list[Informer[Any]] = []
        if isinstance(self.source, ConfigMapSource):
            informers.append(self.source.informer)
        else:
            self.source.stop()
        if isinstance(self.discovery, InformerDiscovery):
            informers.extend(self.discovery.informers())
        if not stop_all(informers, timeout=1.5):
            log.warning("some informer threads did not stop in time")
        if self.reloader is not None:
            self.reloader.join(0.2)
        if self.server is not None:
            self.server.stop()


def shard_of(args: argparse.Namespace) -> Shard | None:
    if not args.shards:
        return None
    index = args.shard_index
    if args.shard_from_hostname:
        hostname = socket.gethostname()
        found = shard_from_hostname(hostname)
        if found is None:
            raise UsageError(
                f"--shard-from-hostname: hostname {hostname!r} has no StatefulSet ordinal "
                "(expected a name ending in -<number>)"
            )
        index = found
    if index >= args.shards:
        raise UsageError(f"shard index {index} is out of range for --shards {args.shards}")
    return Shard(args.shards, index)


def build(
    args: argparse.Namespace, *, serve: bool, write: bool = True, discovered: bool = False
) -> Sidecar:
    """Assemble an App from flags; raises UsageError or OutputError with a clear message.
    `discovered`: targets keep their discovered labels (memory a long-lived sidecar saves)."""
    logs.setup(args.log_format, args.log_level)
    try:
        namespace, name = configmap_ref(args.configmap)
    except ValueError as err:
        raise UsageError(str(err)) from None
    output = OutputDir(args.output_dir, args.file_mode, exclusive=write)
    if write:
        output.prepare()
    options = Options(
        default_namespace=namespace,
        keep_meta_labels=args.keep_meta_labels,
        shard=shard_of(args),
        on_missing_config=args.on_missing_config,
        materialize_secrets=args.materialize_secrets,
        keep_discovered=discovered,
    )
    poke: Callable[..., None] = lambda *_: None  # noqa: E731 - rebound once the App exists
    on_change: Callable[..., None] = lambda *_: poke()  # noqa: E731

    api_client = _api_client(args)
    discovery: Discovery | None = None
    if args.snapshot:
        try:
            discovery = SnapshotDiscovery(load_snapshot(args.snapshot))
        except SnapshotError as err:
            raise UsageError(str(err)) from None
    elif api_client is not None:
        discovery = InformerDiscovery(
            lambda resource, ns: apiclient.new_informer(
                api_client, resource, ns, on_change=on_change
            ),
            progress_window=args.health_window,
        )

    source: ConfigSource
    if args.config_file:
        source = FileSource(args.config_file, on_change)
    elif api_client is None:
        raise UsageError(
            "no Kubernetes API: pass --kubeconfig, run in a pod, or use --config-file for a "
            "local config"
        )
    else:
        informer = apiclient.new_informer(
            api_client,
            "configmaps",
            namespace,
            field_selector=f"metadata.name={name}",
            on_change=on_change,
        )
        source = ConfigMapSource(informer, namespace, name, args.key)

    metrics = Metrics(lambda: _all_informers(source, discovery))
    stop = threading.Event()
    reloader = None
    if args.reload_url:
        try:
            reloader = Reloader(
                args.reload_url,
                stop,
                on_result=lambda result: metrics.reload_requests.labels(result).inc(),
            )
        except ValueError as err:
            raise UsageError(f"--reload-url: {err}") from None
    app = App(source, discovery, output, options, metrics=metrics, reloader=reloader)
    poke = app.poke
    sidecar = Sidecar(app, source, discovery, stop=stop, reloader=reloader)
    if serve and args.listen:
        interval, window, since = args.interval, args.health_window, time.monotonic()
        sidecar.server = OpsServer(
            args.listen,
            metrics.registry,
            healthy=lambda: _healthy(app, source, interval, window, since),
            ready=app.ready,
            status=lambda: {**app.status(), "watches": _watches(source, discovery)},
        )
    return sidecar


def _healthy(
    app: App, source: ConfigSource, interval: float, window: float, since: float
) -> tuple[bool, str]:
    """App liveness plus the ConfigMap watch, which is not one of discovery's informers."""
    ok, detail = app.healthy(interval)
    config_watch = source.informer if isinstance(source, ConfigMapSource) else None
    if ok and config_watch and time.monotonic() - (config_watch.last_progress or since) > window:
        return False, f"no watch progress: {config_watch.name}"
    return ok, detail


def _api_client(args: argparse.Namespace) -> Any:
    if args.snapshot and args.config_file:
        return None
    try:
        return apiclient.load_api_client(args.kubeconfig)
    except apiclient.NoClusterConfig as err:
        if args.config_file and not args.kubeconfig:
            log.warning("no cluster (%s): PodMonitor and ServiceMonitor targets report errors", err)
            return None
        raise UsageError(str(err)) from None


def _all_informers(source: ConfigSource, discovery: Discovery | None) -> list[Informer[Any]]:
    found: list[Informer[Any]] = []
    if isinstance(source, ConfigMapSource):
        found.append(source.informer)
    if isinstance(discovery, InformerDiscovery):
        found.extend(discovery.informers())
    return found


def _watches(source: ConfigSource, discovery: Discovery | None) -> dict[str, dict[str, Any]]:
    """/status per informer: synced, and its last error while it lasts, so an unreachable
    API server shows there and not only in the logs."""
    return {
        informer.name: {
            "synced": informer.has_synced(),
            "last_error": str(informer.last_error or ""),
        }
        for informer in _all_informers(source, discovery)
    }


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _stop_on_signals(stop: threading.Event) -> None:
    """Set `stop` on SIGTERM/SIGINT from a thread of its own.

    A Python signal handler runs in the main thread between two bytecodes; calling
    `stop.set()` there deadlocks when the main thread was interrupted inside `stop.wait()`
    while holding the Event's lock (seen as a SIGTERM that never ended the process). With the
    signals blocked everywhere, a dedicated thread takes them with sigwait instead.
    """

    def wait() -> None:
        signal.sigwait(_STOP_SIGNALS)
        stop.set()

    threading.Thread(target=wait, name="signals", daemon=True).start()


def run(args: argparse.Namespace) -> int:
    """`sdgen run`: the sidecar, until SIGTERM or SIGINT."""
    # Before any thread exists, so every thread inherits the mask; see _stop_on_signals.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    sidecar = _build_or_exit(args, serve=True)
    if sidecar is None:
        return 2
    _stop_on_signals(sidecar.stop)
    sidecar.start()
    log.info("sdgen started", extra={"output_dir": args.output_dir})
    try:
        sidecar.app.run(sidecar.stop, args.interval, args.debounce)
    finally:
        sidecar.shutdown()
    log.info("sdgen stopped")
    return 0


def once(args: argparse.Namespace, timeout: float = 60.0) -> int:
    """`sdgen once`: render once when everything has synced, then exit (1 on any error)."""
    sidecar = _build_or_exit(args, serve=False)
    if sidecar is None:
        return 2
    sidecar.start()
    try:
        deadline = time.monotonic() + timeout
        state = sidecar.app.state
        while (result := sidecar.app.run_once()) is None:
            if sidecar.source.synced() and not state.config_valid and state.config_issues:
                return 1  # invalid or missing config: nothing will change by waiting
            if time.monotonic() > deadline:
                log.error("gave up: %s", state.waiting_for)
                return 1
            sidecar.stop.wait(0.05)
        errors = result.errors or any(t.error for t in state.targets.values())
        return 1 if errors or not state.config_valid else 0
    finally:
        sidecar.shutdown()


def _build_or_exit(
    args: argparse.Namespace, *, serve: bool, write: bool = True, discovered: bool = False
) -> Sidecar | None:
    try:
        return build(args, serve=serve, write=write, discovered=discovered)
    except (UsageError, OutputError) as err:
        logs.setup(args.log_format, args.log_level)
        log.error("%s", err)
        return None


def targets(args: argparse.Namespace, timeout: float = 60.0) -> int:
    """`sdgen targets`: what would be discovered, with discovered and final labels."""
    sidecar = _build_or_exit(args, serve=False, write=False, discovered=True)
    if sidecar is None:
        return 2
    sidecar.start()
    try:
        app, deadline = sidecar.app, time.monotonic() + timeout
        while (config := app.current_config()) is None:
            if app.state.config_issues and not app.state.config_valid and sidecar.source.synced():
                break
            if time.monotonic() > deadline:
                log.error("gave up: %s", app.state.waiting_for)
                return 1
            sidecar.stop.wait(0.05)
        # Secrets are read (to report a missing one) but never printed.
        resolution = app.with_secrets(app.resolve(config))[0] if config is not None else None
    finally:
        sidecar.shutdown()
    issues = app.state.config_issues
    errors = dict(resolution.errors) if resolution else {}
    print(targets_report(resolution, issues, errors, as_json=args.json, discovered=args.discovered))
    return 1 if errors or not app.state.config_valid else 0
