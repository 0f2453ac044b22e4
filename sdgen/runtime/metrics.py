"""sdgen's own Prometheus metrics: what an operator alerts on.

Each sidecar owns a CollectorRegistry (so several can live in one test process). Informer state
is collected at scrape time from the informers themselves, so the watch loop does no metrics
bookkeeping beyond the counters it already keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sdgen import __version__
from sdgen.cache.reflector import RELIST_REASONS, WATCH_END_REASONS
from sdgen.resolve.funnel import Stage

RELOAD_RESULTS = ("success", "failure")  # sdgen.runtime.reload's on_result values


class InformerStats(Protocol):
    """What the metrics need from an informer (see sdgen.cache.informer)."""

    @property
    def name(self) -> str: ...
    def has_synced(self) -> bool: ...
    def object_count(self) -> int: ...
    def last_event_time(self) -> float: ...  # wall-clock seconds, 0 before the first event
    def watch_restarts(self) -> dict[str, int]: ...  # reason -> count
    def relists(self) -> dict[str, int]: ...  # reason -> count
    def server_sharded(self) -> bool | None: ...  # None: not sharded server-side


class _InformerCollector(Collector):
    def __init__(self, informers: Callable[[], Iterable[InformerStats]]) -> None:
        self._informers = informers

    def collect(self) -> Iterator[Metric]:
        synced = GaugeMetricFamily(
            "sdgen_informer_synced",
            "1 when the informer finished its initial list",
            labels=["informer"],
        )
        objects = GaugeMetricFamily(
            "sdgen_informer_objects", "objects in the informer cache", labels=["informer"]
        )
        last = GaugeMetricFamily(
            "sdgen_informer_last_event_timestamp_seconds",
            "when the informer last received a list page or watch event",
            labels=["informer"],
        )
        restarts = CounterMetricFamily(
            "sdgen_watch_restarts", "watch streams restarted", labels=["informer", "reason"]
        )
        relists = CounterMetricFamily(
            "sdgen_relists", "full relists of an informer", labels=["informer", "reason"]
        )
        sharded = GaugeMetricFamily(
            "sdgen_informer_server_sharded",
            "1 when the API server applied the shard selector to the informer's last list, 0 "
            "when it ignored it (filtered on the client); only for server-side sharded informers",
            labels=["informer"],
        )
        for informer in self._informers():
            server_sharded = informer.server_sharded()
            if server_sharded is not None:
                sharded.add_metric([informer.name], 1.0 if server_sharded else 0.0)
            synced.add_metric([informer.name], 1.0 if informer.has_synced() else 0.0)
            objects.add_metric([informer.name], informer.object_count())
            last.add_metric([informer.name], informer.last_event_time())
            counted = informer.watch_restarts()
            for reason in _known(WATCH_END_REASONS, counted):
                restarts.add_metric([informer.name, reason], counted.get(reason, 0))
            counted = informer.relists()
            for reason in _known(RELIST_REASONS, counted):
                relists.add_metric([informer.name, reason], counted.get(reason, 0))
        yield from (synced, objects, last, restarts, relists, sharded)


def _known(reasons: tuple[str, ...], counted: dict[str, int]) -> Iterator[str]:
    """Every known reason (at 0 until the first), then any other counted."""
    yield from reasons
    yield from (reason for reason in counted if reason not in reasons)


class Metrics:
    """The sidecar's metrics, registered in one registry; the board updates them."""

    def __init__(self, informers: Callable[[], Iterable[InformerStats]] = tuple) -> None:
        self.registry = CollectorRegistry()
        self._config_info_labels: set[tuple[str, str]] = set()
        self._tenants: set[str] = set()  # the tenant label values set
        r = self.registry
        Info("sdgen_build", "sdgen build information", registry=r).info({"version": __version__})
        self.targets = Gauge("sdgen_targets", "scrape targets written", ["target"], registry=r)
        self.tenant_config_valid = Gauge(
            "sdgen_tenant_config_valid",
            "1 if the tenant's config (--configmap-selector) has no error",
            ["tenant"],
            registry=r,
        )
        self.tenant_targets = Gauge(
            "sdgen_tenant_targets", "scrape targets written per tenant", ["tenant"], registry=r
        )
        self.config_valid = Gauge(
            "sdgen_config_valid", "1 when the last config read was valid", registry=r
        )
        self.config_last_success = Gauge(
            "sdgen_config_last_reload_success_timestamp_seconds",
            "when a valid config was last applied",
            registry=r,
        )
        self.render_duration = Histogram(
            "sdgen_render_duration_seconds",
            "time to resolve, render and write the output",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.file_writes = Counter("sdgen_file_writes", "files written", registry=r)
        self.file_writes_skipped = Counter(
            "sdgen_file_writes_skipped",
            "files left alone because their bytes were unchanged",
            registry=r,
        )
        self.file_removals = Counter("sdgen_file_removals", "files removed", registry=r)
        self.file_errors = Counter(
            "sdgen_file_write_errors", "files that failed to write", registry=r
        )
        self.reload_requests = Counter(
            "sdgen_reload_requests", "POSTs to --reload-url", ["result"], registry=r
        )
        for result in RELOAD_RESULTS:
            self.reload_requests.labels(result)
        self.funnel = Gauge(
            "sdgen_target_funnel",
            "per target, what each stage of resolving kept or dropped (see /status)",
            ["target", "stage"],
            registry=r,
        )
        self.config_errors = Counter(
            "sdgen_config_errors", "config reads rejected as invalid", registry=r
        )
        self.cycles = Counter(
            "sdgen_cycles",
            "render loop cycles by outcome: rendered, unchanged, cleared, waiting, failed",
            ["outcome"],
            registry=r,
        )
        self.events = Counter(
            "sdgen_events",
            "Kubernetes Events on the ConfigMap by result: created, patched (a series count), "
            "counted (a repeat the next heartbeat writes), throttled, dropped (queue full), failed",
            ["reason", "result"],
            registry=r,
        )
        self.config_info = Gauge(
            "sdgen_config_info",
            "1 for the config version at each step: seen in the ConfigMap, its files written, "
            "loaded by Prometheus (a reload that followed succeeded)",
            ["version", "state"],
            registry=r,
        )
        self.shard_targets = Gauge(
            "sdgen_shard_targets",
            "with --shards: the targets this shard writes (compare the shards' series for the "
            "balance), labelled with the scheme that assigns them",
            ["scheme", "shard", "shards"],
            registry=r,
        )
        self._shard: tuple[str, str, str] | None = None
        r.register(_InformerCollector(informers))

    def set_shard(self, scheme: str, index: int, count: int) -> None:
        """This sidecar is shard `index` of `count` under `scheme`."""
        self._shard = (scheme, str(index), str(count))
        self.shard_targets.labels(*self._shard).set(0)

    def set_config_versions(self, versions: dict[str, str]) -> None:
        """state → version; one series per state, so `seen != loaded` can be alerted on."""
        current = {(version, state) for state, version in versions.items()}
        for labels in self._config_info_labels - current:
            self.config_info.remove(*labels)
        for version, state in current:
            self.config_info.labels(version, state).set(1)
        self._config_info_labels = current

    def set_funnel_targets(self, names: Iterable[str]) -> None:
        """The targets of a config just loaded: each gets every stage (0 until its first
        render), so the series exist before any is non-zero; a target gone loses its own."""
        wanted = set(names)
        for target, stage in list(self._funnel_series()):
            if target not in wanted:
                self.funnel.remove(target, stage)
        for target in wanted:
            for stage in Stage:
                self.funnel.labels(target, stage.value)

    def set_funnels(self, funnels: Mapping[str, Mapping[Stage, int]]) -> None:
        """The rendered targets' counts (a target not rendered keeps its last)."""
        for target, stages in funnels.items():
            for stage, count in stages.items():
                self.funnel.labels(target, stage.value).set(count)

    def _funnel_series(self) -> Iterator[tuple[str, str]]:
        for family in self.funnel.collect():
            for sample in family.samples:
                yield sample.labels["target"], sample.labels["stage"]

    def set_tenants(self, valid: Mapping[str, bool], targets: Mapping[str, int]) -> None:
        """Per tenant (`namespace/name`): its config valid, and its targets written; the
        series of tenants no longer followed are removed."""
        for gone in self._tenants - valid.keys():
            self.tenant_config_valid.remove(gone)
            self.tenant_targets.remove(gone)
        self._tenants = set(valid)
        for tenant, ok in valid.items():
            self.tenant_config_valid.labels(tenant).set(1 if ok else 0)
            self.tenant_targets.labels(tenant).set(targets.get(tenant, 0))

    def set_targets(self, counts: dict[str, int]) -> None:
        """Replace the per-target gauge so removed targets disappear from /metrics."""
        self.targets.clear()
        for name, count in counts.items():
            self.targets.labels(name).set(count)
        if self._shard is not None:
            self.shard_targets.labels(*self._shard).set(sum(counts.values()))
