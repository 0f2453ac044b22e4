"""The interner: equal parts of records become one shared object, and nothing else changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from sdgen.cache.interner import Interner
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Service
from tests.bench import synth


def _decode(obj: dict[str, Any], kind: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(obj), type=kind)


_PODS = [synth.pod(i, 1) for i in (0, 1)]  # two pods of one ReplicaSet on one node
_SERVICES = [synth.service(d, 1) for d in (0, 10)]
_SLICES = [
    synth.endpoint_slice(d, [synth.pod(i, 1) for i in (d * 10, d * 10 + 1)]) for d in (0, 10)
]

# (record type, objects, paths to parts that must be one shared object across the records)
SHARED: list[tuple[type[Any], list[dict[str, Any]], list[Callable[[Any], object]]]] = [
    (
        Pod,
        _PODS,
        [
            lambda p: p.metadata.namespace,
            lambda p: p.metadata.labels,
            lambda p: p.metadata.annotations,
            lambda p: p.metadata.owner_references,
            lambda p: p.spec.node_name,
            lambda p: p.spec.containers,
            lambda p: p.status.phase,
            lambda p: p.status.host_ip,
            lambda p: p.status.conditions,
            lambda p: p.status.container_statuses[0].name,
        ],
    ),
    (
        Service,
        _SERVICES,
        [lambda s: s.metadata.namespace, lambda s: s.spec.ports, lambda s: s.spec.type],
    ),
    (
        EndpointSlice,
        _SLICES,
        [
            lambda e: e.ports,
            lambda e: e.address_type,
            lambda e: e.endpoints[0].conditions,
            lambda e: e.endpoints[0].target_ref.kind,
            lambda e: e.endpoints[0].target_ref.namespace,
            lambda e: e.endpoints[0].deprecated_topology,
        ],
    ),
]


@pytest.mark.parametrize(("kind", "objects", "paths"), SHARED, ids=["pod", "service", "slice"])
def test_equal_parts_are_shared_and_records_keep_their_values(
    kind: type[Any], objects: list[dict[str, Any]], paths: list[Callable[[Any], object]]
) -> None:
    interner = Interner()
    plain = [_decode(o, kind) for o in objects]
    shrunk = [interner(_decode(o, kind)) for o in objects]
    assert shrunk == plain  # the same values, field for field
    for path in paths:
        first, second = (path(r) for r in shrunk)
        assert first == second
        assert first is second, "an equal part was not shared"
    for path in paths:  # decoded apart, they are separate objects: sharing is the interner's
        if isinstance(path(plain[0]), dict | tuple):
            assert path(plain[0]) is not path(plain[1])


def test_different_values_are_not_merged() -> None:
    interner = Interner()
    pods = [interner(_decode(synth.pod(i, 1), Pod)) for i in (0, 10)]  # two ReplicaSets
    assert pods[0].metadata.labels != pods[1].metadata.labels
    assert pods[0].metadata.labels is not pods[1].metadata.labels
    assert pods[0].spec.containers != pods[1].spec.containers
    assert pods[0].metadata.uid != pods[1].metadata.uid


def test_a_full_table_is_emptied_and_records_stay_correct() -> None:
    interner = Interner(limit=5)
    for i in range(0, 200, 10):  # 20 ReplicaSets: far more parts than the limit
        pod = interner(_decode(synth.pod(i, 1), Pod))
        assert pod == _decode(synth.pod(i, 1), Pod)
        assert len(interner) <= 5 + 20  # emptied before each record once over the limit


def test_other_records_pass_through() -> None:
    interner = Interner()
    namespace = _decode({"metadata": {"name": "a", "labels": {"x": "y"}}}, Namespace)
    assert interner(namespace) is namespace
    other = {"metadata": {"name": "b", "labels": {"x": "y"}}}
    assert interner(_decode(other, Namespace)).metadata.labels is namespace.metadata.labels
