"""The emulator's patch flavours as pure functions: merge, strategic merge, JSON patch, apply."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakeapi import ApiError
from tests.fakeapi.patch import apply_prune, json_patch, merge_patch, strategic_merge

POD = {
    "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "side", "image": "side:1"},
        ],
        "tolerations": [{"key": "k"}],
    },
}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A, abridged
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def _containers(doc: dict[str, Any]) -> list[Any]:
    result: list[Any] = doc["spec"]["containers"]
    return result


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (  # containers merge by name: one field changes, the other container stays
            {"spec": {"containers": [{"name": "app", "image": "app:2"}]}},
            lambda d: (
                [c["image"] for c in _containers(d)] == ["app:2", "side:1"]
                and _containers(d)[0]["ports"] == [{"containerPort": 80, "name": "http"}]
            ),
        ),
        (  # a new container is appended
            {"spec": {"containers": [{"name": "new", "image": "n:1"}]}},
            lambda d: [c["name"] for c in _containers(d)] == ["app", "side", "new"],
        ),
        (  # $patch: delete removes one keyed item
            {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
            lambda d: [c["name"] for c in _containers(d)] == ["app"],
        ),
        (  # container ports merge by containerPort
            {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 81}]}]}},
            lambda d: [p["containerPort"] for p in _containers(d)[0]["ports"]] == [80, 81],
        ),
        (  # a list without a merge key is replaced
            {"spec": {"tolerations": [{"key": "other"}]}},
            lambda d: d["spec"]["tolerations"] == [{"key": "other"}],
        ),
        (  # $patch: replace on a map replaces it whole
            {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
            lambda d: d["metadata"]["labels"] == {"c": "3"},
        ),
        (  # null deletes a key; maps merge
            {"metadata": {"labels": {"a": None, "c": "3"}}},
            lambda d: d["metadata"]["labels"] == {"b": "2", "c": "3"},
        ),
        (  # finalizers merge as a set
            {"metadata": {"finalizers": ["y", "x"]}},
            lambda d: d["metadata"]["finalizers"] == ["x", "y"],
        ),
        (  # $deleteFromPrimitiveList
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}},
            lambda d: d["metadata"]["finalizers"] == [],
        ),
        (  # $setElementOrder reorders the merged list (what kubectl apply sends)
            {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                    "containers": [{"name": "app", "image": "app:3"}],
                }
            },
            lambda d: (
                [(c["name"], c["image"]) for c in _containers(d)]
                == [("side", "side:1"), ("app", "app:3")]
            ),
        ),
        (  # $retainKeys keeps only the listed keys
            {"spec": {"$retainKeys": ["containers"], "containers": []}},
            lambda d: set(d["spec"]) == {"containers"},
        ),
    ],
)
def test_strategic_merge(patch: dict[str, Any], check: Any) -> None:
    assert check(strategic_merge(POD, patch))


def test_strategic_merge_leaves_its_input_alone() -> None:
    before = repr(POD)
    strategic_merge(POD, {"spec": {"containers": [{"name": "app", "$patch": "delete"}]}})
    assert repr(POD) == before


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/b", "value": 2}], {"a": [1, 2], "b": 2, "c": {"d": 1}}),
        ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "c": {"d": 1}}),
        ([{"op": "add", "path": "/a/0", "value": 0}], {"a": [0, 1, 2], "c": {"d": 1}}),
        ([{"op": "remove", "path": "/a/1"}], {"a": [1], "c": {"d": 1}}),
        ([{"op": "replace", "path": "/c/d", "value": 9}], {"a": [1, 2], "c": {"d": 9}}),
        ([{"op": "move", "from": "/c/d", "path": "/e"}], {"a": [1, 2], "c": {}, "e": 1}),
        ([{"op": "copy", "from": "/a", "path": "/e"}], {"a": [1, 2], "c": {"d": 1}, "e": [1, 2]}),
        ([{"op": "test", "path": "/c/d", "value": 1}], {"a": [1, 2], "c": {"d": 1}}),
        ([{"op": "add", "path": "/x~1y~0z", "value": 1}], {"a": [1, 2], "c": {"d": 1}, "x/y~z": 1}),
    ],
)
def test_json_patch(ops: list[dict[str, Any]], expected: Any) -> None:
    assert json_patch({"a": [1, 2], "c": {"d": 1}}, ops) == expected


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([{"op": "test", "path": "/c/d", "value": 2}], 422),
        ([{"op": "remove", "path": "/nope"}], 422),
        ([{"op": "replace", "path": "/a/5", "value": 1}], 422),
        ([{"op": "frobnicate", "path": "/a"}], 400),
        ({"op": "add"}, 400),
    ],
)
def test_json_patch_failures(ops: Any, code: int) -> None:
    with pytest.raises(ApiError) as raised:
        json_patch({"a": [1, 2], "c": {"d": 1}}, ops)
    assert raised.value.code == code


def test_a_failed_json_patch_changes_nothing() -> None:
    doc = {"a": 1}
    with pytest.raises(ApiError):
        json_patch(
            doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 0}]
        )
    assert doc == {"a": 1}


@pytest.mark.parametrize(
    ("live", "previous", "applied", "expected"),
    [
        (  # a label this manager applied before and dropped now is removed; others stay
            {"labels": {"a": "1", "b": "2", "mine": "x"}},
            {"labels": {"a": "1", "mine": "x"}},
            {"labels": {"a": "1"}},
            {"labels": {"a": "1", "b": "2"}},
        ),
        (  # a whole map the manager stopped applying goes
            {"data": {"k": "v"}, "other": 1},
            {"data": {"k": "v"}},
            {},
            {"other": 1},
        ),
        (  # keyed list items the manager stopped applying go
            {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
            {"containers": [{"name": "a"}, {"name": "b"}]},
            {"containers": [{"name": "a"}]},
            {"containers": [{"name": "a"}, {"name": "c"}]},
        ),
    ],
)
def test_apply_prune(live: Any, previous: Any, applied: Any, expected: Any) -> None:
    assert apply_prune(live, previous, applied) == expected
