"""Sharding: which scrape targets this Prometheus shard keeps.

Two schemes (`ShardScheme`), chosen by `--shard-by`:
* `address` (the default): the Prometheus Operator's scheme, so shards built by either agree:
  a target belongs to shard `hashmod(final __address__, shards)`.
* `namespace`: a target belongs to the shard whose range of the 64-bit FNV-1a hash space holds
  the hash of its object's namespace (sdgen.k8s.shardrange), the ranges server-side sharded
  list and watch (KEP-5866) serves, so a shard's sidecar can list and watch only its
  namespaces. A namespace's pods, Services and EndpointSlices land in one shard, as a slice's
  targets need its Service and pods. A target without a namespace (StaticEndpoints) is placed
  by the hash of its address, in the same ranges.
Either way the shards are disjoint and their union is the whole.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sdgen.k8s.shardrange import HashRange, balanced_cuts, cached_fnv1a64, check_cuts
from sdgen.prom.relabel import hashmod

_ORDINAL = re.compile(r"-(\d+)$")


class ShardScheme(StrEnum):
    """What a target's shard is computed from (`--shard-by`)."""

    ADDRESS = "address"  # hashmod(final __address__, N): the operator's
    NAMESPACE = "namespace"  # FNV-1a range of the object's namespace: server-side shardable


@dataclass(frozen=True, slots=True)
class ShardDecision:
    """Why a target is or is not this shard's, for `sdgen explain`: under `address`,
    `hashmod(hashed, modulus) == value`; under `namespace`, the FNV-1a hash of `hashed` (the
    namespace, or the address of a target without one) against this shard's `range`."""

    scheme: ShardScheme
    hashed: str  # the value hashed
    hashed_field: str  # "address" or "namespace"
    value: int  # hashmod value, or the 64-bit FNV-1a hash
    modulus: int
    shard: int
    kept: bool
    range: HashRange | None = None  # the namespace scheme's


@dataclass(frozen=True, slots=True)
class Shard:
    """This shard: `index` of `count`, under `scheme` (the address scheme by default);
    `cuts`: the namespace scheme's inner range boundaries when not equal slices
    (`--shard-cuts`, see sdgen.k8s.shardrange.balanced_cuts)."""

    count: int
    index: int
    scheme: ShardScheme = ShardScheme.ADDRESS
    cuts: tuple[int, ...] = ()
    # This shard's slice of the FNV-1a hash space (the namespace scheme's), made once: `keeps`
    # runs per candidate.
    range: HashRange = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is outside 0..{self.count - 1}")
        if self.cuts:
            if self.scheme is not ShardScheme.NAMESPACE:
                raise ValueError("range cuts apply to the namespace scheme only")
            check_cuts(self.cuts, self.count)
        object.__setattr__(self, "range", HashRange.of_shard(self.count, self.index, self.cuts))

    def keeps(self, address: str, namespace: str | None = None) -> bool:
        """Whether this shard keeps the target at `address` made from an object in
        `namespace` (None: a target of no object, a static address)."""
        if self.scheme is ShardScheme.ADDRESS:
            return hashmod(address, self.count) == self.index
        return self.range.holds(address if namespace is None else namespace)

    def decide(self, address: str, namespace: str | None = None) -> ShardDecision:
        """`keeps`, with the numbers that made the decision."""
        if self.scheme is ShardScheme.ADDRESS:
            value = hashmod(address, self.count)
            return ShardDecision(
                self.scheme, address, "address", value, self.count, self.index, value == self.index
            )
        hashed, field = (address, "address") if namespace is None else (namespace, "namespace")
        value = cached_fnv1a64(hashed)
        shard_range = self.range
        kept = shard_range.start <= value < shard_range.end
        return ShardDecision(
            self.scheme, hashed, field, value, self.count, self.index, kept, shard_range
        )

    def describe(self) -> str:
        """The scheme in words, for logs, `/status` and `sdgen explain`."""
        if self.scheme is ShardScheme.ADDRESS:
            return f"shard {self.index} of {self.count} (hashmod of the final __address__)"
        cut = ", set by --shard-cuts" if self.cuts else ""
        return (
            f"shard {self.index} of {self.count} (FNV-1a 64 of the namespace, or of the final "
            f"__address__ without one, in {self.range}{cut})"
        )


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """Targets per shard under the namespace scheme, with equal ranges and with `cuts` that
    balance them (`sdgen targets --shard-plan`)."""

    equal: tuple[int, ...]
    cuts: tuple[int, ...]
    balanced: tuple[int, ...]


def shard_counts(weights: Mapping[str, int], count: int, cuts: tuple[int, ...] = ()) -> list[int]:
    """Per shard, the weight of the hashed values (namespaces, addresses) its range holds."""
    ranges = [HashRange.of_shard(count, i, cuts) for i in range(count)]
    counts = [0] * count
    for value, weight in weights.items():
        counts[next(i for i, r in enumerate(ranges) if r.holds(value))] += weight
    return counts


def plan_shards(targets: Iterable[tuple[str | None, str]], count: int) -> ShardPlan:
    """`targets`: each written target's (namespace or None, final address), as the namespace
    scheme hashes them."""
    weights = Counter(address if namespace is None else namespace for namespace, address in targets)
    cuts = balanced_cuts(weights, count)
    return ShardPlan(
        tuple(shard_counts(weights, count)), cuts, tuple(shard_counts(weights, count, cuts))
    )


def shard_from_hostname(hostname: str) -> int | None:
    """The StatefulSet ordinal of a pod name: "prometheus-2" → 2; None without one."""
    match = _ORDINAL.search(hostname.split(".", 1)[0])
    return int(match.group(1)) if match else None
