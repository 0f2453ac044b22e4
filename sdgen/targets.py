"""Config targets + cluster objects → the scrape targets sdgen writes, as Prometheus would.

Per (target, endpoint), in the Prometheus Operator's order: candidates with kubernetes_sd meta
labels and the standard labels (`monitors`), the scrape settings as special labels, `job`;
then the target's relabel rules, then the endpoint's; `instance` defaults to the address;
internal labels are stripped; last, only this shard's targets stay. Pure: the cluster is a
read-only `Cluster` view and the result plain values, sorted so the output is stable.
This module picks the objects and rules and reuses what it can; `sdgen.scrapetarget` turns
each candidate into a scrape target.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from sdgen.cluster import ALL, Cluster, ClusterNeeds, Scope, active_targets, needs
from sdgen.model import Config, Endpoint, RelabelRule, Target
from sdgen.monitors import PodLabels, Source, TargetError, discoverer
from sdgen.relabel import CompiledRule, RelabelError, compile_rule, hashmod
from sdgen.scrapetarget import Outcome, Relabel, ScrapeTarget

__all__ = [
    "ALL",
    "ClusterNeeds",
    "EndpointTargets",
    "Resolution",
    "Resolver",
    "Scope",
    "ScrapeTarget",
    "Shard",
    "needs",
    "resolve",
    "shard_from_hostname",
    "without_cycle_collection",
]

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


@dataclass(frozen=True, slots=True)
class EndpointTargets:
    target: Target
    index: int
    endpoint: Endpoint
    targets: tuple[ScrapeTarget, ...]  # sorted by address, then labels; no duplicates


@dataclass(frozen=True, slots=True)
class Resolution:
    endpoints: tuple[EndpointTargets, ...]
    errors: Mapping[str, str]  # target name → why it was not resolved (its files are kept)
    warnings: tuple[str, ...]


_Key = int | tuple[int, ...]  # a source's objects, by identity


@dataclass(frozen=True, slots=True)
class _Finished:
    """One endpoint's result and what it was made of, in source order."""

    outcomes: dict[_Key, Outcome]
    targets: tuple[ScrapeTarget, ...]
    warnings: tuple[str, ...]


_Memo = dict[tuple[Target, int], _Finished]


@dataclass(slots=True)
class _Context:
    cluster: Cluster | None
    default_namespace: str
    keep_meta: bool
    shard: Shard | None
    keep_discovered: bool
    memo: _Memo  # the previous resolve's endpoints
    used: _Memo = field(default_factory=dict)  # this resolve's: the next one's memo
    pod_labels: PodLabels = field(default_factory=PodLabels)
    warnings: dict[str, None] = field(default_factory=dict)  # an ordered set


class Resolver:
    """`resolve` again and again, cheaply: per (target, endpoint) and per source object it
    remembers the scrape targets it made. Records are immutable (a changed object is a new
    record) and config values are frozen, so an object seen again, by identity, under an
    equal endpoint config gives what it gave before: only new and changed objects are
    relabelled. Only the outcomes the last call used are kept.

    `keep_discovered=False`: targets' `discovered` labels are left empty and nothing of
    their candidates is kept; for a long-lived resolver whose caller never shows them."""

    def __init__(
        self,
        *,
        default_namespace: str,
        keep_meta_labels: bool = False,
        shard: Shard | None = None,
        keep_discovered: bool = True,
    ) -> None:
        self._options = (default_namespace, keep_meta_labels, shard, keep_discovered)
        self._memo: _Memo = {}

    def __call__(self, config: Config, cluster: Cluster | None) -> Resolution:
        """Disabled targets (or a disabled config) yield nothing; a target that cannot be
        resolved (no cluster for a Pod/ServiceMonitor, a bad rule) gets an error instead."""
        ctx = _Context(cluster, *self._options, memo=self._memo)
        endpoints: list[EndpointTargets] = []
        errors: dict[str, str] = {}
        with without_cycle_collection():
            for target in active_targets(config):
                try:
                    endpoints.extend(_resolve_target(target, ctx))
                except TargetError as err:
                    errors[target.name] = str(err)
        ctx.pod_labels.cache.clear()  # rebuilt only if someone reads `discovered` later
        self._memo = ctx.used
        return Resolution(tuple(endpoints), errors, tuple(ctx.warnings))


def resolve(
    config: Config,
    cluster: Cluster | None,
    *,
    default_namespace: str,
    keep_meta_labels: bool = False,
    shard: Shard | None = None,
) -> Resolution:
    """One resolve from scratch (see `Resolver`)."""
    resolver = Resolver(
        default_namespace=default_namespace, keep_meta_labels=keep_meta_labels, shard=shard
    )
    return resolver(config, cluster)


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Resolving (and rendering and writing) allocates several small objects per target and
    makes no reference cycles; left on, the cycle collector would repeatedly walk every dict
    and list in the informer caches meanwhile: a fifth of a 100k-target cycle. Nests."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _resolve_target(target: Target, ctx: _Context) -> list[EndpointTargets]:
    own = _compile(target.relabelings, "relabelConfigs")
    rules = [
        own + _compile(ep.relabelings, f"endpoints[{i}].relabelings")
        for i, ep in enumerate(target.endpoints)
    ]
    discover = discoverer(target, ctx.cluster, ctx.default_namespace, ctx.pod_labels)
    return [
        EndpointTargets(target, i, ep, _finish(target, i, ep, discover(ep), rules[i], ctx))
        for i, ep in enumerate(target.endpoints)
    ]


def _compile(rules: tuple[RelabelRule, ...], path: str) -> tuple[CompiledRule, ...]:
    try:
        return _compiled(rules)
    except TargetError as err:
        raise TargetError(f"{path}{err}") from None


@lru_cache(maxsize=1024)
def _compiled(rules: tuple[RelabelRule, ...]) -> tuple[CompiledRule, ...]:
    """Rules are frozen values, so a compiled list is reused across resolves and endpoints."""
    compiled = []
    for i, rule in enumerate(rules):
        try:
            compiled.append(compile_rule(rule))
        except RelabelError as err:
            raise TargetError(f"[{i}].{err.field}: {err.message}") from None
    return tuple(compiled)


# --- from candidates to scrape targets -------------------------------------------------------


def _finish(
    target: Target,
    index: int,
    endpoint: Endpoint,
    sources: Iterator[Source],
    rules: tuple[CompiledRule, ...],
    ctx: _Context,
) -> tuple[ScrapeTarget, ...]:
    previous = ctx.memo.get((target, index))
    known = previous.outcomes if previous is not None else {}
    keeps = ctx.shard.keeps if ctx.shard is not None else None
    relabel = Relabel(
        target,
        index,
        endpoint,
        rules,
        keep_meta=ctx.keep_meta,
        keeps=keeps,
        keep_discovered=ctx.keep_discovered,
    )
    outcomes: dict[_Key, Outcome] = {}
    for source in sources:
        objects = source.objects  # most sources are one object: its id is the key, no tuple
        key = id(objects[0]) if len(objects) == 1 else tuple(map(id, objects))
        outcomes[key] = known.get(key) or relabel(source)
    if previous is not None and relabel.calls == 0 and list(outcomes) == list(known):
        finished = previous  # the same objects in the same order: the same result
    else:
        finished = _merge(target, index, outcomes)
    ctx.used[(target, index)] = finished
    ctx.warnings.update(dict.fromkeys(finished.warnings))
    return finished.targets


def _merge(target: Target, index: int, outcomes: dict[_Key, Outcome]) -> _Finished:
    """The endpoint's targets from its sources' outcomes: deduplicated (the first wins),
    sorted; and its warnings, the refused targets counted last."""
    dropped: Counter[str] = Counter()
    warnings: list[str] = []
    kept: dict[str, list[ScrapeTarget]] = {}  # by address: mostly one target each
    for outcome in outcomes.values():
        for found in outcome.kept:
            same = kept.get(found.address)
            if same is None:
                kept[found.address] = [found]
            elif all(other.labels != found.labels for other in same):  # both sorted
                same.append(found)
        if outcome.dropped or outcome.warnings:  # rare: skip two calls per source
            dropped.update(outcome.dropped)
            warnings.extend(outcome.warnings)
    for problem, count in dropped.items():
        where = f"{target.name}: endpoints[{index}]"
        warnings.append(f"{where}: {count} target(s) dropped after relabeling: {problem}")
    ordered = [t for address in sorted(kept) for t in _by_labels(kept[address])]
    return _Finished(outcomes, tuple(ordered), tuple(warnings))


def _by_labels(same: list[ScrapeTarget]) -> list[ScrapeTarget]:
    """Targets of one address in label order: names, then values (the sort key is built only
    here, not kept: memory at 100k)."""
    if len(same) == 1:
        return same
    return sorted(same, key=lambda t: (tuple(t.labels), tuple(t.labels.values())))
