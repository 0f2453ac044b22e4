"""Sharding: which scrape targets this Prometheus shard keeps.

The Prometheus Operator's scheme, so shards built by either agree: a target belongs to shard
`hashmod(final __address__, shards)`. The shards are disjoint and their union is the whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdgen.prom.relabel import hashmod

_ORDINAL = re.compile(r"-(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Keep a target when hashmod(final __address__, count) == index (the operator's scheme)."""

    count: int
    index: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is outside 0..{self.count - 1}")

    def keeps(self, address: str) -> bool:
        return hashmod(address, self.count) == self.index


def shard_from_hostname(hostname: str) -> int | None:
    """The StatefulSet ordinal of a pod name: "prometheus-2" → 2; None without one."""
    match = _ORDINAL.search(hostname.split(".", 1)[0])
    return int(match.group(1)) if match else None
