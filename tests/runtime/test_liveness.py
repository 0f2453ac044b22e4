"""/healthz from the loop's last cycle, the config source and the informers, in set time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdgen.cache.informer import Informer
from sdgen.k8s.records import ConfigMap
from sdgen.k8s.view import Cluster, ClusterNeeds
from sdgen.runtime.liveness import Liveness
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.source import ConfigMapSource
from tests.support.helpers import wait_for
from tests.support.scripted import ScriptedLW, page

INTERVAL, WINDOW = 15.0, 60.0


class Clock:
    def __init__(self) -> None:
        self.time = 1000.0

    def __call__(self) -> float:
        return self.time


class Clusters:
    """A cluster source whose informers report no progress for the names in `stalled_names`."""

    def __init__(self) -> None:
        self.stalled_names: list[str] = []

    def ensure(self, needed: ClusterNeeds) -> None:
        pass

    def synced(self) -> bool:
        return True

    def cluster(self) -> Cluster:
        raise AssertionError("liveness never reads the cluster")

    def version(self) -> object:
        return 0

    def stalled(self) -> list[str]:
        return list(self.stalled_names)

    def stop(self) -> None:
        pass


@pytest.fixture
def file_source(tmp_path: Path) -> Iterator[FileSource]:
    source = FileSource(tmp_path / "scrape_config.yaml", lambda: None)
    source.start()
    yield source
    source.stop()


def test_the_loop_must_have_run_within_three_intervals(file_source: FileSource) -> None:
    clock, last_cycle = Clock(), [0.0]
    live = Liveness(
        lambda: last_cycle[0], file_source, None, interval=INTERVAL, window=WINDOW, clock=clock
    )
    assert live() == (True, "ok")
    clock.time += 3600  # no cycle finished yet: the first one may take long
    assert live() == (True, "ok")
    last_cycle[0] = clock.time
    clock.time += 3 * INTERVAL + 5
    assert live() == (True, "ok")
    clock.time += 1
    assert live() == (False, "render loop has not run for 51s")


def test_a_dead_file_watcher_is_not_live(file_source: FileSource) -> None:
    live = Liveness(lambda: 0.0, file_source, None, interval=INTERVAL, window=WINDOW)
    assert live() == (True, "ok")
    file_source.stop()
    assert live() == (False, "config file watcher is not running")


def test_stalled_watches_are_named(file_source: FileSource) -> None:
    clusters = Clusters()
    live = Liveness(lambda: 0.0, file_source, clusters, interval=INTERVAL, window=WINDOW)
    clusters.stalled_names = ["pods/demo", "services/*"]
    assert live() == (False, "no watch progress: pods/demo, services/*")


def test_the_configmap_watch_counts_from_the_start_until_its_first_progress() -> None:
    clock, stop = Clock(), threading.Event()
    lister = ScriptedLW([page([], "1")], [[]], stop, block_last_watch=True)
    informer = Informer("configmaps/monitoring", ConfigMap, lister, clock=clock)
    source = ConfigMapSource(informer, "monitoring", "sdgen-config", "scrape_config.yaml")
    clusters = Clusters()
    live = Liveness(lambda: 0.0, source, clusters, interval=INTERVAL, window=WINDOW, clock=clock)
    clock.time += WINDOW
    assert live() == (True, "ok")
    clock.time += 1
    assert live() == (False, "no watch progress: configmaps/monitoring")
    clusters.stalled_names = ["pods/demo"]
    assert live() == (False, "no watch progress: pods/demo"), "the cluster's watches first"
    clusters.stalled_names = []

    informer.start()
    try:
        wait_for(informer.has_synced)  # the list is progress, at the clock's time now
        assert live() == (True, "ok")
        clock.time += WINDOW + 1
        assert live() == (False, "no watch progress: configmaps/monitoring")
    finally:
        informer.stop()
