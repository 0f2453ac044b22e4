"""FNV-1a 64 and the shard ranges of KEP-5866, table-driven."""

from __future__ import annotations

import itertools

import pytest

from sdgen.k8s.shardrange import SPACE, HashRange, fnv1a64, hex_bound


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
