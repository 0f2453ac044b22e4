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
    def of_shard(cls, count: int, index: int) -> HashRange:
        """Shard `index` of `count` equal slices; their union is [0, 2⁶⁴)."""
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard index {index} is outside 0..{count - 1}")
        return cls(index * SPACE // count, (index + 1) * SPACE // count)

    def holds(self, value: str) -> bool:
        """Whether the FNV-1a hash of `value` falls in this range."""
        return self.start <= cached_fnv1a64(value) < self.end

    def selector(self, field: str = NAMESPACE_FIELD) -> str:
        """The `shardSelector` query value asking for this range of `field`'s hash."""
        return f"shardRange({field}, '{hex_bound(self.start)}', '{hex_bound(self.end)}')"

    def __str__(self) -> str:
        return f"[{hex_bound(self.start)}, {hex_bound(self.end)})"
