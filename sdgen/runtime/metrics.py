"""sdgen's own Prometheus metrics: what an operator alerts on.

Each sidecar owns a CollectorRegistry (so several can live in one test process). Informer state
is collected at scrape time from the informers themselves, so the watch loop does no metrics
bookkeeping beyond the counters it already keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sdgen import __version__


class InformerStats(Protocol):
    """What the metrics need from an informer (see sdgen.cache.informer)."""

    @property
    def name(self) -> str: ...
    def has_synced(self) -> bool: ...
    def object_count(self) -> int: ...
    def last_event_time(self) -> float: ...  # wall-clock seconds, 0 before the first event
    def watch_restarts(self) -> dict[str, int]: ...  # reason -> count
    def relists(self) -> dict[str, int]: ...  # reason -> count


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
        for informer in self._informers():
            synced.add_metric([informer.name], 1.0 if informer.has_synced() else 0.0)
            objects.add_metric([informer.name], informer.object_count())
            last.add_metric([informer.name], informer.last_event_time())
            for reason, count in informer.watch_restarts().items():
                restarts.add_metric([informer.name, reason], count)
            for reason, count in informer.relists().items():
                relists.add_metric([informer.name, reason], count)
        yield from (synced, objects, last, restarts, relists)


class Metrics:
    """The sidecar's metrics, registered in one registry; the board updates them."""

    def __init__(self, informers: Callable[[], Iterable[InformerStats]] = tuple) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info("sdgen_build", "sdgen build information", registry=r).info({"version": __version__})
        self.targets = Gauge("sdgen_targets", "scrape targets written", ["target"], registry=r)
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
        self.config_errors = Counter(
            "sdgen_config_errors", "config reads rejected as invalid", registry=r
        )
        self.cycles = Counter(
            "sdgen_cycles",
            "render loop cycles by outcome: rendered, unchanged, cleared, waiting, failed",
            ["outcome"],
            registry=r,
        )
        r.register(_InformerCollector(informers))

    def set_targets(self, counts: dict[str, int]) -> None:
        """Replace the per-target gauge so removed targets disappear from /metrics."""
        self.targets.clear()
        for name, count in counts.items():
            self.targets.labels(name).set(count)
