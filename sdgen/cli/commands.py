"""Wiring: turn parsed flags into a running sidecar (sources, cycle, board, ops server).

`sdgen run`, `sdgen once` and `sdgen targets` share this assembly and differ only in how long
they run and what they print: `run` is the scheduler around a cycle and the board, `once` and
`targets` run cycles directly. Everything that touches the process (signals, exit codes) is
here, so the runtime stays pieces that tests can drive directly.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sdgen import SdgenError
from sdgen.cache import apiclient
from sdgen.cache.informer import Informer, stop_all
from sdgen.cache.informerset import InformerSet
from sdgen.cache.reflector import ServerSharding, ShardingIgnored
from sdgen.cache.snapshot import SnapshotError, load_snapshot
from sdgen.cli.report import explain_report, shard_plan_report, targets_report
from sdgen.cli.settings import configmap_ref, tenant_policy, tenant_ref
from sdgen.config.manifest import load_configmap_key
from sdgen.config.tenancy import Tenant
from sdgen.k8s.records import ConfigMap, Resource
from sdgen.k8s.shardrange import hex_bound
from sdgen.k8s.view import Cluster, ClusterNeeds, StaticCluster
from sdgen.output import naming, render
from sdgen.output.central import ShardedRenderer
from sdgen.output.outputdir import OutputDir, OutputError
from sdgen.resolve.explain import ExplainError
from sdgen.resolve.resolver import Resolution
from sdgen.resolve.sharding import Shard, ShardScheme, shard_from_hostname
from sdgen.runtime import logs
from sdgen.runtime.board import Board, StatusPage
from sdgen.runtime.cycle import (
    ClusterSource,
    Cycle,
    CycleResult,
    OnMissingConfig,
    Options,
    Outcome,
    Output,
    Reading,
    Rendering,
)
from sdgen.runtime.events import Emitter, LoopEvents, TenantEvents
from sdgen.runtime.heap import release_free_memory
from sdgen.runtime.liveness import Liveness
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.metrics import Metrics
from sdgen.runtime.opsserver import ListenError, OpsServer, ops_routes, served_routes
from sdgen.runtime.published import Published
from sdgen.runtime.recorder import Regarding
from sdgen.runtime.reload import ReloadAnswer, Reloader
from sdgen.runtime.scheduler import Scheduler
from sdgen.runtime.source import ConfigMapSource, ConfigSource, ConfigText, text_version
from sdgen.runtime.tenants import DumpedTenant, TenantCycle, TenantSource, TenantText
from sdgen.runtime.wakeup import Wakeup

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]

SETTLE_TIMEOUT = 60.0  # how long `once` and `targets` wait for the config and the caches


class UsageError(SdgenError):
    """A flag combination or environment that cannot work; exit code 2 with the message."""


class GaveUp(SdgenError):
    """`once` or `targets` waited their whole timeout for the config or the caches."""


# The one place a command's exceptions become exit codes: the message is logged as one line.
# Anything else is a bug and ends the process with its traceback.
EXIT_CODES: dict[type[Exception], int] = {
    UsageError: 2,
    OutputError: 2,  # output dir missing, not writable, or held by another sdgen
    SnapshotError: 2,  # --snapshot unreadable or not a dump
    ListenError: 2,  # --listen port in use or not permitted
    ExplainError: 2,  # sdgen explain: an unknown target or object, a malformed object
    GaveUp: 1,
}


def exit_codes(command: Command) -> Command:
    """`command`, with the exceptions of EXIT_CODES logged and turned into their codes."""

    @functools.wraps(command)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except tuple(EXIT_CODES) as err:
            logs.setup(args.log_format, args.log_level)
            log.error("%s", err)
            return next(code for kind, code in EXIT_CODES.items() if isinstance(err, kind))

    return guarded


class SnapshotClusterSource:
    """Clusters from a fixed dump: always synced, never changes."""

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

    def stop(self) -> None:
        pass


@dataclass
class Sidecar:
    """An assembled cycle, board and scheduler, plus what is started and stopped around them."""

    cycle: Cycle
    board: Board
    scheduler: Scheduler
    source: ConfigSource
    clusters: ClusterSource | None
    wakeup: Wakeup  # the scheduler's: what wakes the loop
    stop: threading.Event = field(default_factory=threading.Event)
    server: OpsServer | None = None
    reloader: Reloader | None = None
    events: LoopEvents | None = None  # Kubernetes Events on the ConfigMap (off: --no-events)
    _release_timer: threading.Timer | None = None  # wakes the loop when old files may go

    def start(self) -> None:
        self.source.start()
        if self.events is not None:
            self.events.emitter.start()
        if self.reloader is not None:
            self.reloader.start()
        if self.server is not None:
            self.server.start()

    def step(self) -> CycleResult:
        """One cycle, reported on the board; Prometheus asked to reload when it must."""
        self._release_legacy_files()
        result = self.cycle.run()
        self.board.record(result)
        ticket = None
        if self.reloader is not None and result.fragments_changed:
            ticket = self.reloader.request()
        legacy = self.cycle.legacy
        if legacy.pending and result.outcome is Outcome.RENDERED and not result.sync_errors:
            if self.reloader is None:
                ticket = 0  # nothing can confirm a load: the old files go next cycle
            elif ticket is None and legacy.ticket is None:
                ticket = self.reloader.request()  # none was due; one must confirm the load
            legacy.written(ticket)
        reloader = self.reloader
        self.board.rolled(
            result,
            reloader.latest_ticket if reloader is not None else None,
            reloader.loaded if reloader is not None else None,
        )
        if self.events is not None:
            self.events.after_cycle(result)  # only queues: never waits for the API server
        if result.outcome is Outcome.RENDERED:
            release_free_memory()  # the cycle's garbage, freed, back to the kernel
        return result

    def _release_legacy_files(self) -> None:
        """Old-layout files go once Prometheus has loaded the new layout (output.migration)."""
        legacy = self.cycle.legacy
        if not legacy.pending:
            return
        wait = legacy.due(self.reloader.loaded if self.reloader is not None else None)
        if wait is not None and self._release_timer is None:  # loaded: back after the grace
            self._release_timer = threading.Timer(wait, self.wakeup.notify)
            self._release_timer.daemon = True
            self._release_timer.start()
        elif not legacy.pending:
            log.info("Prometheus loaded the new output layout; removing the old files")

    def tick(self) -> bool:
        """A cycle for the scheduler: whether it succeeded (it backs off while cycles fail).
        Waiting (for a config, for the caches) is not failing: nothing is wrong with sdgen."""
        try:
            result = self.step()
        except Exception:
            self.board.failed()
            raise
        return not (result.sync is not None and result.sync.errors)

    def shutdown(self) -> None:
        """Stop every thread within STOP_BUDGET: informers are signalled together, and one
        blocked in a request (a daemon thread) is left behind after a second."""
        self.stop.set()
        if not isinstance(self.source, (ConfigMapSource, TenantSource)):
            self.source.stop()  # informers are stopped below, together
        if not stop_all(_all_informers(self.source, self.clusters), timeout=1.0):
            log.warning("some informer threads did not stop in time")
        if self.reloader is not None:
            self.reloader.join(0.2)
        if self.events is not None:
            self.events.emitter.join(0.2)
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
    scheme = ShardScheme(args.shard_by)
    try:
        return Shard(args.shards, index, scheme, _cuts(args.shard_cuts or ""))
    except ValueError as err:
        raise UsageError(f"--shard-cuts {args.shard_cuts!r}: {err}") from None


def _cuts(text: str) -> tuple[int, ...]:
    """`--shard-cuts`: comma-separated hex boundaries (`0x` optional)."""
    try:
        return tuple(int(part.strip(), 16) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError("expected comma-separated hex values like 0x4000000000000000") from None


class ServerSideSharding(StrEnum):
    """`--server-side-sharding`: whether informers ask the API server for one shard."""

    AUTO = "auto"  # ask; filter on the client when the server does not shard
    ON = "on"  # ask; an unsharded list is an error
    OFF = "off"  # list and watch everything


def server_sharding_of(args: argparse.Namespace, shard: Shard | None) -> ServerSharding | None:
    """What the pod, Service and EndpointSlice informers ask for; a UsageError for a
    combination that cannot work."""
    mode = ServerSideSharding(args.server_side_sharding)
    if mode is ServerSideSharding.OFF:
        return None
    if shard is None:
        raise UsageError(f"--server-side-sharding {mode}: needs --shards N")
    if shard.scheme is not ShardScheme.NAMESPACE:
        raise UsageError(
            f"--server-side-sharding {mode}: needs --shard-by namespace (a shard's targets must "
            "be the objects of whole namespaces for the API server to serve them)"
        )
    return ServerSharding(shard.range, required=mode is ServerSideSharding.ON)


# The informers a namespace shard needs only its namespaces of (ConfigMaps, Secrets and
# Namespaces are read whole).
SHARDED_RESOURCES = frozenset({Resource.PODS, Resource.SERVICES, Resource.ENDPOINTSLICES})


def on_missing_config(value: str) -> OnMissingConfig:
    try:
        return OnMissingConfig(value)
    except ValueError:
        choices = ", ".join(OnMissingConfig)
        raise UsageError(f"--on-missing-config {value!r}: expected one of {choices}") from None


def consumer_of(args: argparse.Namespace) -> render.Consumer:
    """`--fragment-format` and `--consumer-path-prefix`. Prometheus's fragments name their
    files relative to themselves, which works wherever the output is mounted, so a prefix
    there is a mistake worth telling; vmagent's need absolute paths."""
    fragment_format = render.FragmentFormat(args.fragment_format)
    prefix = args.consumer_path_prefix
    if fragment_format is render.FragmentFormat.PROMETHEUS:
        if prefix:
            raise UsageError(
                "--consumer-path-prefix applies to --fragment-format vmagent only: Prometheus "
                "resolves the fragments' relative paths itself; drop the prefix"
            )
        return render.PROMETHEUS
    prefix = prefix or str(Path(args.output_dir).absolute())
    if not prefix.startswith("/"):
        raise UsageError(
            f"--consumer-path-prefix {prefix!r}: must be an absolute path, the output "
            "directory as vmagent sees it (e.g. its volume's mountPath)"
        )
    return render.Consumer(fragment_format, prefix.rstrip("/") or "/")


def central_of(args: argparse.Namespace) -> tuple[Published, ShardedRenderer]:
    """`sdgen serve`: every shard's files in memory, rendered from one unsharded resolve."""
    if args.shards < 1:
        raise UsageError("sdgen serve needs --shards N (1 or more): the shards it serves")
    url = args.sd_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"--sd-url {args.sd_url!r}: expected the http(s):// URL Prometheus reaches "
            "sdgen serve at, e.g. http://sdgen-central.monitoring.svc:8080"
        )
    shards = [Shard(args.shards, i) for i in range(args.shards)]
    refresh_ms = round(args.sd_refresh_interval * 1000)
    if refresh_ms < 1000:
        raise UsageError("--sd-refresh-interval: at least 1s (Prometheus polls that often)")
    renderer = ShardedRenderer(shards, url, refresh_ms, args.part_size)
    return Published(args.shards), renderer


def build(
    args: argparse.Namespace,
    *,
    serve: bool,
    write: bool = True,
    discovered: bool = False,
    central: bool = False,
    stop: threading.Event | None = None,
    wakeup: Wakeup | None = None,
    source: ConfigSource | None = None,
) -> Sidecar:
    """Assemble a sidecar from flags; raises one of EXIT_CODES with a clear message.
    `discovered`: targets keep their discovered labels (memory a long-lived sidecar saves).
    `central`: `sdgen serve`, every shard's documents in memory instead of files on disk.
    `stop`, `wakeup`: the Event that stops it and the flag that wakes its loop (`run` passes
    the ones its signal thread sets); `source`: the config source, already made (a tenant
    ConfigMap from a dump), else the flags' (then the Kubernetes API is needed unless
    --snapshot and --config-file say otherwise)."""
    logs.setup(args.log_format, args.log_level)
    try:
        namespace, name = configmap_ref(args.configmap)
    except ValueError as err:
        raise UsageError(str(err)) from None
    output: Output
    renderer: Rendering | None = None
    published: Published | None = None
    if central:
        published, renderer = central_of(args)
        output = published
    else:
        output = directory = OutputDir(args.output_dir, args.file_mode, exclusive=write)
        if write:
            directory.prepare()
    shard = None if central else shard_of(args)
    sharding = None if central else server_sharding_of(args, shard)
    sharding_status = None
    if shard is not None:
        sharding_status = _sharding_status(shard, args.server_side_sharding)
        log.info(
            "sharding: %s",
            shard.describe(),
            extra={"server_side_sharding": args.server_side_sharding},
        )
    options = Options(
        default_namespace=namespace,
        keep_meta_labels=args.keep_meta_labels,
        shard=shard,
        on_missing_config=on_missing_config(args.on_missing_config),
        materialize_secrets=args.materialize_secrets,
        allowed_file_prefixes=args.allowed_file_prefixes,
        keep_discovered=discovered,
        part_size=args.part_size,
        consumer=consumer_of(args),
    )
    wakeup = Wakeup() if wakeup is None else wakeup  # first: every watcher below notifies it
    api_client = _api_client(args) if source is None else None
    clusters = _cluster_source(args, api_client, wakeup, sharding)
    if source is None:
        source = _config_source(args, api_client, wakeup, namespace, name)
    metrics = Metrics(lambda: _all_informers(source, clusters))
    if shard is not None:
        metrics.set_shard(shard.scheme.value, shard.index, shard.count)
    stop = threading.Event() if stop is None else stop
    board = Board(metrics)
    events = _events(args, api_client, source, stop, metrics) if serve else None
    reloader = _reloader(args, stop, metrics, wakeup, board, events)
    if isinstance(source, (TenantSource, DumpedTenant)):
        policy = tenant_policy(args)
        cycle: Cycle = TenantCycle(source, clusters, output, options, policy, renderer=renderer)
    else:
        cycle = Cycle(source, clusters, output, options, renderer=renderer)
    sidecar = Sidecar(
        cycle,
        board,
        Scheduler(wakeup, stop, args.interval, args.debounce),
        source,
        clusters,
        wakeup,
        stop=stop,
        reloader=reloader,
        events=events,
    )
    if serve and args.listen:
        healthy = Liveness(
            lambda: sidecar.scheduler.last_cycle,
            source,
            clusters,
            interval=args.interval,
            window=args.health_window,
        )
        status = StatusPage(
            sidecar.board, lambda: _watches(source, clusters), {"sharding": sharding_status}
        )
        routes = ops_routes(
            metrics.registry,
            healthy,
            sidecar.board.ready,
            status,
            explain=lambda target, obj, address, window=None, tenant=None: sidecar.cycle.explain(
                target, obj, address, window=window, tenant=tenant
            ).as_json(),
        )
        prefixes = served_routes(published.get) if published is not None else None
        sidecar.server = OpsServer(args.listen, routes, prefixes=prefixes)
    return sidecar


def _cluster_source(
    args: argparse.Namespace, api_client: Any, wakeup: Wakeup, sharding: ServerSharding | None
) -> ClusterSource | None:
    if args.snapshot:
        return SnapshotClusterSource(load_snapshot(args.snapshot))
    if api_client is None:
        return None
    return InformerSet(
        lambda resource, ns: apiclient.new_informer(
            api_client,
            resource,
            ns,
            on_change=wakeup.notify,
            sharding=sharding if resource in SHARDED_RESOURCES else None,
        ),
        progress_window=args.health_window,
    )


def _config_source(
    args: argparse.Namespace, api_client: Any, wakeup: Wakeup, namespace: str, name: str
) -> ConfigSource:
    if args.tenant:
        if args.config_file:
            raise UsageError("--tenant reads a tenant ConfigMap: drop --config-file")
        return _one_tenant(args, api_client, wakeup)
    if args.configmap_selector:
        if args.config_file:
            raise UsageError("--configmap-selector follows ConfigMaps: drop --config-file")
        if api_client is None:
            raise UsageError("--configmap-selector needs the Kubernetes API")
        return _tenant_source(args, api_client, wakeup, namespace, name)
    if args.config_file:
        return FileSource(args.config_file, wakeup.notify)
    if api_client is None:
        raise UsageError(
            "no Kubernetes API: pass --kubeconfig, run in a pod, or use --config-file for a "
            "local config"
        )
    return _configmap_source(args, api_client, wakeup, namespace, name)


def _configmap_source(
    args: argparse.Namespace, api_client: Any, wakeup: Wakeup, namespace: str, name: str
) -> ConfigMapSource:
    informer = apiclient.new_informer(
        api_client,
        "configmaps",
        namespace,
        field_selector=f"metadata.name={name}",
        on_change=wakeup.notify,
    )
    return ConfigMapSource(informer, namespace, name, args.key)


def _tenant_source(
    args: argparse.Namespace, api_client: Any, wakeup: Wakeup, namespace: str, name: str
) -> TenantSource:
    """`--configmap-selector`: the matching ConfigMaps, each a tenant, and an explicit
    `--configmap` (not its default) as the platform config."""
    informers = [
        apiclient.new_informer(
            api_client,
            "configmaps",
            ns,
            label_selector=args.configmap_selector,
            on_change=wakeup.notify,
        )
        for ns in args.configmap_namespaces or (None,)
    ]
    platform = None
    if args.configmap:
        platform = _configmap_source(args, api_client, wakeup, namespace, name)
    return TenantSource(
        informers, args.key, args.trusted_namespaces, platform, args.configmap_selector
    )


def _tenant_key(args: argparse.Namespace) -> tuple[str, str]:
    try:
        return tenant_ref(args.tenant)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _one_tenant(args: argparse.Namespace, api_client: Any, wakeup: Wakeup) -> TenantSource:
    """`sdgen explain --tenant NAMESPACE/NAME`: that tenant ConfigMap alone, read from the
    cluster as the sidecar reads it (and only if --configmap-selector, when given, selects
    it), with no platform config."""
    if api_client is None:
        raise UsageError(
            f"--tenant {args.tenant}: not in --snapshot, and no Kubernetes API to read it from"
        )
    namespace, name = _tenant_key(args)
    informer = apiclient.new_informer(
        api_client,
        "configmaps",
        namespace,
        label_selector=args.configmap_selector or "",
        field_selector=f"metadata.name={name}",
        on_change=wakeup.notify,
    )
    selector = args.configmap_selector or "any labels"
    return TenantSource([informer], args.key, args.trusted_namespaces, None, selector)


def dumped_tenant(args: argparse.Namespace) -> DumpedTenant | None:
    """`--tenant NAMESPACE/NAME` from the --snapshot dump, when the dump holds that
    ConfigMap with the data key (`kubectl get configmaps -A -o yaml` in it); else None."""
    if not args.tenant or not args.snapshot:
        return None
    namespace, name = _tenant_key(args)
    try:
        text = Path(args.snapshot).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SnapshotError(f"{args.snapshot}: cannot read snapshot: {err}") from None
    key = f"{namespace}/{name}"
    for embedded in load_configmap_key(text, args.key).configs:
        if embedded.configmap == key:
            origin = f"configmap {key} key {args.key} in {args.snapshot}"
            found = ConfigText(embedded.text, origin, text_version(embedded.text.encode()))
            tenant = Tenant(namespace, name, namespace in args.trusted_namespaces)
            return DumpedTenant(TenantText(tenant, found))
    return None


def _events(
    args: argparse.Namespace,
    api_client: Any,
    source: ConfigSource,
    stop: threading.Event,
    metrics: Metrics,
) -> LoopEvents | None:
    """Events on the ConfigMap: only when the config comes from one (or from tenant
    ConfigMaps, each its own), and not --no-events."""
    tenants = isinstance(source, TenantSource)
    if args.no_events or api_client is None or not (tenants or isinstance(source, ConfigMapSource)):
        return None
    emitter = Emitter(
        apiclient.EventWriter(api_client),
        socket.gethostname(),  # the pod's name
        stop,
        lambda reason, result: metrics.events.labels(reason, result).inc(),
    )

    if isinstance(source, TenantSource):
        return TenantEvents(emitter, lambda target: _regarding(source.configmap_of(target)))
    assert isinstance(source, ConfigMapSource)
    return LoopEvents(emitter, lambda: _regarding(source.configmap()))


def _regarding(found: ConfigMap | None) -> Regarding | None:
    if found is None:
        return None
    meta = found.metadata
    return Regarding(meta.namespace, meta.name, meta.uid)


def _reloader(
    args: argparse.Namespace,
    stop: threading.Event,
    metrics: Metrics,
    wakeup: Wakeup,
    board: Board,
    events: LoopEvents | None,
) -> Reloader | None:
    if not args.reload_url:
        return None
    try:
        return Reloader(
            args.reload_url,
            stop,
            on_result=lambda result: metrics.reload_requests.labels(result).inc(),
            on_loaded=wakeup.notify,  # a cycle may now remove files the last layout left,
            # and mark the written config version loaded
            on_answer=functools.partial(_answered, board, events),
        )
    except ValueError as err:
        raise UsageError(f"--reload-url: {err}") from None


def _answered(board: Board, events: LoopEvents | None, answer: ReloadAnswer) -> None:
    board.rollout.answered(answer)
    if events is not None:
        events.reload_answered(answer)


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


def _all_informers(source: ConfigSource, clusters: ClusterSource | None) -> list[Informer[Any]]:
    found: list[Informer[Any]] = []
    if isinstance(source, ConfigMapSource):
        found.append(source.informer)
    if isinstance(source, TenantSource):
        found.extend(source.all_informers())
    if isinstance(clusters, InformerSet):
        found.extend(clusters.informers())
    return found


def _sharding_status(shard: Shard | None, server_side: str) -> dict[str, Any] | None:
    """/status: the scheme that assigns this shard its targets (None without --shards)."""
    if shard is None:
        return None
    found: dict[str, Any] = {
        "scheme": shard.scheme.value,
        "shards": shard.count,
        "index": shard.index,
        "assignment": shard.describe(),
        "server_side": server_side,
    }
    if shard.scheme is ShardScheme.NAMESPACE:
        found["range"] = [hex_bound(shard.range.start), hex_bound(shard.range.end)]
    return found


def _watches(source: ConfigSource, clusters: ClusterSource | None) -> dict[str, dict[str, Any]]:
    """/status per informer: synced, the wall-clock time of its last list or watch event
    (null before the first), and its last error while it lasts, so an unreachable API server
    shows there and not only in the logs."""
    return {
        informer.name: {
            "synced": informer.has_synced(),
            "last_event_at": informer.last_event_time() or None,
            "last_error": str(informer.last_error or ""),
            "server_sharded": informer.server_sharded(),
        }
        for informer in _all_informers(source, clusters)
    }


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# From a stop signal to the process's end, whatever the main thread is doing. A clean stop
# (Sidecar.shutdown) takes well under this; a main thread blocked in a startup step (a
# kubeconfig credential plugin that hangs), a read or a write (stderr into a full pipe)
# never returns to look at the stop Event, so the process exits without it.
STOP_BUDGET = 1.7


def _stop_on_signals(stop: threading.Event, wakeup: Wakeup) -> None:
    """Set `stop` (and wake the loop to see it) on SIGTERM/SIGINT from a thread of its own,
    and end the process
    STOP_BUDGET seconds later if the main thread has not ended it by then.

    A Python signal handler runs in the main thread between two bytecodes; calling
    `stop.set()` there deadlocks when the main thread was interrupted inside `stop.wait()`
    while holding the Event's lock (seen as a SIGTERM that never ended the process), and
    never runs at all while the main thread is blocked in a system call. With the signals
    blocked everywhere, a dedicated thread takes them with sigwait instead.
    """

    def wait() -> None:
        signum = signal.sigwait(_STOP_SIGNALS)
        stop.set()
        wakeup.notify()
        time.sleep(STOP_BUDGET)  # a daemon thread: a clean exit ends it first
        logs.last_words(
            f"{signal.Signals(signum).name}: the main thread did not stop within "
            f"{STOP_BUDGET}s (blocked in a startup step, a read or a write); exiting without it"
        )
        os._exit(128 + signum)

    threading.Thread(target=wait, name="signals", daemon=True).start()


@exit_codes
def run(args: argparse.Namespace) -> int:
    """`sdgen run`: the sidecar, until SIGTERM or SIGINT."""
    sidecar = _build_stoppable(args, central=False)
    if sidecar is not None:
        log.info("sdgen started", extra={"output_dir": args.output_dir})
        _run_until_stopped(sidecar)
    log.info("sdgen stopped")
    return 0


@exit_codes
def serve(args: argparse.Namespace) -> int:
    """`sdgen serve`: central discovery for N shards over HTTP SD, until SIGTERM or SIGINT."""
    sidecar = _build_stoppable(args, central=True)
    if sidecar is not None:
        if sidecar.server is None:
            raise UsageError("sdgen serve needs --listen: it answers over HTTP")
        log.info("sdgen serve started", extra={"shards": args.shards, "port": sidecar.server.port})
        _run_until_stopped(sidecar)
    log.info("sdgen stopped")
    return 0


def _build_stoppable(args: argparse.Namespace, *, central: bool) -> Sidecar | None:
    """The sidecar of `run` or `serve`, built with SIGTERM/SIGINT already taken; None when
    one came while it was being built (nothing was started)."""
    # Before any thread exists, so every thread inherits the mask; and the signals thread
    # before anything that can block (credential plugins, the output dir, the first reads),
    # so a stop is taken in every phase. See _stop_on_signals.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    stop, wakeup = threading.Event(), Wakeup()
    _stop_on_signals(stop, wakeup)
    sidecar = build(args, serve=True, central=central, stop=stop, wakeup=wakeup)
    return None if stop.is_set() else sidecar


def _run_until_stopped(sidecar: Sidecar) -> None:
    sidecar.start()
    try:
        sidecar.scheduler.run(sidecar.tick)
    finally:
        sidecar.shutdown()


@exit_codes
def once(args: argparse.Namespace) -> int:
    """`sdgen once`: render once when everything has synced, then exit (1 on any error)."""
    sidecar = build(args, serve=False)
    sidecar.start()
    try:
        _settle(lambda: sidecar.step().reading, sidecar)
    finally:
        sidecar.shutdown()
    board = sidecar.board
    errors = board.write_errors or any(t.error for t in board.targets.values())
    return 1 if errors or not board.config.valid else 0


@exit_codes
def targets(args: argparse.Namespace) -> int:
    """`sdgen targets`: what would be discovered, with discovered and final labels; with
    `--shard-plan N`, how N namespace shards would share them instead."""
    if args.shard_plan:
        args.shards = 0  # the whole, to be split
    sidecar = build(args, serve=False, write=False, discovered=True)
    sidecar.start()
    cycle = sidecar.cycle
    try:
        reading = _settle(cycle.read, sidecar)
        # Secrets are read (to report a missing one) but never printed.
        config = reading.config
        resolution = cycle.with_secrets(cycle.resolve(config)).resolution if config else None
    finally:
        sidecar.shutdown()
    issues = reading.status.issues
    errors = dict(resolution.errors) if resolution else {}
    if args.shard_plan:
        print(shard_plan_report(resolution, args.shard_plan))
        return 1 if errors or not reading.status.valid else 0
    report = targets_report(
        resolution,
        issues,
        errors,
        as_json=args.json,
        discovered=args.discovered,
        file_of=_rendered(args, resolution).file_of,
    )
    print(report)
    return 1 if errors or not reading.status.valid else 0


def _rendered(args: argparse.Namespace, resolution: Resolution | None) -> render.Renderer:
    """A renderer that split the endpoints as the sidecar writing to --output-dir splits
    them (from the parts there now), for naming the file that holds a target."""
    out = Path(args.output_dir)
    written = (str(path.relative_to(out)) for path in out.glob("targets/*/*"))
    renderer = render.Renderer(args.part_size, naming.parts_on_disk(written), consumer_of(args))
    renderer.render(resolution.endpoints if resolution else ())
    return renderer


@exit_codes
def explain(args: argparse.Namespace) -> int:
    """`sdgen explain`: why a target scrapes an object, or why not (0: it writes at least one
    target, 1: none, 2: usage or config errors)."""
    dumped = dumped_tenant(args)
    try:
        sidecar = build(args, serve=False, write=False, source=dumped)
    except UsageError as err:
        if args.tenant and args.snapshot and dumped is None:
            raise UsageError(
                f"--tenant {args.tenant}: no ConfigMap of that name with data key {args.key!r} "
                f"in --snapshot {args.snapshot}, and no cluster to read it from: {err}"
            ) from None
        raise
    sidecar.start()
    cycle = sidecar.cycle
    tenant = "/".join(_tenant_key(args)) if args.tenant else None
    try:
        reading = _settle(cycle.read, sidecar)
        if reading.config is None:
            raise UsageError(f"cannot explain: {reading.waiting_for}")
        renderer = _rendered(args, cycle.resolve(reading.config))
        explanation = cycle.explain(
            args.target, args.object, args.address, file_of=renderer.file_of, tenant=tenant
        )
    finally:
        sidecar.shutdown()
    print(explain_report(explanation, as_json=args.json))
    return 0 if explanation.written else 1


def _settle(attempt: Callable[[], Reading], sidecar: Sidecar) -> Reading:
    """Repeat `attempt` until its config can be rendered, or is missing or unusable (waiting
    would not change that); GaveUp after SETTLE_TIMEOUT of caches that do not sync."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        reading = attempt()
        if reading.config is not None or (reading.rejected and sidecar.source.synced()):
            return reading
        refused = [
            inf.last_error
            for inf in _all_informers(sidecar.source, sidecar.clusters)
            if isinstance(inf.last_error, ShardingIgnored)
        ]
        if refused:  # waiting may find another API server, but not within a one-shot command
            raise GaveUp(f"gave up: {refused[0]}")
        if time.monotonic() > deadline:
            raise GaveUp(f"gave up: {reading.waiting_for}")
        sidecar.stop.wait(0.05)
