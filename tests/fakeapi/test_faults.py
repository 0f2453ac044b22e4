"""Fault injection: each fault the emulator offers, observed by a client over HTTP."""

from __future__ import annotations

import socket
import time

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.client import StreamCut, WatchStream, request
from tests.support.helpers import pod_manifest, wait_for

PODS = "/api/v1/namespaces/demo/pods"


def open_watch(api: FakeAPI, query: str = "") -> WatchStream:
    stream = WatchStream(
        api.url, f"{PODS}?watch=true&resourceVersion={api.resource_version}{query}"
    )
    assert stream.status == 200
    return stream


def open_watch_count(api: FakeAPI) -> int:
    return sum(1 for method, path in api.requests if method == "GET" and "watch=true" in path)


def test_compaction_expires_old_versions_for_lists_and_watches(fakeapi: FakeAPI) -> None:
    fakeapi.create(pod_manifest("a", "demo"))
    old = fakeapi.resource_version
    fakeapi.create(pod_manifest("b", "demo"))
    fakeapi.compact()
    listed = request(fakeapi.url, "GET", f"{PODS}?resourceVersion={old}&resourceVersionMatch=Exact")
    assert listed.status == 410
    with WatchStream(fakeapi.url, f"{PODS}?watch=1&resourceVersion={old}") as stream:
        event = stream.next()
        assert event is not None
        assert (event["type"], event["object"]["code"]) == ("ERROR", 410)


def test_a_running_watch_outlives_a_compaction_but_new_ones_expire(fakeapi: FakeAPI) -> None:
    start = fakeapi.resource_version
    with open_watch(fakeapi) as stream:
        fakeapi.stall_watches(True)
        fakeapi.create(pod_manifest("during", "demo"))
        fakeapi.compact()
        fakeapi.stall_watches(False)
        assert stream.events(1)[0]["object"]["metadata"]["name"] == "during"
    with WatchStream(fakeapi.url, f"{PODS}?watch=1&resourceVersion={start}") as late:
        event = late.next()
        assert event is not None
        assert (event["type"], event["object"]["reason"]) == ("ERROR", "Expired")


def test_drop_watches_cuts_open_streams_only(fakeapi: FakeAPI) -> None:
    with open_watch(fakeapi) as stream:
        fakeapi.drop_watches()
        with pytest.raises(StreamCut):
            stream.next()
        assert request(fakeapi.url, "GET", PODS).status == 200
    with open_watch(fakeapi) as fresh:  # new watches work again
        fakeapi.create(pod_manifest("a", "demo"))
        assert fresh.events(1)[0]["type"] == "ADDED"


def test_stalled_watches_stay_open_and_silent_until_released(fakeapi: FakeAPI) -> None:
    with open_watch(fakeapi, "&allowWatchBookmarks=true") as before:
        fakeapi.stall_watches(True)
        with open_watch(fakeapi) as during:
            fakeapi.create(pod_manifest("a", "demo"))
            for stream in (before, during):
                with pytest.raises(TimeoutError):
                    stream.next(timeout=0.5)
            assert request(fakeapi.url, "GET", PODS).status == 200  # only watches stall
            fakeapi.stall_watches(False)
            assert during.events(1)[0]["object"]["metadata"]["name"] == "a"
            assert before.events(1)[0]["object"]["metadata"]["name"] == "a"


def test_a_watch_can_be_cut_in_the_middle_of_an_event(fakeapi: FakeAPI) -> None:
    with open_watch(fakeapi) as stream:
        fakeapi.cut_watches_mid_event()
        fakeapi.create(pod_manifest("a", "demo"))
        with pytest.raises(StreamCut):
            stream.next()
        assert stream.pending.startswith(b'{"type":"ADDED"')  # half a line, never finished


def test_fail_next_answers_with_the_status_then_recovers(fakeapi: FakeAPI) -> None:
    fakeapi.fail_next(2, 503)
    codes = [request(fakeapi.url, "GET", PODS) for _ in range(3)]
    assert [r.status for r in codes] == [503, 503, 200]
    assert (codes[0].body["kind"], codes[0].body["reason"]) == ("Status", "ServiceUnavailable")


def test_429_carries_retry_after(fakeapi: FakeAPI) -> None:
    fakeapi.fail_next(1, 429, retry_after=3)
    resp = request(fakeapi.url, "GET", PODS)
    assert (resp.status, resp.body["reason"]) == (429, "TooManyRequests")
    assert resp.headers["retry-after"] == "3"
    assert resp.body["details"]["retryAfterSeconds"] == 3


def test_fail_next_applies_to_watches_too(fakeapi: FakeAPI) -> None:
    fakeapi.fail_next(1, 500)
    assert request(fakeapi.url, "GET", f"{PODS}?watch=true").status == 500


def test_latency_delays_every_answer(fakeapi: FakeAPI) -> None:
    fakeapi.set_latency(0.3)
    started = time.monotonic()
    assert request(fakeapi.url, "GET", PODS).status == 200
    assert time.monotonic() - started >= 0.3
    fakeapi.set_latency(0)


def test_allow_only_forbids_other_reads(fakeapi: FakeAPI) -> None:
    fakeapi.allow_only([("pods", "demo"), ("configmaps", None)])
    assert request(fakeapi.url, "GET", PODS).status == 200
    assert request(fakeapi.url, "GET", "/api/v1/namespaces/demo/configmaps").status == 200
    assert request(fakeapi.url, "GET", "/api/v1/configmaps").status == 200
    refused = request(fakeapi.url, "GET", "/api/v1/namespaces/other/pods?watch=true")
    assert (refused.status, refused.body["reason"]) == (403, "Forbidden")
    assert refused.body["message"] == (
        'pods is forbidden: User "system:anonymous" cannot watch resource "pods" in API group "" '
        'in the namespace "other"'
    )
    assert request(fakeapi.url, "GET", "/api/v1/pods").status == 403  # cluster-wide
    assert request(fakeapi.url, "GET", "/apis/discovery.k8s.io/v1/endpointslices").status == 403
    fakeapi.allow_only(None)
    assert request(fakeapi.url, "GET", "/api/v1/pods").status == 200


def test_allow_only_with_verbs_and_groups_governs_writes(fakeapi: FakeAPI) -> None:
    """Events: core/v1 and events.k8s.io are one store but two resources for RBAC."""
    fakeapi.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    fakeapi.allow_only([("events", "demo", "events.k8s.io", ("create", "patch"))])
    event = {"metadata": {"name": "e"}, "eventTime": "2026-01-01T00:00:00.000000Z"}
    event |= {"reportingController": "x", "reportingInstance": "y", "action": "a"}
    event |= {"reason": "R", "type": "Normal", "regarding": {"kind": "ConfigMap", "name": "c"}}
    created = request(fakeapi.url, "POST", "/apis/events.k8s.io/v1/namespaces/demo/events", event)
    assert created.status == 201, created.body
    refused = request(fakeapi.url, "POST", "/api/v1/namespaces/demo/events", {"metadata": {}})
    assert refused.status == 403
    assert 'cannot create resource "events" in API group ""' in refused.body["message"]
    elsewhere = "/apis/events.k8s.io/v1/namespaces/other/events"
    assert request(fakeapi.url, "POST", elsewhere, event).status == 403
    assert (
        request(fakeapi.url, "GET", "/apis/events.k8s.io/v1/namespaces/demo/events").status == 403
    )
    deleted = request(fakeapi.url, "DELETE", "/apis/events.k8s.io/v1/namespaces/demo/events/e")
    assert deleted.status == 403
    fakeapi.allow_only(None)


def test_restart_listener_keeps_port_and_state_and_drops_connections(fakeapi: FakeAPI) -> None:
    fakeapi.create(pod_manifest("a", "demo"))
    url = fakeapi.url
    with open_watch(fakeapi) as stream:
        fakeapi.restart_listener()
        with pytest.raises(StreamCut):
            stream.next()
    assert fakeapi.url == url
    assert [i["metadata"]["name"] for i in request(url, "GET", PODS).body["items"]] == ["a"]


def test_requests_are_recorded_with_their_query(fakeapi: FakeAPI) -> None:
    request(fakeapi.url, "GET", f"{PODS}?limit=5&labelSelector=a%3Db")
    request(fakeapi.url, "DELETE", f"{PODS}/x")
    assert fakeapi.requests[-2:] == [
        ("GET", f"{PODS}?limit=5&labelSelector=a%3Db"),
        ("DELETE", f"{PODS}/x"),
    ]


def test_stop_closes_idle_connections_and_watches_promptly() -> None:
    api = FakeAPI()
    api.start()
    port = int(api.url.rsplit(":", 1)[1])
    idle = socket.create_connection(("127.0.0.1", port))
    stream = open_watch(api)
    wait_for(lambda: open_watch_count(api) == 1)
    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 5
    assert idle.recv(1) == b""
    with pytest.raises(StreamCut):
        stream.next()
    idle.close()
    stream.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
