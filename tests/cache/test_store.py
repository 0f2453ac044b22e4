"""The informer cache: writes report their changes, snapshots are immutable, indexes agree."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdgen.cache.store import (
    _LOG_KEYS,
    _LOG_VERSIONS,
    NAMESPACE_INDEX,
    SERVICE_INDEX,
    ChangeType,
    Store,
    by_namespace,
    by_service,
)
from sdgen.k8s.records import SERVICE_NAME_LABEL, EndpointSlice, ObjectMeta, Pod
from sdgen.resolve.selection import changed_keys


def pod(name: str, namespace: str = "default", **labels: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels))


def slice_of(service: str | None, name: str = "s", namespace: str = "default") -> EndpointSlice:
    labels = {SERVICE_NAME_LABEL: service} if service else {}
    return EndpointSlice(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels))


def pod_store() -> Store[Pod]:
    return Store({NAMESPACE_INDEX: by_namespace})


@pytest.mark.parametrize(
    ("before", "write", "change_type", "version_bumped"),
    [
        ([], pod("a"), ChangeType.ADDED, True),
        ([pod("a")], pod("a"), None, False),
        ([pod("a")], pod("a", app="x"), ChangeType.UPDATED, True),
        ([pod("a")], pod("a", namespace="other"), ChangeType.ADDED, True),
    ],
    ids=["new", "identical", "changed", "same-name-other-namespace"],
)
def test_upsert_reports_the_change_it_made(
    before: list[Pod], write: Pod, change_type: ChangeType | None, version_bumped: bool
) -> None:
    store = pod_store()
    for record in before:
        store.upsert(record)
    version = store.version
    change = store.upsert(write)
    assert (change.type if change else None) == change_type
    assert (store.version != version) == version_bumped
    assert store.get(f"{write.metadata.namespace}/{write.metadata.name}") == write
    if change is not None:
        assert change.new == write
        assert change.old == (before[0] if change_type is ChangeType.UPDATED else None)


def test_delete_removes_and_reports_the_last_state() -> None:
    store = pod_store()
    store.upsert(pod("a", app="x"))
    version = store.version
    change = store.delete("default/a")
    assert change is not None
    assert (change.type, change.old, change.new) == (ChangeType.DELETED, pod("a", app="x"), None)
    assert store.get("default/a") is None
    assert store.version != version
    assert store.delete("default/a") is None
    assert store.delete("default/never") is None


def test_cluster_scoped_records_are_keyed_by_name() -> None:
    store = pod_store()
    store.upsert(pod("kube-system", namespace=""))
    assert store.get("kube-system") is not None


def test_replace_deletes_vanished_keys_and_reports_the_diff() -> None:
    store = pod_store()
    for record in (pod("kept"), pod("changed"), pod("vanished")):
        store.upsert(record)
    version = store.version
    changes = store.replace([pod("kept"), pod("changed", v="2"), pod("new")])
    assert {(c.type, c.key) for c in changes} == {
        (ChangeType.UPDATED, "default/changed"),
        (ChangeType.ADDED, "default/new"),
        (ChangeType.DELETED, "default/vanished"),
    }
    assert sorted(store.snapshot().items) == ["default/changed", "default/kept", "default/new"]
    assert store.version == version + 1
    assert store.replace([pod("kept"), pod("changed", v="2"), pod("new")]) == []
    assert store.version == version + 1


def test_snapshot_is_immutable_and_isolated_from_later_writes() -> None:
    store = pod_store()
    store.upsert(pod("a"))
    snap = store.snapshot()
    store.upsert(pod("b"))
    store.delete("default/a")
    assert list(snap.items) == ["default/a"]
    assert [p.metadata.name for p in snap.by_index(NAMESPACE_INDEX, "default")] == ["a"]
    with pytest.raises(TypeError):
        snap.items["default/x"] = pod("x")  # type: ignore[index]


def test_snapshot_is_cached_until_the_next_write() -> None:
    store = pod_store()
    store.upsert(pod("a"))
    first = store.snapshot()
    assert store.snapshot() is first
    store.upsert(pod("a"))  # identical: no new version
    assert store.snapshot() is first
    store.upsert(pod("b"))
    second = store.snapshot()
    assert second is not first
    assert second.version == store.version
    assert len(second) == 2


def test_snapshot_mappings_are_the_same_objects_for_its_life() -> None:
    store = pod_store()
    for name, ns in (("a", "x"), ("b", "y"), ("c", "x")):
        store.upsert(pod(name, ns))
    snap = store.snapshot()
    assert snap.items is snap.items
    in_x = snap.index_items(NAMESPACE_INDEX, "x")
    assert dict(in_x) == {"x/a": snap.get("x/a"), "x/c": snap.get("x/c")}
    assert snap.index_items(NAMESPACE_INDEX, "x") is in_x
    assert dict(snap.index_items(NAMESPACE_INDEX, "missing")) == {}
    store.upsert(pod("d", "x"))
    later = store.snapshot()
    assert later.items is not snap.items
    assert list(later.index_items(NAMESPACE_INDEX, "x")) == ["x/a", "x/c", "x/d"]
    assert list(in_x) == ["x/a", "x/c"]  # the old view is unchanged
    with pytest.raises(TypeError):
        in_x["x/z"] = pod("z")  # type: ignore[index]


def test_namespace_index_follows_moves_and_drops_empty_buckets() -> None:
    store = pod_store()
    store.upsert(pod("a", namespace="one"))
    store.upsert(pod("b", namespace="one"))
    store.upsert(pod("c", namespace="two"))
    snap = store.snapshot()
    assert snap.index_keys(NAMESPACE_INDEX, "one") == {"one/a", "one/b"}
    assert snap.index_values(NAMESPACE_INDEX) == {"one", "two"}
    store.delete("two/c")
    snap = store.snapshot()
    assert snap.index_values(NAMESPACE_INDEX) == {"one"}
    assert snap.by_index(NAMESPACE_INDEX, "two") == []


def test_service_index_follows_the_service_name_label() -> None:
    store: Store[EndpointSlice] = Store({SERVICE_INDEX: by_service})
    store.upsert(slice_of("web", name="s1"))
    store.upsert(slice_of(None, name="orphan"))
    assert store.snapshot().index_keys(SERVICE_INDEX, "default/web") == {"default/s1"}
    store.upsert(slice_of("api", name="s1"))
    snap = store.snapshot()
    assert snap.index_keys(SERVICE_INDEX, "default/web") == frozenset()
    assert snap.index_keys(SERVICE_INDEX, "default/api") == {"default/s1"}
    assert snap.index_values(SERVICE_INDEX) == {"default/api"}


def test_unknown_index_is_an_error() -> None:
    with pytest.raises(KeyError):
        pod_store().snapshot().by_index("nope", "x")


_ops = st.lists(
    st.tuples(
        st.sampled_from(["upsert", "delete", "replace"]),
        st.lists(
            st.tuples(st.sampled_from("abcd"), st.sampled_from(["n1", "n2"]), st.integers(0, 2)),
            max_size=4,
        ),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_store_matches_a_plain_dict_model(
    ops: list[tuple[str, list[tuple[str, str, int]]]],
) -> None:
    store = pod_store()
    model: dict[str, Pod] = {}
    for op, args in ops:
        records = [pod(name, namespace, gen=str(gen)) for name, namespace, gen in args]
        if op == "upsert":
            for record in records:
                store.upsert(record)
                model[f"{record.metadata.namespace}/{record.metadata.name}"] = record
        elif op == "delete":
            for record in records:
                store.delete(f"{record.metadata.namespace}/{record.metadata.name}")
                model.pop(f"{record.metadata.namespace}/{record.metadata.name}", None)
        else:
            store.replace(records)
            model = {f"{r.metadata.namespace}/{r.metadata.name}": r for r in records}
        snap = store.snapshot()
        assert dict(snap.items) == model
        for namespace in ("n1", "n2"):
            expected = {k for k, v in model.items() if v.metadata.namespace == namespace}
            assert snap.index_keys(NAMESPACE_INDEX, namespace) == expected


def _identity_diff(earlier: Mapping[str, Pod], later: Mapping[str, Pod]) -> set[str]:
    keys = {k for k, v in later.items() if earlier.get(k) is not v}
    return keys | (earlier.keys() - later.keys())


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_changed_since_covers_every_changed_key(
    ops: list[tuple[str, list[tuple[str, str, int]]]],
) -> None:
    """Between any two snapshots the log reaches, `changed_since` names every key whose record
    is another object (more is allowed: it only costs a look)."""
    store = pod_store()
    snaps = [store.snapshot()]
    for op, args in ops:
        records = [pod(name, namespace, gen=str(gen)) for name, namespace, gen in args]
        if op == "upsert":
            for record in records:
                store.upsert(record)
        elif op == "delete":
            for record in records:
                store.delete(f"{record.metadata.namespace}/{record.metadata.name}")
        else:
            store.replace(records)
        snaps.append(store.snapshot())
    for i, earlier in enumerate(snaps):
        for later in snaps[i:]:
            logged = later.items.changed_since(earlier.items)  # type: ignore[attr-defined]
            assert logged is not None  # 25 ops of at most 4 writes: within the log
            assert logged >= _identity_diff(earlier.items, later.items)


def test_changed_since_names_the_one_key_written() -> None:
    store = pod_store()
    store.replace([pod(f"p{i}") for i in range(50)])
    before = store.snapshot().items
    store.upsert(pod("p7", gen="2"))
    store.delete("default/p9")
    store.upsert(pod("new"))
    after = store.snapshot().items
    assert after.changed_since(before) == {"default/p7", "default/p9", "default/new"}  # type: ignore[attr-defined]
    assert after.changed_since(after) == frozenset()  # type: ignore[attr-defined]


def test_changed_since_is_unknown_beyond_the_log() -> None:
    """Unknown (None: compare every key) for another store's or a plain mapping, writes older
    than the log, and a write of more keys than it logs (a relist)."""
    store, other = pod_store(), pod_store()
    store.upsert(pod("a"))
    other.upsert(pod("a"))
    first = store.snapshot().items
    assert store.snapshot().items.changed_since(other.snapshot().items) is None  # type: ignore[attr-defined]
    assert first.changed_since(dict(first)) is None  # type: ignore[attr-defined]
    for i in range(_LOG_VERSIONS):
        store.upsert(pod("a", gen=str(i)))
    assert store.snapshot().items.changed_since(first) == {"default/a"}  # type: ignore[attr-defined]
    store.upsert(pod("a", gen="once more"))
    assert store.snapshot().items.changed_since(first) is None  # type: ignore[attr-defined]
    recent = store.snapshot().items
    store.replace([pod(f"p{i}") for i in range(_LOG_KEYS + 1)])
    assert store.snapshot().items.changed_since(recent) is None  # type: ignore[attr-defined]
    later = store.snapshot().items
    store.upsert(pod("p1", gen="1"))
    assert store.snapshot().items.changed_since(later) == {"default/p1"}  # type: ignore[attr-defined]


def test_snapshots_stay_consistent_under_a_concurrent_writer() -> None:
    store = pod_store()
    done = threading.Event()

    def write() -> None:
        for i in range(3000):
            store.upsert(pod(f"p{i % 300}", namespace=f"n{i % 7}", gen=str(i)))
            if i % 5 == 0:
                store.delete(f"n{(i + 3) % 7}/p{(i + 1) % 300}")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    checked = 0
    while not done.is_set() or checked == 0:
        snap = store.snapshot()
        indexed = set().union(
            *(snap.index_keys(NAMESPACE_INDEX, ns) for ns in snap.index_values(NAMESPACE_INDEX))
        )
        assert indexed == set(snap.items)
        checked += 1
    writer.join()


def test_a_selection_over_snapshots_sees_each_write() -> None:
    """changed_keys over the store's snapshots (its log) finds what comparing every key finds."""
    store = pod_store()
    store.replace([pod(f"p{i}", gen="0") for i in range(20)])
    seen = store.snapshot().items
    for step, write in enumerate(
        [
            lambda: store.upsert(pod("p3", gen="1")),
            lambda: store.delete("default/p4"),
            lambda: store.upsert(pod("p4")),
            lambda: store.replace([pod(f"p{i}", gen="0") for i in range(10)]),
        ]
    ):
        write()
        now = store.snapshot().items
        assert set(changed_keys(seen, now)) == _identity_diff(seen, now), step
        seen = now
