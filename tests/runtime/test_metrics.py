"""sdgen's metrics as Prometheus reads them: names, labels and values in the exposition text.

The informer collector reads informer state at scrape time, so a plain record of that state
stands in for an informer here; the end-to-end values are asserted in test_server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sdgen import __version__
from sdgen.cache.reflector import RELIST_REASONS, WATCH_END_REASONS
from sdgen.resolve.funnel import Stage
from sdgen.runtime.metrics import Metrics


@dataclass
class Stats:
    name: str
    synced: bool = True
    objects: int = 0
    last_event: float = 0.0
    restarts: dict[str, int] = field(default_factory=dict)
    relisted: dict[str, int] = field(default_factory=dict)

    def has_synced(self) -> bool:
        return self.synced

    def object_count(self) -> int:
        return self.objects

    def last_event_time(self) -> float:
        return self.last_event

    def watch_restarts(self) -> dict[str, int]:
        return self.restarts

    def relists(self) -> dict[str, int]:
        return self.relisted


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def exposition(metrics: Metrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_informer_state_is_read_at_scrape_time() -> None:
    informers = [
        Stats("configmaps/monitoring", objects=1, last_event=1700000000.5),
        Stats(
            "pods/*", synced=False, restarts={"closed": 2, "stalled": 1}, relisted={"expired": 1}
        ),
    ]
    metrics = Metrics(lambda: informers)
    samples = exposition(metrics)
    assert samples[key("sdgen_informer_synced", informer="configmaps/monitoring")] == 1
    assert samples[key("sdgen_informer_synced", informer="pods/*")] == 0
    assert samples[key("sdgen_informer_objects", informer="configmaps/monitoring")] == 1
    last = key("sdgen_informer_last_event_timestamp_seconds", informer="configmaps/monitoring")
    assert samples[last] == 1700000000.5
    restarts = "sdgen_watch_restarts_total"
    assert samples[key(restarts, informer="pods/*", reason="closed")] == 2
    assert samples[key(restarts, informer="pods/*", reason="stalled")] == 1
    assert samples[key("sdgen_relists_total", informer="pods/*", reason="expired")] == 1

    informers[1].objects = 5000  # a later scrape sees the informer as it is then
    assert exposition(metrics)[key("sdgen_informer_objects", informer="pods/*")] == 5000


def test_set_targets_replaces_the_whole_gauge() -> None:
    metrics = Metrics()
    metrics.set_targets({"a": 3, "b": 0})
    metrics.set_targets({"b": 2})
    samples = exposition(metrics)
    assert samples[key("sdgen_targets", target="b")] == 2
    assert key("sdgen_targets", target="a") not in samples


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("sdgen_build_info", {"version": __version__}),
        ("sdgen_config_valid", {}),
        ("sdgen_config_last_reload_success_timestamp_seconds", {}),
        ("sdgen_render_duration_seconds_count", {}),
        ("sdgen_file_writes_total", {}),
        ("sdgen_file_writes_skipped_total", {}),
        ("sdgen_file_removals_total", {}),
        ("sdgen_file_write_errors_total", {}),
        ("sdgen_config_errors_total", {}),
    ],
)
def test_every_app_metric_is_exposed_from_the_start(name: str, labels: dict[str, str]) -> None:
    """Alerts on absent series misfire; every unlabelled series exists before the first event."""
    assert key(name, **labels) in exposition(Metrics())


def test_reload_results_are_counted_per_result() -> None:
    metrics = Metrics()
    metrics.reload_requests.labels("success").inc()
    metrics.reload_requests.labels("failure").inc(2)
    samples = exposition(metrics)
    assert samples[key("sdgen_reload_requests_total", result="success")] == 1
    assert samples[key("sdgen_reload_requests_total", result="failure")] == 2


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.file_writes.inc(3)
    assert exposition(second)[key("sdgen_file_writes_total")] == 0


def test_funnel_series_exist_from_config_load_and_leave_with_their_target() -> None:
    metrics = Metrics()
    metrics.set_funnel_targets(["a", "b"])
    samples = exposition(metrics)
    for target in ("a", "b"):
        for stage in Stage:
            assert samples[key("sdgen_target_funnel", target=target, stage=stage.value)] == 0
    metrics.set_funnels({"a": {Stage.CANDIDATES: 7, Stage.WRITTEN: 5}})
    metrics.set_funnel_targets(["a"])
    samples = exposition(metrics)
    assert samples[key("sdgen_target_funnel", target="a", stage="candidates")] == 7
    assert samples[key("sdgen_target_funnel", target="a", stage="written")] == 5
    assert not any(labels and ("target", "b") in labels for _, labels in samples)


def test_labelled_counters_start_at_zero_for_every_known_label() -> None:
    """`increase()` sees a counter's first step only when the series existed before it."""
    samples = exposition(Metrics(lambda: [Stats("pods/*")]))
    for reason in WATCH_END_REASONS:
        assert samples[key("sdgen_watch_restarts_total", informer="pods/*", reason=reason)] == 0
    for reason in RELIST_REASONS:
        assert samples[key("sdgen_relists_total", informer="pods/*", reason=reason)] == 0
    for result in ("success", "failure"):
        assert samples[key("sdgen_reload_requests_total", result=result)] == 0
