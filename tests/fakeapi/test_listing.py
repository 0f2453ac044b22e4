"""Lists: resourceVersion semantics, consistent pagination, selectors and validation, over HTTP."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import pytest

from tests.fakeapi import FakeAPI
from tests.fakeapi.client import Response, request
from tests.support.helpers import pod_manifest

PODS = "/api/v1/namespaces/demo/pods"


def get(api: FakeAPI, path: str) -> Response:
    return request(api.url, "GET", path)


def names(resp: Response) -> list[str]:
    assert resp.status == 200, resp.body
    return [i["metadata"]["name"] for i in resp.body["items"]]


def seed(api: FakeAPI, count: int, namespace: str = "demo") -> None:
    for i in range(count):
        api.create(
            pod_manifest(
                f"p{i:02d}", namespace, {"i": str(i), "parity": "odd" if i % 2 else "even"}
            )
        )


def test_a_list_is_a_typed_list_at_the_current_resource_version(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 3)
    body = get(fakeapi, PODS).body
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert body["metadata"] == {"resourceVersion": str(fakeapi.resource_version)}
    slices = get(fakeapi, "/apis/discovery.k8s.io/v1/endpointslices").body
    assert (slices["kind"], slices["apiVersion"], slices["items"]) == (
        "EndpointSliceList",
        "discovery.k8s.io/v1",
        [],
    )


def walk(api: FakeAPI, path: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a paginated list, following continue tokens."""
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        sep = "&" if "?" in path else "?"
        resp = get(api, f"{path}{sep}limit={limit}" + (f"&continue={token}" if token else ""))
        assert resp.status == 200, resp.body
        pages.append(resp.body)
        token = resp.body["metadata"].get("continue", "")
        if not token:
            return pages


def test_pagination_walks_everything_once_in_key_order(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 10)
    pages = walk(fakeapi, PODS, 4)
    assert [len(p["items"]) for p in pages] == [4, 4, 2]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [6, 2, None]
    every = [i["metadata"]["name"] for p in pages for i in p["items"]]
    assert every == [f"p{i:02d}" for i in range(10)]
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1


def test_pages_come_from_one_snapshot_while_others_write(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 40)
    before = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in fakeapi.list("pods")}
    items: list[dict[str, Any]] = []
    token, n = "", 0
    while True:  # between pages: one deletion, one creation, one change
        page = get(fakeapi, f"{PODS}?limit=7" + (f"&continue={token}" if token else "")).body
        items += page["items"]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        fakeapi.delete("pods", "demo", f"p{39 - n:02d}")
        fakeapi.create(pod_manifest(f"new{n}", "demo"))
        fakeapi.patch("pods", "demo", f"p{n:02d}", {"metadata": {"labels": {"changed": "yes"}}})
        n += 1
    assert n == 5
    assert {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items} == before
    assert all("changed" not in i["metadata"]["labels"] for i in items)


def test_a_continue_token_from_before_a_compaction_is_410(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 5)
    token = get(fakeapi, f"{PODS}?limit=2").body["metadata"]["continue"]
    fakeapi.create(pod_manifest("later", "demo"))
    fakeapi.compact()
    resp = get(fakeapi, f"{PODS}?limit=2&continue={token}")
    assert resp.status == 410
    assert resp.body["reason"] == "Expired"


@pytest.mark.parametrize("query", ["continue=bm9wZQ", "continue=!!", "limit=x", "watch=maybe"])
def test_malformed_list_parameters_are_400(fakeapi: FakeAPI, query: str) -> None:
    resp = get(fakeapi, f"{PODS}?{query}")
    assert resp.status == 400
    assert resp.body["reason"] == "BadRequest"


def test_resource_version_semantics(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 2)
    then = fakeapi.resource_version
    fakeapi.delete("pods", "demo", "p00")
    fakeapi.create(pod_manifest("p02", "demo"))
    assert names(get(fakeapi, PODS)) == ["p01", "p02"]
    assert names(get(fakeapi, f"{PODS}?resourceVersion=0")) == ["p01", "p02"]
    assert names(
        get(fakeapi, f"{PODS}?resourceVersion={then}&resourceVersionMatch=NotOlderThan")
    ) == ["p01", "p02"]
    assert names(get(fakeapi, f"{PODS}?resourceVersion={then}")) == [
        "p01",
        "p02",
    ]  # legacy: not older
    exact = get(fakeapi, f"{PODS}?resourceVersion={then}&resourceVersionMatch=Exact")
    assert names(exact) == ["p00", "p01"]
    assert exact.body["metadata"]["resourceVersion"] == str(then)
    assert names(get(fakeapi, f"{PODS}?resourceVersion={then}&limit=10")) == [
        "p00",
        "p01",
    ]  # legacy: exact


def test_an_exact_list_before_the_compaction_is_410(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 1)
    then = fakeapi.resource_version
    fakeapi.create(pod_manifest("p01", "demo"))
    fakeapi.compact()
    resp = get(fakeapi, f"{PODS}?resourceVersion={then}&resourceVersionMatch=Exact")
    assert (resp.status, resp.body["reason"]) == (410, "Expired")
    now = fakeapi.resource_version
    assert names(get(fakeapi, f"{PODS}?resourceVersion={now}&resourceVersionMatch=Exact")) == [
        "p00",
        "p01",
    ]


def test_a_future_resource_version_waits_for_the_store(fakeapi: FakeAPI) -> None:
    wanted = fakeapi.resource_version + 1
    result: list[Response] = []
    reader = threading.Thread(
        target=lambda: result.append(get(fakeapi, f"{PODS}?resourceVersion={wanted}"))
    )
    reader.start()
    fakeapi.create(pod_manifest("arrives", "demo"))
    reader.join(10)
    assert names(result[0]) == ["arrives"]


def test_a_future_resource_version_that_never_comes_is_504(fakeapi: FakeAPI) -> None:
    fakeapi.too_large_wait = 0.1
    resp = get(fakeapi, f"{PODS}?resourceVersion={fakeapi.resource_version + 5}")
    assert (resp.status, resp.body["reason"]) == (504, "Timeout")
    assert resp.body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        (
            "resourceVersionMatch=Exact",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            'resourceVersionMatch "exact" is forbidden',
        ),
        ("resourceVersion=1&resourceVersionMatch=Newest", "Unsupported value"),
        ("sendInitialEvents=true", "sendInitialEvents is forbidden for list"),
    ],
)
def test_invalid_list_options_are_422(fakeapi: FakeAPI, query: str, complaint: str) -> None:
    resp = get(fakeapi, f"{PODS}?{query}")
    assert (resp.status, resp.body["reason"]) == (422, "Invalid")
    assert complaint in resp.body["message"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("parity=odd", ["p01", "p03", "p05"]),
        ("parity!=odd,i notin (0,2)", ["p04"]),
        ("i in (1,2,9)", ["p01", "p02"]),
        ("i>3", ["p04", "p05"]),
        ("!parity", []),
        ("parity", ["p00", "p01", "p02", "p03", "p04", "p05"]),
    ],
)
def test_label_selectors(fakeapi: FakeAPI, selector: str, expected: list[str]) -> None:
    seed(fakeapi, 6)
    assert names(get(fakeapi, f"{PODS}?labelSelector={quote(selector)}")) == expected


def test_field_selectors_on_name_and_namespace(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 3)
    seed(fakeapi, 1, "other")
    assert names(get(fakeapi, f"{PODS}?fieldSelector=metadata.name%3Dp01")) == ["p01"]
    assert names(get(fakeapi, f"{PODS}?fieldSelector=metadata.name!%3Dp01")) == ["p00", "p02"]
    assert names(get(fakeapi, "/api/v1/pods?fieldSelector=metadata.namespace%3Dother")) == ["p00"]


@pytest.mark.parametrize(
    "query", ["labelSelector=app%20in%20()", "fieldSelector=spec.nodeName%3Dn1"]
)
def test_bad_selectors_are_400(fakeapi: FakeAPI, query: str) -> None:
    resp = get(fakeapi, f"{PODS}?{query}")
    assert (resp.status, resp.body["kind"], resp.body["reason"]) == (400, "Status", "BadRequest")


def test_pages_with_a_selector_stay_full_and_omit_the_remaining_count(fakeapi: FakeAPI) -> None:
    seed(fakeapi, 10)
    pages = walk(fakeapi, f"{PODS}?labelSelector=parity%3Dodd", 2)
    assert [names_of(p) for p in pages] == [["p01", "p03"], ["p05", "p07"], ["p09"]]
    assert all("remainingItemCount" not in p["metadata"] for p in pages)


def names_of(body: dict[str, Any]) -> list[str]:
    return [i["metadata"]["name"] for i in body["items"]]
