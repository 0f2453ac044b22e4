"""The reflector's logic against a scripted ListerWatcher (the emulator tests are in
tests/cache/test_informer.py): paging, watch parameters, event handling, failures, backoff."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from sdgen.cache.interner import Interner
from sdgen.cache.reflector import (
    ApiError,
    Backoff,
    Expired,
    Reflector,
    ReflectorOptions,
    TransportError,
    api_error,
)
from sdgen.cache.store import Change, ChangeType, Store
from sdgen.k8s.records import ObjectMeta, Pod, PodSpec
from tests.support.scripted import (
    ScriptedLW,
    Step,
    Stream,
    bookmark,
    error_event,
    event,
    page,
    pod_json,
)

# --- a scripted ListerWatcher -------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def make(
    lists: list[Step],
    watches: list[Step],
    options: ReflectorOptions | None = None,
    **kwargs: Any,
) -> tuple[Reflector[Pod], ScriptedLW, Store[Pod], list[Change[Pod]], FakeTime]:
    stop = threading.Event()
    lw = ScriptedLW(lists, watches, stop)
    store: Store[Pod] = Store()
    changes: list[Change[Pod]] = []
    fake = FakeTime()
    reflector = Reflector(
        "test",
        Pod,
        lw,
        store,
        stop,
        on_changes=changes.extend,
        options=options,
        clock=fake.clock,
        sleep=fake.sleep,
        rng=FixedRandom(0.0),
        **kwargs,
    )
    return reflector, lw, store, changes, fake


# --- listing ------------------------------------------------------------------------------


def test_list_follows_continue_tokens_and_syncs_only_after_the_last_page() -> None:
    pages = [page([pod_json("a", "3"), pod_json("b", "4")], "10", cont="t1"),
             page([pod_json("c", "5")], "10")]  # fmt: skip
    reflector, lw, store, changes, _ = make(pages, [], label_selector="app=x")
    seen_synced = []
    original = lw.list

    def list_and_look(query: Mapping[str, str], timeout: float) -> bytes:
        seen_synced.append(reflector.has_synced())
        return original(query, timeout)

    lw.list = list_and_look  # type: ignore[method-assign]
    reflector.list_once()
    assert [q for q, _ in lw.list_calls] == [
        {"labelSelector": "app=x", "limit": "500"},
        {"labelSelector": "app=x", "limit": "500", "continue": "t1"},
    ]
    assert [t for _, t in lw.list_calls] == [60.0, 60.0]
    assert seen_synced == [False, False]
    assert reflector.has_synced()
    assert sorted(store.snapshot().items) == ["default/a", "default/b", "default/c"]
    assert reflector.resource_version == "10"
    assert [c.type for c in changes] == [ChangeType.ADDED] * 3


def test_expired_continue_token_restarts_the_list_from_scratch_once() -> None:
    lists: list[Step] = [
        page([pod_json("old", "1")], "10", cont="t1"),
        Expired(410, "continue expired"),
        page([pod_json("a", "11")], "20", cont="t2"),
        page([pod_json("b", "12")], "20"),
    ]
    reflector, lw, store, _, _ = make(lists, [])
    reflector.list_once()
    assert sorted(store.snapshot().items) == ["default/a", "default/b"]
    assert reflector.resource_version == "20"
    assert "continue" not in lw.list_calls[2][0]


def test_a_second_expiry_is_left_to_the_run_loop() -> None:
    lists: list[Step] = [Expired(410), Expired(410)]
    reflector, *_ = make(lists, [])
    with pytest.raises(Expired):
        reflector.list_once()
    assert not reflector.has_synced()


def test_relist_replaces_the_cache_and_reports_deletions() -> None:
    lists: list[Step] = [page([pod_json("a", "1"), pod_json("b", "2")], "5"),
                         page([pod_json("b", "2")], "9")]  # fmt: skip
    reflector, _, store, changes, _ = make(lists, [])
    reflector.list_once()
    changes.clear()
    reflector.list_once()
    assert [(c.type, c.key) for c in changes] == [(ChangeType.DELETED, "default/a")]
    assert list(store.snapshot().items) == ["default/b"]


# --- watching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "read_timeout"),
    [(ReflectorOptions(), 300 + 30.0), (ReflectorOptions(watch_read_timeout=5.0), 5.0)],
    ids=["server-timeout-plus-margin", "explicit"],
)
def test_watch_asks_for_bookmarks_from_the_list_version_with_a_timeout(
    options: ReflectorOptions, read_timeout: float
) -> None:
    lists: list[Step] = [page([], "42")]
    watches: list[Step] = [[bookmark("43")]]
    reflector, lw, *_ = make(lists, watches, options, field_selector="metadata.name=x")
    reflector.list_once()
    reflector.watch_once()
    query, timeout = lw.watch_calls[0]
    assert query == {
        "fieldSelector": "metadata.name=x",
        "resourceVersion": "42",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "300",  # FixedRandom(0): the low end of 5-10 minutes
    }
    assert timeout == read_timeout


def test_server_timeout_is_randomised_between_five_and_ten_minutes() -> None:
    stop = threading.Event()
    timeouts = set()
    for seed in range(20):
        lw = ScriptedLW([page([], "1")], [[bookmark("2")]], stop)
        reflector: Reflector[Pod] = Reflector(
            "t", Pod, lw, Store(), stop, rng=random.Random(seed), sleep=lambda _: None
        )
        reflector.list_once()
        reflector.watch_once()
        timeouts.add(int(lw.watch_calls[0][0]["timeoutSeconds"]))
    assert all(300 <= t <= 600 for t in timeouts)
    assert len(timeouts) > 10


@pytest.mark.parametrize(
    ("lines", "expected", "rv", "change_types"),
    [
        ([event("ADDED", pod_json("a", "11"))], {"old": "1", "a": "11"}, "11", [ChangeType.ADDED]),
        (
            [event("ADDED", pod_json("a", "11")), event("MODIFIED", pod_json("a", "12", x="y"))],
            {"old": "1", "a": "12"},
            "12",
            [ChangeType.ADDED, ChangeType.UPDATED],
        ),
        ([event("DELETED", pod_json("old", "13"))], {}, "13", [ChangeType.DELETED]),
        ([event("DELETED", pod_json("never", "13"))], {"old": "1"}, "13", []),
        ([bookmark("99")], {"old": "1"}, "99", []),
        ([b"", b"  ", event("WEIRD", pod_json("x", "50"))], {"old": "1"}, "10", []),
    ],
    ids=["added", "modified", "deleted", "deleted-unknown", "bookmark", "blank-and-unknown"],
)
def test_watch_events_update_the_store_and_the_resource_version(
    lines: list[bytes], expected: dict[str, str], rv: str, change_types: list[ChangeType]
) -> None:
    reflector, _, store, changes, _ = make([page([pod_json("old", "1")], "10")], [lines])
    reflector.list_once()
    changes.clear()
    reflector.watch_once()
    got = {p.metadata.name: p.metadata.resource_version for p in store.snapshot()}
    assert got == expected
    assert reflector.resource_version == rv
    assert [c.type for c in changes] == change_types


@pytest.mark.parametrize(
    ("code", "error"), [(410, Expired), (500, ApiError)], ids=["expired", "internal"]
)
def test_an_error_event_ends_the_watch_with_its_status(code: int, error: type[Exception]) -> None:
    lines = [event("ADDED", pod_json("a", "11")), error_event(code, "boom")]
    reflector, _, store, *_ = make([page([], "10")], [lines])
    reflector.list_once()
    with pytest.raises(error) as caught:
        reflector.watch_once()
    assert isinstance(caught.value, ApiError)
    assert caught.value.status == code
    assert caught.value.message == "boom"
    assert reflector.resource_version == "11"
    assert len(store) == 1


def test_a_watch_that_ends_at_once_without_events_is_a_failure() -> None:
    reflector, *_ = make([page([], "10")], [[], [b""]])
    reflector.list_once()
    with pytest.raises(TransportError):
        reflector.watch_once()
    with pytest.raises(TransportError):
        reflector.watch_once()


def test_a_quiet_watch_that_lasted_is_not_a_failure() -> None:
    reflector, lw, _, _, fake = make([page([], "10")], [[]])
    original = lw.watch

    def slow_watch(query: Mapping[str, str], timeout: float) -> Stream:
        fake.now += 300  # the server closed it at its timeout
        return original(query, timeout)

    lw.watch = slow_watch  # type: ignore[method-assign]
    reflector.list_once()
    reflector.watch_once()


def test_events_and_lists_record_progress() -> None:
    reflector, _, _, _, fake = make([page([], "10")], [[bookmark("11")]])
    assert reflector.last_progress is None
    reflector.list_once()
    assert reflector.last_progress == fake.now
    fake.now += 5
    reflector.watch_once()
    assert reflector.last_progress == fake.now


# --- the run loop -------------------------------------------------------------------------


def test_run_resumes_from_the_last_version_and_relists_only_on_expiry() -> None:
    lists: list[Step] = [
        page([pod_json("a", "1"), pod_json("b", "2")], "5"),
        page([pod_json("b", "2"), pod_json("c", "8")], "9"),
    ]
    watches: list[Step] = [
        [event("MODIFIED", pod_json("b", "6"))],
        TransportError("connection reset"),
        ApiError(429, "slow down", retry_after=7.0),
        [bookmark("7"), error_event(410, "too old")],
        [event("ADDED", pod_json("d", "10"))],
    ]
    reflector, lw, store, changes, fake = make(lists, watches)
    reflector.run()
    assert [q.get("resourceVersion") for q, _ in lw.watch_calls] == ["5", "6", "6", "6", "9", "10"]
    assert len(lw.list_calls) == 2
    assert sorted(store.snapshot().items) == ["default/b", "default/c", "default/d"]
    assert (ChangeType.DELETED, "default/a") in [(c.type, c.key) for c in changes]
    assert reflector.relists == {"expired": 1}
    assert reflector.watch_restarts["expired"] == 1
    assert reflector.watch_restarts["error"] >= 2
    assert fake.sleeps[1] >= 7.0  # Retry-After honoured
    assert reflector.failures >= 3


def test_run_backs_off_on_list_failures_and_syncs_when_the_server_recovers() -> None:
    lists: list[Step] = [ApiError(500), ApiError(503), TransportError("refused"), page([], "3")]
    reflector, _, _, _, fake = make(lists, [])
    reflector.run()
    assert reflector.has_synced()
    assert fake.sleeps == [0.8, 1.6, 3.2]
    assert reflector.last_error is None


def test_an_unexpected_error_is_logged_and_answered_with_a_relist(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lists: list[Step] = [page([], "1"), page([pod_json("a", "2")], "2")]
    watches: list[Step] = [RuntimeError("bug")]
    reflector, lw, *_ = make(lists, watches)
    reflector.run()
    assert len(lw.list_calls) == 2
    assert reflector.relists == {"unexpected": 1}
    assert "unexpected error" in caplog.text


def test_stop_during_a_paginated_list_ends_it_between_pages() -> None:
    lists: list[Step] = [page([pod_json("a", "1")], "5", cont="t"), page([], "5")]
    reflector, lw, *_ = make(lists, [])
    original = lw.list

    def list_then_stop(query: Mapping[str, str], timeout: float) -> bytes:
        lw.stop.set()
        return original(query, timeout)

    lw.list = list_then_stop  # type: ignore[method-assign]
    reflector.run()
    assert len(lw.list_calls) == 1
    assert not reflector.has_synced()


# --- backoff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jitter", "gaps", "expected"),
    [
        (0.0, [0, 1, 1, 1, 1, 1, 1, 1], [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]),
        (1.0, [0, 1, 1], [1.6, 3.2, 6.4]),
        (0.0, [0, 1, 1, 121, 1], [0.8, 1.6, 3.2, 0.8, 1.6]),
        (1.0, [0, 1, 1, 1, 1, 1], [1.6, 3.2, 6.4, 12.8, 25.6, 30.0]),
    ],
    ids=["doubles-to-the-cap", "jitter-adds-up-to-100%", "resets-after-healthy", "jitter-capped"],
)
def test_backoff(jitter: float, gaps: list[float], expected: list[float]) -> None:
    fake = FakeTime()
    backoff = Backoff(ReflectorOptions(), fake.clock, FixedRandom(jitter))
    delays = []
    for gap in gaps:
        fake.now += gap
        delays.append(round(backoff.next(), 6))
    assert delays == expected


@pytest.mark.parametrize(
    ("status", "kind"), [(410, Expired), (429, ApiError), (500, ApiError), (403, ApiError)]
)
def test_api_error_maps_410_to_expired(status: int, kind: type[ApiError]) -> None:
    err = api_error(status, "m", retry_after=2.0)
    assert type(err) is kind
    assert (err.status, err.message, err.retry_after) == (status, "m", 2.0)


def test_records_decode_without_managed_fields() -> None:
    body = pod_json("a", "1")
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:x": {}}}]
    reflector, _, store, *_ = make([page([body], "1")], [])
    reflector.list_once()
    record = store.get("default/a")
    assert record == Pod(metadata=ObjectMeta(name="a", namespace="default", resource_version="1"))


def _stored_abc(**kwargs: Any) -> tuple[Pod, Pod, Pod]:
    """Pods a and b listed, c watched, all with the same labels, as the store holds them."""
    labels = {"app": "web", "pod-template-hash": "abc"}
    listed = [pod_json("a", "1", **labels), pod_json("b", "2", **labels)]
    watched = [event("ADDED", pod_json("c", "3", **labels))]
    reflector, _, store, *_ = make([page(listed, "2")], [watched], **kwargs)
    reflector.list_once()
    reflector.watch_once()
    a, b, c = (store.get(f"default/{name}") for name in "abc")
    assert a is not None and b is not None and c is not None
    assert a.metadata.labels == b.metadata.labels == c.metadata.labels == labels
    assert [p.metadata.resource_version for p in (a, b, c)] == ["1", "2", "3"]
    return a, b, c


def test_without_a_transform_records_are_stored_as_decoded() -> None:
    a, b, c = _stored_abc()
    assert a.metadata.labels is not b.metadata.labels  # each decoded map its own object
    assert b.metadata.labels is not c.metadata.labels


def test_an_interner_as_transform_shares_equal_parts_of_listed_and_watched_records() -> None:
    a, b, c = _stored_abc(transform=Interner())
    assert a.metadata.labels is b.metadata.labels is c.metadata.labels


def test_the_transform_sees_every_record_and_its_result_is_what_is_stored() -> None:
    seen: list[str] = []

    def transform(pod: Pod) -> Pod:
        seen.append(pod.metadata.name)
        return msgspec.structs.replace(pod, spec=PodSpec(node_name="transformed"))

    reflector, _, store, *_ = make(
        [page([pod_json("a", "1")], "1")],
        [[event("MODIFIED", pod_json("a", "2"))]],
        transform=transform,
    )
    reflector.list_once()
    listed = store.get("default/a")
    reflector.watch_once()
    watched = store.get("default/a")
    assert seen == ["a", "a"]
    assert listed is not None and listed.spec.node_name == "transformed"
    assert watched is not None and watched.spec.node_name == "transformed"
    assert watched.metadata.resource_version == "2"
