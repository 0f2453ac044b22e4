"""The Event recorder's decisions (pure, with the clock passed in): series, rate limit,
heartbeat, closing a series, and the bodies it makes."""

from __future__ import annotations

import pytest

from sdgen.runtime.recorder import (
    EventType,
    Occurrence,
    Recorder,
    Regarding,
    Series,
    Write,
    event_body,
    event_name,
    micro_time,
    series_patch,
    truncated,
)

CM = Regarding("monitoring", "sdgen-config", "uid-1")
OTHER = Regarding("monitoring", "other", "uid-2")


def occurrence(reason: str = "ConfigInvalid", note: str = "bad", on: Regarding = CM) -> Occurrence:
    return Occurrence(on, EventType.WARNING, reason, "ReadConfig", note)


def play(recorder: Recorder, script: list[tuple[float, Occurrence]]) -> list[str]:
    """Each occurrence at its time; creates and patches succeed. The writes, in order."""
    writes = []
    for now, o in script:
        decision = recorder.record(o, now)
        writes.append(str(decision.write))
        if decision.write is Write.CREATE:
            assert decision.series is not None
            recorder.created(decision.series, event_name(decision.series))
        elif decision.write is Write.PATCH:
            assert decision.series is not None
            recorder.patched(decision.series, series_patch(decision.series)["series"]["count"])
    return writes


A, B = occurrence(note="a"), occurrence(note="b")

CASES = [
    ("one", [(0, A)], ["created"]),
    ("a repeat becomes a series at once", [(0, A), (1, A)], ["created", "patched"]),
    (
        "later repeats wait for the heartbeat",
        [(0, A), (1, A), (2, A), (3, A)],
        ["created", "patched", "counted", "counted"],
    ),
    ("another note is another event", [(0, A), (1, B), (2, A)], ["created", "created", "patched"]),
    (
        "another object is another event",
        [(0, A), (1, occurrence(note="a", on=OTHER))],
        ["created", "created"],
    ),
]


@pytest.mark.parametrize(("name", "script", "writes"), CASES, ids=[c[0] for c in CASES])
def test_series(name: str, script: list[tuple[float, Occurrence]], writes: list[str]) -> None:
    assert play(Recorder(), script) == writes


def test_burst_of_25_then_one_per_5_minutes_per_object() -> None:
    recorder = Recorder()
    flapping = [(0.0, occurrence(note=f"version {i}")) for i in range(30)]
    writes = play(recorder, flapping)
    assert writes == ["created"] * 25 + ["throttled"] * 5
    assert play(recorder, [(0.0, occurrence(note="x", on=OTHER))]) == ["created"]  # own bucket
    assert play(recorder, [(299.0, occurrence(note="late"))]) == ["throttled"]
    assert play(recorder, [(301.0, occurrence(note="late"))]) == ["created"]
    assert play(recorder, [(302.0, occurrence(note="later"))]) == ["throttled"]
    assert play(recorder, [(301.0 + 600, occurrence(note="a")), (901.0, occurrence(note="b"))]) == [
        "created",
        "created",
    ]


def test_heartbeat_patches_counts_the_api_server_lacks_then_closes_idle_series() -> None:
    recorder = Recorder(heartbeat_every=60, finish=360)
    play(recorder, [(0, A), (1, A), (2, A), (3, A)])  # count 4; the server has 2
    [series] = recorder._series.values()
    beats = list(recorder.heartbeat(10))
    assert [(str(d.write), d.series and d.series.count) for d in beats] == [("patched", 4)]
    assert series_patch(series) == {
        "series": {"count": 4, "lastObservedTime": micro_time(3)},
    }
    recorder.patched(series, 4)
    assert list(recorder.heartbeat(30)) == [], "not due: 60 s apart"
    assert list(recorder.heartbeat(70)) == [], "nothing new to write"
    assert list(recorder.heartbeat(400)) == [] and not recorder._series, "idle: forgotten"
    assert play(recorder, [(401, A)]) == ["created"], "a new event after the series closed"


def test_a_stale_series_is_written_before_it_closes() -> None:
    recorder = Recorder(heartbeat_every=60, finish=360)
    play(recorder, [(0, A), (1, A), (2, A)])
    assert [str(d.write) for d in recorder.heartbeat(500)] == ["patched"]


def test_a_failed_write_forgets_the_event() -> None:
    recorder = Recorder()
    decision = recorder.record(A, 0)
    assert decision.series is not None
    recorder.failed(decision.series)
    assert str(recorder.record(A, 1).write) == "created"


def test_body_is_an_events_k8s_io_event_regarding_the_configmap() -> None:
    series = Series(occurrence(note="n" * 2000), first=1.5)
    body = event_body(series, "prometheus-0")
    assert body["metadata"] == {"name": "sdgen-config.59682f00", "namespace": "monitoring"}
    assert body["regarding"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "monitoring",
        "name": "sdgen-config",
        "uid": "uid-1",
    }
    assert (body["reportingController"], body["reportingInstance"]) == ("sdgen", "prometheus-0")
    assert body["eventTime"] == "1970-01-01T00:00:01.500000Z"
    assert len(body["note"].encode()) <= 1024 and body["note"].endswith("(truncated)")


@pytest.mark.parametrize(
    ("note", "limit", "expected"),
    [
        ("short", 1024, "short"),
        ("x" * 1024, 1024, "x" * 1024),
        ("é" * 20, 21, "é …(truncated)"[:0] + "é" * 3 + " …(truncated)"),
    ],
)
def test_truncated_never_cuts_a_character(note: str, limit: int, expected: str) -> None:
    assert truncated(note, limit) == expected
    assert len(truncated(note, limit).encode()) <= limit
