"""A target's funnel: how many namespaces, objects and candidates it selected, how many of
them relabeling (which rule) and the shard filter dropped, and how many targets it wrote.

It answers "why is my pod not scraped?" in numbers (/status, `sdgen_target_funnel`, the lint
warnings). The counts are kept as the resolver works, incrementally: each source's
contribution carries its own counts, an endpoint's `Tally` adds a changed source's and takes
away the one it replaces, so counting costs what changed, like the rest of a cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import Protocol, TypeVar

from sdgen.config.model import Target

K = TypeVar("K")


class Stage(StrEnum):
    """The funnel's stages, in order; the `stage` label of `sdgen_target_funnel`."""

    NAMESPACES_SELECTED = "namespaces_selected"
    OBJECTS_SELECTED = "objects_selected"
    CANDIDATES = "candidates"
    DROPPED_BY_RELABEL = "dropped_by_relabel"
    DROPPED_BY_SHARD = "dropped_by_shard"
    WRITTEN = "written"


@dataclass(frozen=True, slots=True)
class RulePosition:
    """A relabel rule as the config names it, in `sdgen explain`'s words: `list` is
    `relabelConfigs` (the target's) or `relabelings` (endpoint `endpoint`'s; None for the
    target's); `index` counts from 0 within that list."""

    list: str
    index: int
    endpoint: int | None = None

    def __str__(self) -> str:
        if self.endpoint is None:
            return f"{self.list}[{self.index}]"
        return f"endpoints[{self.endpoint}].{self.list}[{self.index}]"


def rule_ref(target: Target, endpoint: int, rule: int) -> RulePosition:
    """Rule `rule` of endpoint `endpoint`'s combined list (the target's rules, then the
    endpoint's), named by the list it was written in."""
    own = len(target.relabelings)
    if rule < own:
        return RulePosition("relabelConfigs", rule)
    return RulePosition("relabelings", rule - own, endpoint)


class Counted(Protocol):
    """What a source's contribution says about its candidates (sdgen.resolve.pipeline's
    `SourceTargets`): how many, the rule that dropped each dropped one, how many the shard
    filter dropped, and why each invalid one was refused."""

    @property
    def candidates(self) -> int: ...
    @property
    def relabel_drops(self) -> tuple[int, ...]: ...
    @property
    def shard_drops(self) -> int: ...
    @property
    def dropped(self) -> tuple[str, ...]: ...


class Tally:
    """An endpoint's counts over its sources, patched as sources change (`add`) or counted
    in bulk (`of`) when many changed. With `by_namespace`, `namespaces` counts sources per
    namespace (a source key is `namespace/name`): only a target of every namespace needs it."""

    __slots__ = (
        "by_namespace",
        "by_rule",
        "candidates",
        "invalid",
        "namespaces",
        "shard",
        "sources",
    )

    def __init__(self, *, by_namespace: bool = False) -> None:
        self.by_namespace = by_namespace
        self.sources = self.candidates = self.invalid = self.shard = 0
        self.by_rule: Counter[int] = Counter()
        self.namespaces: Counter[str] = Counter()

    @classmethod
    def of(cls, sources: Mapping[str, Counted], *, by_namespace: bool) -> Tally:
        tally = cls(by_namespace=by_namespace)
        counted = sources.values()
        tally.sources = len(sources)
        tally.candidates = sum([c.candidates for c in counted])
        tally.shard = sum([c.shard_drops for c in counted])
        tally.invalid = sum([len(c.dropped) for c in counted if c.dropped])
        tally.by_rule = Counter(chain.from_iterable([c.relabel_drops for c in counted]))
        if by_namespace:
            tally.namespaces = Counter([key.partition("/")[0] for key in sources])
        return tally

    def add(self, key: str, counted: Counted, sign: int) -> None:
        """Count a source in (`sign` 1) or out (-1)."""
        self.sources += sign
        self.candidates += sign * counted.candidates
        self.shard += sign * counted.shard_drops
        if counted.dropped:
            self.invalid += sign * len(counted.dropped)
        for rule in counted.relabel_drops:
            _move(self.by_rule, rule, sign)
        if self.by_namespace:
            _move(self.namespaces, key.partition("/")[0], sign)


def _move(counter: Counter[K], key: K, sign: int) -> None:
    """Add `sign` to a count, leaving no zero count behind."""
    count = counter[key] + sign
    if count:
        counter[key] = count
    else:
        del counter[key]


@dataclass(frozen=True, slots=True)
class EndpointFunnel:
    """One endpoint's counts. `sources`: pods (PodMonitor), EndpointSlices (ServiceMonitor);
    `dropped_by_relabel` by rule index in the endpoint's combined list; `invalid`: refused
    after relabeling as Prometheus would (no address, timeout above interval); `written`:
    distinct targets in its files."""

    sources: int = 0
    candidates: int = 0
    dropped_by_relabel: Mapping[int, int] = field(default_factory=dict)
    dropped_by_shard: int = 0
    invalid: int = 0
    written: int = 0

    @classmethod
    def of(cls, tally: Tally, written: int) -> EndpointFunnel:
        return cls(
            tally.sources,
            tally.candidates,
            dict(sorted(tally.by_rule.items())),
            tally.shard,
            tally.invalid,
            written,
        )


@dataclass(frozen=True, slots=True)
class Funnel:
    """A target's funnel: the stages summed over its endpoints (namespaces and objects are
    the target's own), `dropped_by_rule` per rule, and each endpoint's counts.

    `objects_selected`: the pods a PodMonitor's selector picks (with an IP, not finished), the
    EndpointSlices of the Services a ServiceMonitor's picks (as `sdgen explain` counts them);
    `services_selected`: those Services, with slices or without (None but for a
    ServiceMonitor); `namespaces_selected`: the namespaces it reads, with every namespace
    selected the ones the cache knows (or, when namespaces are not watched, those holding
    selected objects). StaticEndpoints select no namespace and no object."""

    namespaces_selected: int = 0
    objects_selected: int = 0
    candidates: int = 0
    dropped_by_relabel: int = 0
    dropped_by_shard: int = 0
    written: int = 0
    invalid: int = 0
    dropped_by_rule: Mapping[RulePosition, int] = field(default_factory=dict)
    endpoints: tuple[EndpointFunnel, ...] = ()
    services_selected: int | None = None

    @classmethod
    def of(
        cls,
        target: Target,
        namespaces: int,
        objects: int,
        endpoints: tuple[EndpointFunnel, ...],
        services: int | None = None,
    ) -> Funnel:
        by_rule: dict[RulePosition, int] = {}
        for i, ep in enumerate(endpoints):
            for rule, count in ep.dropped_by_relabel.items():
                ref = rule_ref(target, i, rule)
                by_rule[ref] = by_rule.get(ref, 0) + count
        return cls(
            namespaces,
            objects,
            sum(ep.candidates for ep in endpoints),
            sum(by_rule.values()),
            sum(ep.dropped_by_shard for ep in endpoints),
            sum(ep.written for ep in endpoints),
            sum(ep.invalid for ep in endpoints),
            by_rule,
            endpoints,
            services,
        )

    def stages(self) -> dict[Stage, int]:
        return {stage: getattr(self, stage.value) for stage in Stage}

    def as_json(self) -> dict[str, object]:
        """For /status: the stages, `invalid`, and the drops per rule."""
        out: dict[str, object] = {stage.value: count for stage, count in self.stages().items()}
        out["invalid"] = self.invalid
        if self.services_selected is not None:
            out["services_selected"] = self.services_selected
        out["dropped_by_rule"] = [
            {"list": ref.list, "endpoint": ref.endpoint, "index": ref.index, "count": count}
            for ref, count in self.dropped_by_rule.items()
        ]
        return out
