"""Watches: initial state, replay, selector transitions, bookmarks, sendInitialEvents, 410."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.client import WatchStream, request
from tests.support.helpers import pod_manifest

PODS = "/api/v1/namespaces/demo/pods"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    fake = FakeAPI(bookmark_period=0.2)
    fake.start()
    yield fake
    fake.stop()


def watch(api: FakeAPI, query: str, path: str = PODS) -> WatchStream:
    stream = WatchStream(api.url, f"{path}?watch=true&{query}")
    assert stream.status == 200
    assert stream.headers["transfer-encoding"] == "chunked"
    return stream


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def relabel(api: FakeAPI, name: str, **labels: str) -> None:
    api.patch("pods", "demo", name, {"metadata": {"labels": labels}})


def test_without_a_resource_version_the_current_state_comes_first(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    api.create(pod_manifest("b", "demo"))
    api.create(pod_manifest("elsewhere", "other"))
    for query in ("", "resourceVersion=0"):
        with watch(api, query) as stream:
            assert summary(stream.events(2)) == [("ADDED", "a"), ("ADDED", "b")]
    with watch(api, "") as stream:
        stream.events(2)
        relabel(api, "a", x="1")
        api.delete("pods", "demo", "b")
        assert summary(stream.events(2)) == [("MODIFIED", "a"), ("DELETED", "b")]


def test_a_resource_version_replays_what_happened_after_it(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    start = api.resource_version
    api.create(pod_manifest("b", "demo"))
    relabel(api, "a", x="1")
    api.delete("pods", "demo", "b")
    with watch(api, f"resourceVersion={start}") as stream:
        events = stream.events(3)
        assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
        versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert versions == [start + 1, start + 2, start + 3]  # DELETED carries the deletion's rv
        api.create(pod_manifest("c", "demo"))
        assert summary(stream.events(1)) == [("ADDED", "c")]


def test_watch_1_and_watch_True_are_watches(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    for value in ("1", "True"):
        with WatchStream(api.url, f"{PODS}?watch={value}") as stream:
            assert summary(stream.events(1)) == [("ADDED", "a")]


def test_a_compacted_resource_version_is_one_410_error_event_then_the_end(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    old = api.resource_version
    api.create(pod_manifest("b", "demo"))
    api.compact()
    with watch(api, f"resourceVersion={old}") as stream:
        error = stream.next()
        assert error is not None
        assert error["type"] == "ERROR"
        status = error["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        assert status["message"].startswith(f"too old resource version: {old}")
        assert stream.next() is None
    with watch(api, f"resourceVersion={api.resource_version}") as stream:  # the mark itself is fine
        api.create(pod_manifest("c", "demo"))
        assert summary(stream.events(1)) == [("ADDED", "c")]


def test_objects_entering_and_leaving_a_label_selector(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo", {"app": "web"}))
    api.create(pod_manifest("b", "demo", {"app": "db"}))
    with watch(api, "labelSelector=app%3Dweb") as stream:
        assert summary(stream.events(1)) == [("ADDED", "a")]
        relabel(api, "b", app="web")  # enters
        relabel(api, "b", app="db")  # leaves
        relabel(api, "b", tier="x")  # invisible
        relabel(api, "a", tier="y")  # stays in
        events = stream.events(3)
        assert summary(events) == [("ADDED", "b"), ("DELETED", "b"), ("MODIFIED", "a")]
        left = events[1]["object"]
        assert left["metadata"]["labels"] == {"app": "web"}  # its last state inside the selection
        assert int(left["metadata"]["resourceVersion"]) == api.resource_version - 2


def test_a_field_selector_watch_sees_one_object(api: FakeAPI) -> None:
    with watch(api, "fieldSelector=metadata.name%3Db") as stream:
        api.create(pod_manifest("a", "demo"))
        api.create(pod_manifest("b", "demo"))
        api.delete("pods", "demo", "a")
        api.delete("pods", "demo", "b")
        assert summary(stream.events(2)) == [("ADDED", "b"), ("DELETED", "b")]


def test_all_namespaces_watch_and_other_resources_stay_out(api: FakeAPI) -> None:
    with watch(api, "", "/api/v1/pods") as stream:
        api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": "demo"},
            }
        )
        api.create(pod_manifest("a", "one"))
        api.create(pod_manifest("b", "two"))
        assert summary(stream.events(2)) == [("ADDED", "a"), ("ADDED", "b")]


def test_timeout_seconds_ends_the_stream_cleanly(api: FakeAPI) -> None:
    with watch(api, "timeoutSeconds=1") as stream:
        assert stream.next(timeout=10) is None


def test_bookmarks_carry_the_current_resource_version(api: FakeAPI) -> None:
    with watch(api, "allowWatchBookmarks=true") as stream:
        api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": "demo"},
            }
        )
        event = stream.next()
        assert event is not None
        assert event == {
            "type": "BOOKMARK",
            "object": {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(api.resource_version)},
            },
        }


def test_no_bookmarks_unless_asked(api: FakeAPI) -> None:
    with watch(api, "timeoutSeconds=1") as stream:
        assert stream.next() is None  # ended by the timeout, with no bookmark in between


def test_send_initial_events_ends_the_burst_with_an_annotated_bookmark(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    api.create(pod_manifest("b", "demo"))
    query = "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    with watch(api, query + "&resourceVersion=") as stream:
        events = stream.events(3)
        assert summary(events) == [("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", "")]
        assert events[2]["object"]["metadata"] == {
            "resourceVersion": str(api.resource_version),
            "annotations": {"k8s.io/initial-events-end": "true"},
        }
        api.create(pod_manifest("c", "demo"))
        assert ("ADDED", "c") in summary(stream.events(2))


def test_send_initial_events_requires_not_older_than(api: FakeAPI) -> None:
    resp = request(
        api.url, "GET", f"{PODS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
    )
    assert (resp.status, resp.body["reason"]) == (422, "Invalid")
    assert (
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        in resp.body["message"]
    )
    resp = request(api.url, "GET", f"{PODS}?watch=true&resourceVersionMatch=NotOlderThan")
    assert resp.status == 422


def test_open_watches_do_not_block_other_requests(api: FakeAPI) -> None:
    streams = [watch(api, "") for _ in range(8)]
    try:
        api.create(pod_manifest("a", "demo"))
        assert request(api.url, "GET", PODS).status == 200
        assert all(summary(s.events(1)) == [("ADDED", "a")] for s in streams)
    finally:
        for s in streams:
            s.close()


def test_kubectl_style_table_watch(api: FakeAPI) -> None:
    api.create(pod_manifest("a", "demo"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    stream = WatchStream(api.url, f"{PODS}?watch=true", headers={"Accept": accept})
    with stream:
        event = stream.next()
        assert event is not None
        table = event["object"]
        assert (event["type"], table["kind"]) == ("ADDED", "Table")
        assert table["rows"][0]["cells"][0] == "a"
