"""Hash ranges of server-side sharded list and watch (Kubernetes KEP-5866, alpha behind the
`ShardedListAndWatch` feature gate).

A list or watch with `shardSelector=shardRange(object.metadata.<field>, '<start>', '<end>')`
returns the objects whose 64-bit FNV-1a hash of that field's value falls in [start, end).
Shard i of N owns [i·2⁶⁴/N, (i+1)·2⁶⁴/N): equal slices of the hash space, the last ending at
2⁶⁴, so the shards are disjoint and together complete. The same function and ranges filter on
the client side, for an API server without the gate (it ignores the parameter) and for what
has no namespace to hash (static addresses), so one assignment holds everywhere.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
SPACE = 1 << 64  # the exclusive end of the last shard
_MASK = SPACE - 1
NAMESPACE_FIELD = "object.metadata.namespace"


def fnv1a64(value: str) -> int:
    """The 64-bit FNV-1a hash of the UTF-8 bytes of `value`, as the API server computes it."""
    hashed = FNV_OFFSET
    for byte in value.encode("utf-8", "surrogatepass"):
        hashed = ((hashed ^ byte) * FNV_PRIME) & _MASK
    return hashed


# Namespaces are few and hashed per target: remember them (addresses of StaticEndpoints too).
cached_fnv1a64 = lru_cache(maxsize=8192)(fnv1a64)


def hex_bound(value: int) -> str:
    """A bound as the selector writes it: `0x` and 16 lowercase hex digits (17 for 2⁶⁴)."""
    return f"0x{value:016x}"


@dataclass(frozen=True, slots=True)
class HashRange:
    """[start, end) of the 64-bit FNV-1a hash space."""

    start: int
    end: int

    @classmethod
    def of_shard(cls, count: int, index: int, cuts: tuple[int, ...] = ()) -> HashRange:
        """Shard `index` of `count`: equal slices, or the slices between `cuts` (the
        `count - 1` inner boundaries, increasing) when given; their union is [0, 2⁶⁴)."""
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard index {index} is outside 0..{count - 1}")
        if not cuts:
            return cls(index * SPACE // count, (index + 1) * SPACE // count)
        check_cuts(cuts, count)
        bounds = (0, *cuts, SPACE)
        return cls(bounds[index], bounds[index + 1])

    def holds(self, value: str) -> bool:
        """Whether the FNV-1a hash of `value` falls in this range."""
        return self.start <= cached_fnv1a64(value) < self.end

    def selector(self, field: str = NAMESPACE_FIELD) -> str:
        """The `shardSelector` query value asking for this range of `field`'s hash."""
        return f"shardRange({field}, '{hex_bound(self.start)}', '{hex_bound(self.end)}')"

    def __str__(self) -> str:
        return f"[{hex_bound(self.start)}, {hex_bound(self.end)})"


def check_cuts(cuts: tuple[int, ...], count: int) -> None:
    """A ValueError unless `cuts` are `count - 1` increasing values strictly inside
    (0, 2⁶⁴), so that no range is empty or reversed."""
    if len(cuts) != count - 1:
        raise ValueError(f"{len(cuts)} cut(s) for {count} shards: need {count - 1}")
    bounds = (0, *cuts, SPACE)
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("cuts must increase strictly, between 0x0 and 0x10000000000000000")


def balanced_cuts(weights: Mapping[str, int], count: int) -> tuple[int, ...]:
    """The `count - 1` inner boundaries that split the hash space so that each shard's
    namespaces (or other hashed values) weigh about the same: the values sorted by hash, the
    k-th boundary at the hash of the value where the weight before it comes closest to
    `k/count` of the total.

    Equal ranges suit hashes spread evenly over the space; FNV-1a of names that differ only in
    their last characters (team-000, team-001, ...) is not: such names share their top bits and
    fall into one equal range. A boundary at a value's hash puts that value first in the next
    range; a value added later lands in one range (shards stay disjoint and complete), though
    not necessarily where it balances best."""
    if count < 1:
        raise ValueError(f"shard count {count} must be at least 1")
    ordered = sorted((cached_fnv1a64(value), weight) for value, weight in weights.items())
    before = [0]  # before[i]: the weight of the values ordered before value i
    for _, weight in ordered:
        before.append(before[-1] + weight)
    total = before[-1]
    cuts: list[int] = []
    position = 0  # the value the last boundary put first in its range
    for k in range(1, count):
        goal = k * total / count
        best = bisect.bisect_left(before, goal, lo=position + 1, hi=len(ordered))
        if (
            best > position + 1
            and goal - before[best - 1] <= before[min(best, len(ordered))] - goal
        ):
            best -= 1
        position = min(best, len(ordered))
        floor = cuts[-1] + 1 if cuts else 1
        hashed = ordered[position][0] if position < len(ordered) else SPACE - (count - k)
        cuts.append(min(max(hashed, floor), SPACE - (count - k)))
    return tuple(cuts)
