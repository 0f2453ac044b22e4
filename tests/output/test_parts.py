"""Parts of a big endpoint: a stable part per address, and the hysteresis of the part count."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdgen.output.parts import address_hash, part_count, split
from sdgen.resolve.pipeline import encode_group


def line(address: str) -> bytes:
    return encode_group(address, {"job": "j"})


def test_the_hash_is_the_crc_of_the_address_alone() -> None:
    assert address_hash(line("10.0.0.1:80")) == zlib.crc32(b"10.0.0.1:80")
    assert address_hash(encode_group("10.0.0.1:80", {"a": "b", "z": "y"})) == zlib.crc32(
        b"10.0.0.1:80"
    )


def hashes_with_parts(counts: list[int]) -> list[int]:
    """Hashes that put counts[i] targets into part i of len(counts) (a power of two), spread
    so that doubling splits each part in half."""
    return [part + len(counts) * k for part, n in enumerate(counts) for k in range(n)]


@pytest.mark.parametrize(
    ("counts", "current", "size", "expected", "why"),
    [
        ([0], 1, 10, 1, "empty stays one part"),
        ([20], 1, 10, 1, "2 x size is still fine"),
        ([21], 1, 10, 2, "over 2 x size: split in two"),
        ([11, 10], 2, 10, 2, "between the bounds: unchanged"),
        ([21, 5], 2, 10, 4, "the largest part over 2 x size doubles"),
        ([5, 5], 2, 10, 2, "10 over 2 parts is 5 per part: not below 5"),
        ([5, 4], 2, 10, 1, "9 over 2 parts is 4.5 per part: halves"),
        ([4, 4], 2, 10, 1, "fewer than size / 2 per part halves"),
        ([1, 1, 1, 1], 4, 10, 1, "halves as often as needed"),
        ([3, 3, 3, 3], 4, 10, 2, "12 over 4 is below 5, 12 over 2 is not"),
        ([0], 3, 10, 1, "a count that is no power of two is not trusted"),
    ],
)
def test_part_count_hysteresis(
    counts: list[int], current: int, size: int, expected: int, why: str
) -> None:
    assert part_count(hashes_with_parts(counts), current, size) == expected, why


def test_doubling_repeats_until_every_part_fits() -> None:
    hashes = [zlib.crc32(f"10.0.{i // 256}.{i % 256}:80".encode()) for i in range(10_000)]
    parts = part_count(hashes, 1, 100)
    assert parts & (parts - 1) == 0 and parts >= 64
    assert max(len(p) for p in split([b""] * len(hashes), hashes, parts)) <= 200
    assert part_count(hashes, parts, 100) == parts  # and then it is stable


def test_equal_addresses_stop_the_doubling() -> None:
    """Targets with one address (hashes alike) cannot be split: no endless doubling."""
    assert part_count([7] * 50, 1, 10) == 1
    assert part_count([7] * 50 + [8] * 50, 1, 10) == 2


def test_a_bad_part_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        part_count([], 1, 0)


@given(st.lists(st.integers(0, 2**32 - 1), max_size=200), st.sampled_from([1, 2, 4, 8]))
def test_split_keeps_every_line_once_in_order(hashes: list[int], parts: int) -> None:
    lines = [f"{i:04d}".encode() for i in range(len(hashes))]
    split_lines = split(lines, hashes, parts)
    assert len(split_lines) == parts
    assert sorted(x for p in split_lines for x in p) == lines
    assert all(p == sorted(p) for p in split_lines)


@given(st.lists(st.integers(0, 2**32 - 1), max_size=200), st.sampled_from([1, 2, 4]))
def test_doubling_splits_each_part_in_two(hashes: list[int], parts: int) -> None:
    lines = [f"{i:04d}".encode() for i in range(len(hashes))]
    before, after = split(lines, hashes, parts), split(lines, hashes, 2 * parts)
    for i in range(parts):
        assert sorted(after[i] + after[i + parts]) == sorted(before[i])
