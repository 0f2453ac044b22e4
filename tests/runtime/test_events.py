"""The Event emitter against the API emulator through the real API client: what it writes,
series counts on the heartbeat (with a clock the test moves) and the rate limit, as the real
kubectl shows them; failures logged once and counted, and a queue that never blocks the
loop."""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdgen.cache.apiclient import EventWriter, load_api_client
from sdgen.runtime.events import Emitter
from sdgen.runtime.recorder import EventType, Occurrence, Recorder, Regarding
from tests.conftest import Binaries
from tests.fakeapi import FakeAPI
from tests.support.helpers import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(
    fakeapi: FakeAPI, kubeconfig: Path
) -> Iterator[tuple[Emitter, Clock, Counter[tuple[str, str]], Regarding]]:
    cm = fakeapi.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "sdgen-config", "namespace": "monitoring"},
        }
    )
    regarding = Regarding("monitoring", "sdgen-config", cm["metadata"]["uid"])
    api_client = load_api_client(str(kubeconfig))
    clock, counts = Clock(), Counter[tuple[str, str]]()
    stop = threading.Event()
    emitter = Emitter(
        EventWriter(api_client),
        "prometheus-0",
        stop,
        lambda reason, result: counts.update([(reason, result)]),
        recorder=Recorder(heartbeat_every=60, finish=360),
        clock=clock,
    )
    emitter.start()
    yield emitter, clock, counts, regarding
    stop.set()
    emitter.join(5)
    api_client.close()


def occurrence(regarding: Regarding, note: str = "bad config") -> Occurrence:
    return Occurrence(regarding, EventType.WARNING, "ConfigInvalid", "ReadConfig", note)


def events(api: FakeAPI) -> list[dict[str, Any]]:
    return api.list("events", "monitoring")


def kubectl_events(binaries: Binaries, kubeconfig: Path) -> list[str]:
    """The lines `kubectl events --for configmap/sdgen-config` prints, header first."""
    args = ["-n", "monitoring", "events", "--for", "configmap/sdgen-config"]
    done = subprocess.run(
        [str(binaries.kubectl), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_an_event_regards_the_configmap_and_repeats_become_a_series(
    fakeapi: FakeAPI, setup: Any, binaries: Binaries, kubeconfig: Path
) -> None:
    emitter, clock, counts, regarding = setup
    emitter.emit(occurrence(regarding))
    assert emitter.drain()
    [event] = events(fakeapi)
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "monitoring",
        "name": "sdgen-config",
        "uid": regarding.uid,
    }
    assert (event["reason"], event["type"], event["message"]) == (
        "ConfigInvalid",
        "Warning",
        "bad config",
    )
    assert (event["reportingComponent"], event["reportingInstance"]) == ("sdgen", "prometheus-0")
    for _ in range(4):
        clock.now += 1
        emitter.emit(occurrence(regarding))
    assert emitter.drain()
    [event] = events(fakeapi)
    assert event["series"]["count"] == 2, "the first repeat is written at once"
    clock.now += 60
    wait_for(lambda: events(fakeapi)[0]["series"]["count"] == 5, 5)  # the heartbeat
    wait_for(lambda: counts[("ConfigInvalid", "patched")] == 2, 5)  # counted after the answer
    [_, line] = kubectl_events(binaries, kubeconfig)
    assert "(x5 over" in line and "ConfigInvalid" in line and "bad config" in line, line
    assert counts == {
        ("ConfigInvalid", "created"): 1,
        ("ConfigInvalid", "patched"): 2,
        ("ConfigInvalid", "counted"): 3,
    }


def test_a_flapping_config_is_rate_limited(
    fakeapi: FakeAPI, setup: Any, binaries: Binaries, kubeconfig: Path
) -> None:
    emitter, clock, counts, regarding = setup
    for i in range(40):
        emitter.emit(occurrence(regarding, f"version {i}"))
    assert emitter.drain()
    assert len(events(fakeapi)) == 25
    assert len(kubectl_events(binaries, kubeconfig)) == 1 + 25
    assert counts[("ConfigInvalid", "throttled")] == 15
    clock.now += 300
    emitter.emit(occurrence(regarding, "version 40"))
    assert emitter.drain()
    assert len(events(fakeapi)) == 26


def test_failures_are_logged_once_and_counted(
    fakeapi: FakeAPI, setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emitter, _, counts, regarding = setup
    fakeapi.allow_only([])  # no RBAC grant: every write is 403
    with caplog.at_level(logging.INFO, logger="sdgen.runtime.events"):
        for i in range(3):
            emitter.emit(occurrence(regarding, f"n{i}"))
        assert emitter.drain()
        assert counts[("ConfigInvalid", "failed")] == 3
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "is forbidden" in warnings[0], warnings
        fakeapi.allow_only(None)
        emitter.emit(occurrence(regarding, "n0"))  # forgotten after the failure: created
        assert emitter.drain()
    assert counts[("ConfigInvalid", "created")] == 1
    assert "writing Events works again" in caplog.text
    assert len(events(fakeapi)) == 1


def test_emit_never_blocks_a_full_queue_drops() -> None:
    counts: Counter[tuple[str, str]] = Counter()

    class Unused:
        def create(self, namespace: str, body: dict[str, Any]) -> None:
            raise AssertionError("not started: nothing is written")

        def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
            raise AssertionError("not started: nothing is written")

    emitter = Emitter(
        Unused(), "p", threading.Event(), lambda r, s: counts.update([(r, s)]), queue_size=2
    )
    for i in range(10):
        emitter.emit(occurrence(Regarding("ns", "cm"), str(i)))
    assert counts == {("ConfigInvalid", "dropped"): 8}
