"""Selections patched from identity diffs always equal a fresh selection of the same cluster."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdgen.k8s.labelselector import LabelSelector
from sdgen.k8s.records import EndpointSlice, Pod, Service
from sdgen.k8s.view import StaticCluster
from sdgen.resolve.selection import Delta, Diffs, PodSelection, SliceSelection, changed_keys

APP_A = LabelSelector(match_labels=(("app", "a"),))
NAMESPACES = ("n1", "n2")


def _pod(ns: str, name: str, app: str, ip: str, phase: str) -> Pod:
    body = {
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "status": {"podIP": ip, "phase": phase},
    }
    return msgspec.convert(body, Pod)


def _service(ns: str, name: str, app: str) -> Service:
    return msgspec.convert(
        {"metadata": {"name": name, "namespace": ns, "labels": {"app": app}}}, Service
    )


def _slice(ns: str, name: str, service: str, pods: list[str]) -> EndpointSlice:
    endpoints = [
        {"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": p, "namespace": ns}}
        for p in pods
    ]
    labels = {"kubernetes.io/service-name": service}
    body = {"metadata": {"name": name, "namespace": ns, "labels": labels}, "endpoints": endpoints}
    return msgspec.convert(body, EndpointSlice)


class World:
    """A small cluster changed at random, each change a new record (as informers do)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pods: dict[str, Pod] = {}
        self.services: dict[str, Service] = {}
        self.slices: dict[str, EndpointSlice] = {}

    def cluster(self) -> StaticCluster:
        return StaticCluster.from_objects(
            self.pods.values(), self.services.values(), self.slices.values()
        )

    def change(self) -> None:
        rng = self.rng
        ns = rng.choice(NAMESPACES)
        what = rng.randrange(3)
        if what == 0:
            name = f"p{rng.randrange(6)}"
            if rng.random() < 0.2:
                self.pods.pop(f"{ns}/{name}", None)
            else:
                ip = rng.choice(["", "10.0.0.1", "10.0.0.2"])
                phase = rng.choice(["Running", "Running", "Failed", "Pending"])
                self.pods[f"{ns}/{name}"] = _pod(ns, name, rng.choice("ab"), ip, phase)
        elif what == 1:
            name = f"s{rng.randrange(3)}"
            if rng.random() < 0.2:
                self.services.pop(f"{ns}/{name}", None)
            else:
                self.services[f"{ns}/{name}"] = _service(ns, name, rng.choice("ab"))
        else:
            name = f"e{rng.randrange(4)}"
            if rng.random() < 0.2:
                self.slices.pop(f"{ns}/{name}", None)
            else:
                pods = rng.sample([f"p{i}" for i in range(6)], rng.randrange(3))
                self.slices[f"{ns}/{name}"] = _slice(ns, name, f"s{rng.randrange(3)}", pods)


def _apply(model: dict[str, tuple[Any, ...]], delta: Delta) -> None:
    for key, objects in delta.items():
        if objects is None:
            model.pop(key, None)
        else:
            model[key] = objects


def _by_identity(model: dict[str, tuple[Any, ...]]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(map(id, objects)) for key, objects in model.items()}


@pytest.mark.parametrize("namespaces", [(None,), ("n1",), ("n1", "n2")])
@pytest.mark.parametrize("kind", [PodSelection, SliceSelection])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 30))
def test_patched_selection_equals_a_fresh_one(
    kind: type[PodSelection | SliceSelection],
    namespaces: tuple[str | None, ...],
    seed: int,
    steps: int,
) -> None:
    world = World(random.Random(seed))
    kept = kind(namespaces, APP_A)
    model: dict[str, tuple[Any, ...]] = {}
    for _ in range(steps):
        for _ in range(world.rng.randrange(1, 4)):
            world.change()
        cluster = world.cluster()
        _apply(model, kept.update(cluster))
        fresh: dict[str, tuple[Any, ...]] = {}
        _apply(fresh, kind(namespaces, APP_A).update(cluster))
        assert _by_identity(model) == _by_identity(fresh)
        assert kept.update(cluster) == {}  # the same cluster again: nothing changed


def test_a_pod_selection_reports_only_what_changed() -> None:
    world = World(random.Random(0))
    world.pods = {f"n1/p{i}": _pod("n1", f"p{i}", "a", "10.0.0.1", "Running") for i in range(3)}
    selection = PodSelection((None,), APP_A)
    assert sorted(selection.update(world.cluster())) == ["n1/p0", "n1/p1", "n1/p2"]
    world.pods["n1/p1"] = _pod("n1", "p1", "b", "10.0.0.1", "Running")  # no longer selected
    del world.pods["n1/p2"]
    assert selection.update(world.cluster()) == {"n1/p1": None, "n1/p2": None}


def test_a_changed_pod_reaches_the_slices_that_name_it() -> None:
    world = World(random.Random(0))
    world.pods = {"n1/p0": _pod("n1", "p0", "x", "10.0.0.1", "Running")}
    world.services = {"n1/s0": _service("n1", "s0", "a")}
    world.slices = {
        "n1/e0": _slice("n1", "e0", "s0", ["p0"]),
        "n1/e1": _slice("n1", "e1", "s0", []),
    }
    selection = SliceSelection((None,), APP_A)
    assert sorted(selection.update(world.cluster())) == ["n1/e0", "n1/e1"]
    world.pods["n1/p0"] = _pod("n1", "p0", "y", "10.0.0.1", "Running")
    delta = selection.update(world.cluster())
    assert list(delta) == ["n1/e0"]
    assert delta["n1/e0"] is not None and delta["n1/e0"][2] is world.pods["n1/p0"]


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, {"a": 1}, ["a"]),
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1, "b": 2}, {"a": 1}, ["b"]),
        ({"a": 1}, {"a": 1, "c": 3}, ["c"]),
    ],
)
def test_changed_keys(
    previous: dict[str, int] | None, current: dict[str, int], expected: list[str]
) -> None:
    assert sorted(changed_keys(previous, current)) == expected


def test_changed_keys_compares_by_identity() -> None:
    one, other = ["same"], ["same"]
    assert list(changed_keys({"a": one}, {"a": one})) == []
    assert list(changed_keys({"a": one}, {"a": other})) == ["a"]


class _Logged(dict[str, object]):
    """A mapping that knows what changed since another (as the cache's snapshots do)."""

    def __init__(self, items: dict[str, object], logged: frozenset[str] | None) -> None:
        super().__init__(items)
        self.logged = logged

    def changed_since(self, earlier: object) -> frozenset[str] | None:
        return self.logged


def test_changed_keys_takes_a_mappings_log_when_it_has_one() -> None:
    """No walk over every key: the log's keys, less those in neither mapping; unknown (None)
    falls back to comparing every key."""
    one, two, three = object(), object(), object()
    previous = {"a": one, "b": two}
    logged = _Logged({"a": one, "b": three, "c": one}, frozenset({"b", "gone"}))
    assert sorted(changed_keys(previous, logged)) == ["b"]  # trusted, even without "c"
    unknown = _Logged({"a": one, "b": three, "c": one}, None)
    assert sorted(changed_keys(previous, unknown)) == ["b", "c"]


def test_diffs_compare_each_pair_of_mappings_once_per_resolve() -> None:
    one, two = {"a": object(), "b": object()}, {"a": object()}
    two["b"] = one["b"]
    diffs = Diffs()
    first = diffs(one, two)
    assert first == ("a",)
    assert diffs(one, two) is first  # remembered: not compared again
    assert diffs(None, two) == ("a", "b")
    assert Diffs()(one, two) is not first
