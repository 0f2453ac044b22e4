"""Informers: the thread, callbacks and stop against a scripted ListerWatcher; then the
behaviours of issue 3 against the Kubernetes API emulator over real HTTP through sdgen.kube."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sdgen.cache import apiclient
from sdgen.cache.informer import Informer, stop_all
from sdgen.cache.reflector import ListerWatcher, Reflector, ReflectorOptions, WatchStream
from sdgen.cache.store import Change, ChangeType, Store
from sdgen.k8s.records import Pod
from tests.fakeapi import FakeAPI
from tests.support.helpers import wait_for
from tests.support.scripted import ScriptedLW, Step, bookmark, event, page, pod_json

# --- with a scripted ListerWatcher --------------------------------------------------------


def scripted(watches: list[Step], **kwargs: Any) -> tuple[Informer[Pod], ScriptedLW]:
    """An informer whose last scripted watch blocks until closed, like an idle live watch."""
    lw = ScriptedLW([page([pod_json("a", "1")], "1")], watches, threading.Event(), True)
    informer: Informer[Pod] = Informer("pods", Pod, lw, **kwargs)
    lw.stop = informer._stop  # an exhausted script stops the informer
    return informer, lw


def test_a_failing_callback_is_logged_and_the_informer_goes_on() -> None:
    calls: list[Sequence[Change[Pod]]] = []
    second = threading.Event()

    def on_change(changes: Sequence[Change[Pod]]) -> None:
        calls.append(changes)
        if len(calls) == 2:
            second.set()
        raise RuntimeError("callback bug")

    informer, _ = scripted([[event("ADDED", pod_json("b", "2"))]], on_change=on_change)
    informer.start()
    try:
        assert second.wait(10)
        assert informer.store.get("default/b") is not None
        assert informer.reflector.failures == 0
    finally:
        assert informer.stop()


def test_the_first_sync_is_reported_even_when_the_list_is_empty() -> None:
    # A render waits for every cache to sync; an empty namespace must not make it wait for
    # the periodic timer.
    calls: list[Sequence[Change[Pod]]] = []
    synced = threading.Event()

    def on_change(changes: Sequence[Change[Pod]]) -> None:
        calls.append(changes)
        synced.set()

    lw = ScriptedLW([page([], "1")], [[]], threading.Event(), True)
    informer: Informer[Pod] = Informer("pods", Pod, lw, on_change=on_change)
    lw.stop = informer._stop
    informer.start()
    try:
        assert synced.wait(10)
        assert informer.has_synced()
        assert calls == [[]]
    finally:
        assert informer.stop()


def test_callbacks_run_outside_the_store_lock() -> None:
    read_ok = threading.Event()

    def on_change(changes: Sequence[Change[Pod]]) -> None:
        # Another thread must be able to read the store while the callback runs.
        reader = threading.Thread(target=informer.store.snapshot)
        reader.start()
        reader.join(5)
        if not reader.is_alive():
            read_ok.set()

    informer, _ = scripted([[bookmark("2")]], on_change=on_change)
    informer.start()
    try:
        assert read_ok.wait(10)
    finally:
        assert informer.stop()


def test_stop_interrupts_a_blocked_watch() -> None:
    informer, lw = scripted([[bookmark("2")]])
    informer.start()
    assert informer.wait_synced(10)
    assert informer.stop(timeout=2.0)
    assert len(lw.watch_calls) == 1


def test_stop_all_stops_a_group_within_one_deadline() -> None:
    group = [scripted([[bookmark("2")]])[0] for _ in range(5)]
    for informer in group:
        informer.start()
    for informer in group:
        assert informer.wait_synced(10)
    assert stop_all(group, timeout=2.0)


def test_stop_before_start_and_twice_is_harmless() -> None:
    informer, _ = scripted([])
    assert informer.stop()
    informer2, _ = scripted([[bookmark("2")]])
    informer2.start()
    assert informer2.stop()
    assert informer2.stop()


def test_metrics_view() -> None:
    informer, _ = scripted([[bookmark("2")]])
    assert (informer.object_count(), informer.last_event_time()) == (0, 0.0)
    informer.start()
    try:
        assert informer.wait_synced(10)
        assert informer.object_count() == 1
        assert informer.last_event_time() > 0
        assert informer.relists() == {}
    finally:
        informer.stop()


# --- against the emulator -----------------------------------------------------------------

FAST = ReflectorOptions(
    list_timeout=5.0, watch_read_timeout=3.0, backoff_initial=0.05, backoff_max=0.5
)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI(bookmark_period=0.2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(api: FakeAPI, tmp_path: Path) -> Any:
    path = tmp_path / "kubeconfig"
    api.write_kubeconfig(path)
    return apiclient.load_api_client(str(path))


def manifest(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


class Recorder:
    """The changes an informer reported, as (type, key) pairs."""

    def __init__(self) -> None:
        self.changes: list[tuple[ChangeType, str]] = []

    def __call__(self, changes: Sequence[Change[Pod]]) -> None:
        self.changes.extend((c.type, c.key) for c in changes)


class Tee:
    """A ListerWatcher passed through, keeping what it returned and whether the informer
    had synced at each list call."""

    def __init__(self, inner: ListerWatcher) -> None:
        self.inner = inner
        self.pages: list[bytes] = []
        self.lines: list[bytes] = []
        self.synced_at_list: list[bool] = []
        self.informer: Informer[Pod] | None = None

    def list(self, query: Mapping[str, str], timeout: float) -> bytes:
        if self.informer is not None:
            self.synced_at_list.append(self.informer.has_synced())
        body = self.inner.list(query, timeout)
        self.pages.append(body)
        return body

    def watch(self, query: Mapping[str, str], timeout: float) -> WatchStream:
        return _TeeStream(self.inner.watch(query, timeout), self.lines)


class _TeeStream:
    def __init__(self, stream: WatchStream, lines: list[bytes]) -> None:
        self.stream = stream
        self.lines = lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.lines.append(line)
            yield line

    def close(self) -> None:
        self.stream.close()


def pods_informer(
    client: Any,
    on_change: Recorder | None = None,
    label_selector: str = "",
    options: ReflectorOptions = FAST,
    lister_watcher: ListerWatcher | None = None,
) -> Informer[Pod]:
    lw = lister_watcher or apiclient.KubeListerWatcher(client, "pods", "default")
    return Informer(
        "pods", Pod, lw, label_selector=label_selector, on_change=on_change, options=options
    )


@contextmanager
def running(informer: Informer[Pod]) -> Iterator[Informer[Pod]]:
    informer.start()
    try:
        assert informer.wait_synced(20)
        yield informer
    finally:
        assert informer.stop(timeout=2.0)


def lists(api: FakeAPI) -> list[str]:
    return [p for m, p in api.requests if m == "GET" and "/pods" in p and "watch=" not in p]


def watches(api: FakeAPI) -> list[str]:
    return [p for m, p in api.requests if m == "GET" and "/pods" in p and "watch=true" in p]


def server_state(api: FakeAPI) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in api.list("pods")}


def cache_state(informer: Informer[Pod]) -> dict[str, str]:
    return {p.metadata.name: p.metadata.resource_version for p in informer.store.snapshot()}


def test_list_then_watch_misses_and_repeats_nothing_under_concurrent_writes(
    api: FakeAPI, client: Any
) -> None:
    for i in range(50):
        api.create(manifest(f"seed-{i}"))
    tee = Tee(apiclient.KubeListerWatcher(client, "pods", "default"))
    informer = pods_informer(client, lister_watcher=tee)
    written: list[tuple[str, int]] = []
    writer_done = threading.Event()

    def write() -> None:
        # About a thousand writes a second, before, during and after the list-to-watch switch.
        i, after_sync = 0, 0
        while after_sync < 150:
            i += 1
            if i % 5:
                patch = {"metadata": {"labels": {"i": str(i)}}}
                obj = api.patch("pods", "default", f"seed-{i % 50}", patch)
            else:
                obj = api.create(manifest(f"new-{i}"))
            written.append((obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))
            after_sync += informer.has_synced()
            writer_done.wait(0.001)
        writer_done.set()

    writer = threading.Thread(target=write)
    writer.start()
    with running(informer):
        assert writer_done.wait(20)
        assert wait_for(lambda: cache_state(informer) == server_state(api))
    writer.join()
    list_rv = int(msgspec.json.decode(tee.pages[-1])["metadata"]["resourceVersion"])
    watched = [msgspec.json.decode(line) for line in tee.lines if line.strip()]
    seen = [
        (e["object"]["metadata"]["name"], int(e["object"]["metadata"]["resourceVersion"]))
        for e in watched
        if e["type"] != "BOOKMARK"
    ]
    assert len(tee.pages) == 1
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert all(rv > list_rv for _, rv in seen), "the watch replayed what the list had"
    assert {w for w in written if w[1] > list_rv} <= set(seen), "an event was missed"
    assert any(rv <= list_rv for _, rv in written) and any(rv > list_rv for _, rv in written)


@pytest.mark.parametrize(
    "fault",
    ["drop_watches", "cut_watches_mid_event", "restart_listener"],
    ids=["dropped", "cut-mid-line", "listener-restarted"],
)
def test_a_broken_watch_resumes_from_its_version_without_a_relist(
    api: FakeAPI, client: Any, fault: str
) -> None:
    api.create(manifest("a"))
    with running(pods_informer(client)) as informer:
        assert wait_for(lambda: len(watches(api)) == 1)
        getattr(api, fault)()
        api.create(manifest("late"))
        api.create(manifest("later"))
        assert wait_for(lambda: cache_state(informer) == server_state(api))
        assert len(lists(api)) == 1
        assert len(watches(api)) >= 2
        assert informer.relists() == {}


def test_relist_after_compaction_drops_what_was_deleted_while_disconnected(
    api: FakeAPI, client: Any
) -> None:
    for name in ("a", "b", "c"):
        api.create(manifest(name))
    recorder = Recorder()
    with running(pods_informer(client, recorder)) as informer:
        api.stall_watches(True)
        api.delete("pods", "default", "b")
        api.create(manifest("d"))
        api.compact()
        api.drop_watches()
        api.stall_watches(False)
        assert wait_for(lambda: sorted(cache_state(informer)) == ["a", "c", "d"])
        assert (ChangeType.DELETED, "default/b") in recorder.changes
        assert informer.relists() == {"expired": 1}
        assert len(lists(api)) == 2


def test_a_stalled_watch_is_detected_by_the_read_timeout_and_resumed(
    api: FakeAPI, client: Any
) -> None:
    options = replace(FAST, watch_read_timeout=1.0)
    with running(pods_informer(client, options=options)) as informer:
        api.stall_watches(True)
        assert wait_for(lambda: informer.watch_restarts().get("stalled", 0) >= 1)
        api.stall_watches(False)
        api.create(manifest("after-stall"))
        assert wait_for(lambda: "after-stall" in cache_state(informer))
        assert len(lists(api)) == 1


def test_server_errors_are_retried_until_the_list_succeeds(api: FakeAPI, client: Any) -> None:
    api.create(manifest("a"))
    api.fail_next(2, status=500)
    with running(pods_informer(client)) as informer:
        assert cache_state(informer) == server_state(api)
        assert informer.reflector.failures == 2
        assert informer.last_error is None


def test_too_many_requests_waits_for_retry_after(api: FakeAPI, client: Any) -> None:
    stop = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        stop.wait(seconds)

    lw = apiclient.KubeListerWatcher(client, "pods", "default")
    reflector = Reflector("pods", Pod, lw, Store(), stop, options=FAST, sleep=sleep)
    api.fail_next(1, status=429, retry_after=1)
    thread = threading.Thread(target=reflector.run)
    thread.start()
    try:
        assert reflector.wait_synced(10)
    finally:
        stop.set()
        reflector.interrupt()
        thread.join(2)
    assert not thread.is_alive()
    assert sleeps[0] >= 1.0 > FAST.backoff_max  # the server's wait, not the backoff's


def test_label_changes_move_objects_in_and_out_of_the_selection(api: FakeAPI, client: Any) -> None:
    api.create(manifest("a", app="web"))
    api.create(manifest("b", app="db"))
    recorder = Recorder()
    with running(pods_informer(client, recorder, label_selector="app=web")) as informer:
        assert sorted(cache_state(informer)) == ["a"]
        api.patch("pods", "default", "b", {"metadata": {"labels": {"app": "web"}}})
        api.patch("pods", "default", "a", {"metadata": {"labels": {"app": "db"}}})
        assert wait_for(lambda: sorted(cache_state(informer)) == ["b"])
    assert recorder.changes[1:] == [
        (ChangeType.ADDED, "default/b"),
        (ChangeType.DELETED, "default/a"),
    ]


def test_bookmarks_advance_the_resource_version(api: FakeAPI, client: Any) -> None:
    api.create(manifest("a"))
    with running(pods_informer(client)) as informer:
        synced_at = int(informer.reflector.resource_version)
        for i in range(3):
            api.create(manifest(f"elsewhere-{i}", namespace="other"))
        target = api.resource_version
        assert target > synced_at
        assert wait_for(lambda: int(informer.reflector.resource_version) >= target)
        assert sorted(cache_state(informer)) == ["a"]


def test_stop_ends_a_blocked_watch_read_at_once(api: FakeAPI, client: Any) -> None:
    informer = pods_informer(client, options=ReflectorOptions())  # 5-10 min read timeout
    informer.start()
    assert informer.wait_synced(10)
    assert wait_for(lambda: len(watches(api)) == 1)
    api.stall_watches(True)
    assert informer.stop(timeout=2.0)


def test_has_synced_only_after_the_whole_paginated_list(api: FakeAPI, client: Any) -> None:
    for i in range(1203):
        api.create(manifest(f"p-{i:04}"))
    tee = Tee(apiclient.KubeListerWatcher(client, "pods", "default"))
    informer = pods_informer(client, lister_watcher=tee)
    tee.informer = informer
    with running(informer):
        assert len(informer.store) == 1203
    assert tee.synced_at_list == [False, False, False]
    assert all("limit=500" in path for path in lists(api))
    assert sum("continue=" in path for path in lists(api)) == 2
