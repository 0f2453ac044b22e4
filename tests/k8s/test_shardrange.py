"""FNV-1a 64 and the shard ranges of KEP-5866, table-driven."""

from __future__ import annotations

import itertools

import pytest

from sdgen.k8s.shardrange import (
    SPACE,
    HashRange,
    balanced_cuts,
    check_cuts,
    fnv1a64,
    hex_bound,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [  # the FNV test suite's vectors (fnv_test.c), and a non-ASCII value hashed as UTF-8
        ("", 0xCBF29CE484222325),
        ("a", 0xAF63DC4C8601EC8C),
        ("b", 0xAF63DF4C8601F1A5),
        ("foobar", 0x85944171F73967E8),
        ("\x00", 0xAF63BD4C8601B7DF),
        (
            "é",
            ((((0xCBF29CE484222325 ^ 0xC3) * 0x100000001B3) % SPACE ^ 0xA9) * 0x100000001B3)
            % SPACE,
        ),
    ],
)
def test_fnv1a64_known_vectors(value: str, expected: int) -> None:
    assert fnv1a64(value) == expected


@pytest.mark.parametrize(
    ("count", "index", "start", "end"),
    [
        (1, 0, "0x0000000000000000", "0x10000000000000000"),
        (2, 0, "0x0000000000000000", "0x8000000000000000"),
        (2, 1, "0x8000000000000000", "0x10000000000000000"),
        (4, 1, "0x4000000000000000", "0x8000000000000000"),
        (3, 0, "0x0000000000000000", "0x5555555555555555"),
        (3, 2, "0xaaaaaaaaaaaaaaaa", "0x10000000000000000"),
    ],
)
def test_shard_ranges(count: int, index: int, start: str, end: str) -> None:
    shard = HashRange.of_shard(count, index)
    assert (hex_bound(shard.start), hex_bound(shard.end)) == (start, end)
    assert shard.selector() == f"shardRange(object.metadata.namespace, '{start}', '{end}')"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_the_ranges_of_n_shards_tile_the_hash_space(count: int) -> None:
    ranges = [HashRange.of_shard(count, i) for i in range(count)]
    assert ranges[0].start == 0 and ranges[-1].end == SPACE
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    for value in ("", "default", "kube-system", "team-a", "10.0.0.1:9100"):
        assert sum(r.holds(value) for r in ranges) == 1


@pytest.mark.parametrize(("count", "index"), [(0, 0), (2, 2), (2, -1)])
def test_a_shard_outside_the_count_is_refused(count: int, index: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        HashRange.of_shard(count, index)


TEAMS = {f"team-{n:03d}": 500 for n in range(20)}  # the bench's namespaces, 500 pods each


def test_names_alike_but_for_the_last_characters_share_one_equal_range() -> None:
    """Why balanced cuts exist: FNV-1a's top bits hardly move with the last bytes."""
    ranges = [HashRange.of_shard(4, i) for i in range(4)]
    owners = {next(i for i, r in enumerate(ranges) if r.holds(ns)) for ns in TEAMS}
    assert len(owners) == 1


@pytest.mark.parametrize(
    ("weights", "count", "expected"),
    [
        (TEAMS, 2, [5000, 5000]),
        (TEAMS, 4, [2500, 2500, 2500, 2500]),
        ({**TEAMS, "team-000": 4500}, 2, [None, None]),  # one heavy namespace: not splittable
        ({"only": 7}, 3, [None, None, None]),  # fewer values than shards
        ({}, 2, [0, 0]),
    ],
)
def test_balanced_cuts(weights: dict[str, int], count: int, expected: list[int | None]) -> None:
    cuts = balanced_cuts(weights, count)
    check_cuts(cuts, count)  # always valid cuts
    ranges = [HashRange.of_shard(count, i, cuts) for i in range(count)]
    counts = [sum(w for v, w in weights.items() if r.holds(v)) for r in ranges]
    assert sum(counts) == sum(weights.values())
    if all(e is not None for e in expected):
        assert counts == expected
    else:  # the heaviest shard holds no more than its heaviest value or an equal share
        share = sum(weights.values()) / count
        assert max(counts) <= max(max(weights.values()), share) + max(weights.values())


@pytest.mark.parametrize(
    ("cuts", "message"),
    [((1,), "need 2"), ((5, 5), "increase strictly"), ((0, 5), "increase"), ((1, SPACE), "in")],
)
def test_bad_cuts(cuts: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cuts(cuts, 3)
