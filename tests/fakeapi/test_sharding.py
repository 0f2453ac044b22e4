"""Server-side sharded list and watch (KEP-5866): the hash, the ranges, the echo, the gate."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.client import WatchStream, request
from tests.fakeapi.sharding import fnv1a64
from tests.support.helpers import pod_manifest

PODS = "/api/v1/pods"
HALF = "0x8000000000000000"
END = "0x10000000000000000"
# Not ns0..ns11: names differing in the last byte alone share FNV-1a's top bits (one range).
NAMESPACES = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [  # the FNV test suite's vectors (Landon Curt Noll's fnv_test.c)
        (b"", 0xCBF29CE484222325),
        (b"a", 0xAF63DC4C8601EC8C),
        (b"b", 0xAF63DF4C8601F1A5),
        (b"foobar", 0x85944171F73967E8),
        (b"\x00", 0xAF63BD4C8601B7DF),
    ],
)
def test_fnv1a_64_known_vectors(value: bytes, expected: int) -> None:
    assert fnv1a64(value) == expected


def shard_range(field: str, start: str, end: str) -> str:
    return f"shardRange(object.metadata.{field}, '{start}', '{end}')"


@pytest.fixture
def gated() -> Iterator[FakeAPI]:
    api = FakeAPI(bookmark_period=0.2, sharded_list_watch=True)
    api.start()
    for ns in NAMESPACES:
        api.create(pod_manifest("p", ns))
    yield api
    api.stop()


def listed(api: FakeAPI, selector: str, path: str = PODS) -> tuple[set[str], dict[str, object]]:
    resp = request(api.url, "GET", f"{path}?shardSelector={quote(selector)}")
    assert resp.status == 200, resp.body
    return {i["metadata"]["namespace"] for i in resp.body["items"]}, resp.body["metadata"]


def in_range(value: str, start: int, end: int) -> bool:
    return start <= fnv1a64(value.encode()) < end


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0x0000000000000000", HALF),
        (HALF, END),
        ("0x0", "0x4000000000000000"),
        ("0xc000000000000000", END),
        ("0x0000000000000000", END),
    ],
)
def test_a_namespace_range_lists_the_namespaces_hashed_into_it(
    gated: FakeAPI, start: str, end: str
) -> None:
    selector = shard_range("namespace", start, end)
    got, meta = listed(gated, selector)
    assert got == {ns for ns in NAMESPACES if in_range(ns, int(start, 16), int(end, 16))}
    assert meta["shardInfo"] == {"selector": selector}
    assert "remainingItemCount" not in meta


def test_two_halves_are_disjoint_and_complete(gated: FakeAPI) -> None:
    low, _ = listed(gated, shard_range("namespace", "0x0000000000000000", HALF))
    high, _ = listed(gated, shard_range("namespace", HALF, END))
    assert low and high and not low & high
    assert low | high == set(NAMESPACES)


def test_ranges_joined_with_or(gated: FakeAPI) -> None:
    joined = (
        shard_range("namespace", "0x0", "0x4000000000000000")
        + " || "
        + shard_range("namespace", "0xc000000000000000", END)
    )
    got, _ = listed(gated, joined)
    outer = {ns for ns in NAMESPACES if not in_range(ns, 0x4000000000000000, 0xC000000000000000)}
    assert got == outer


def test_a_uid_range_hashes_each_object_uid(gated: FakeAPI) -> None:
    uids = {p["metadata"]["uid"]: p["metadata"]["namespace"] for p in gated.list("pods")}
    got, _ = listed(gated, shard_range("uid", "0x0", HALF))
    assert got == {ns for uid, ns in uids.items() if in_range(uid, 0, 1 << 63)}


@pytest.mark.parametrize(
    "selector",
    [
        "shardRange(object.metadata.name, '0x0', '0x10')",  # an unsupported field
        "shardRange(object.metadata.uid, '0x10', '0x0')",  # start after end
        "shardRange(object.metadata.uid, '0', '0x10')",  # no 0x
        "shardRange(object.metadata.uid, '0x0', '0x10000000000000001')",  # past 2^64
        "shardRange(object.metadata.uid, '0x0', '0x1') || "
        "shardRange(object.metadata.namespace, '0x1', '0x2')",  # two fields
        "range(object.metadata.uid, '0x0', '0x1')",
    ],
)
def test_a_malformed_selector_is_a_400(gated: FakeAPI, selector: str) -> None:
    resp = request(gated.url, "GET", f"{PODS}?shardSelector={quote(selector)}")
    assert (resp.status, resp.reason) == (400, "BadRequest")


def test_pages_of_a_sharded_list_keep_the_selector_and_the_echo(gated: FakeAPI) -> None:
    selector = shard_range("namespace", "0x0", END)
    token, seen = "", []
    while True:
        query = f"shardSelector={quote(selector)}&limit=5" + (f"&continue={token}" if token else "")
        body = request(gated.url, "GET", f"{PODS}?{query}").body
        assert body["metadata"]["shardInfo"] == {"selector": selector}
        seen += [i["metadata"]["namespace"] for i in body["items"]]
        token = body["metadata"].get("continue", "")
        if not token:
            break
    assert sorted(seen) == sorted(NAMESPACES)


def test_a_watch_sees_only_its_range_and_echoes_in_the_initial_sync(gated: FakeAPI) -> None:
    selector = shard_range("namespace", "0x0", HALF)
    mine = sorted(ns for ns in NAMESPACES if in_range(ns, 0, 1 << 63))
    query = (
        f"watch=true&shardSelector={quote(selector)}&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    with WatchStream(gated.url, f"{PODS}?{query}") as stream:
        events = stream.events(len(mine) + 1)
        assert sorted(e["object"]["metadata"]["namespace"] for e in events[:-1]) == mine
        assert events[-1]["type"] == "BOOKMARK"
        assert events[-1]["object"]["metadata"]["shardInfo"] == {"selector": selector}
        other = next(ns for ns in NAMESPACES if ns not in mine)
        gated.create(pod_manifest("later", other))
        gated.create(pod_manifest("later", mine[0]))
        added = [e for e in stream.events(3) if e["type"] == "ADDED"]
        assert [e["object"]["metadata"]["namespace"] for e in added] == [mine[0]]


def test_without_the_gate_the_selector_is_ignored_and_nothing_is_echoed(gated: FakeAPI) -> None:
    gated.sharded_list_watch = False
    got, meta = listed(gated, shard_range("namespace", "0x0", HALF))
    assert got == set(NAMESPACES)
    assert "shardInfo" not in meta
    # even a selector the gated server would refuse: the parameter is unknown
    resp = request(gated.url, "GET", f"{PODS}?shardSelector=nonsense")
    assert resp.status == 200
    query = "watch=true&shardSelector=x&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
    with WatchStream(gated.url, f"{PODS}?{query}&allowWatchBookmarks=true") as stream:
        events = stream.events(len(NAMESPACES) + 1)
        assert "shardInfo" not in events[-1]["object"]["metadata"]


@pytest.mark.parametrize("gate", [True, False], ids=["gate on", "gate off"])
def test_a_delete_collection_honours_the_selector_only_with_the_gate(
    gated: FakeAPI, gate: bool
) -> None:
    gated.sharded_list_watch = gate
    selector = quote(shard_range("namespace", "0x0", HALF))
    resp = request(gated.url, "DELETE", f"{PODS}?shardSelector={selector}")
    assert resp.status == 200, resp.body
    left = {p["metadata"]["namespace"] for p in gated.list("pods")}
    low = {ns for ns in NAMESPACES if in_range(ns, 0, 1 << 63)}
    assert left == (set(NAMESPACES) - low if gate else set())
