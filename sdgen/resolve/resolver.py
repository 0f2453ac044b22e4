"""Config targets + cluster objects → the scrape targets sdgen writes, as Prometheus would.

Per (target, endpoint), in the Prometheus Operator's order: candidates with kubernetes_sd meta
labels and the standard labels (`candidates`), the scrape settings as special labels, `job`;
then the target's relabel rules, then the endpoint's; `instance` defaults to the address;
internal labels are stripped; last, only this shard's targets stay. Pure: the cluster is a
read-only `Cluster` view and the result plain values, sorted so the output is stable.
This module ties the parts together and keeps them between calls: `selection` says which
objects changed, `candidates` makes their candidates, `pipeline` turns each into an encoded
file_sd group, and `targetset` keeps an endpoint's groups sorted and unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sdgen import without_cycle_collection
from sdgen.config.model import Config, Endpoint, Target
from sdgen.k8s.view import Cluster, StaticCluster
from sdgen.prom.relabel import CompiledRule, RelabelError, RelabelRule, compile_rule
from sdgen.resolve.candidates import (
    SharedParts,
    TargetError,
    namespaces_of,
    new_selection,
    source_builder,
)
from sdgen.resolve.funnel import EndpointFunnel, Funnel
from sdgen.resolve.pipeline import CandidatePipeline, ScrapeTarget, SourceTargets
from sdgen.resolve.scope import active_targets
from sdgen.resolve.selection import Diffs, PodSelection, Selection, SliceSelection
from sdgen.resolve.sharding import Shard
from sdgen.resolve.targetset import TargetSet

_NO_CLUSTER = StaticCluster.from_objects()


@dataclass(frozen=True, slots=True)
class EndpointTargets:
    """One endpoint's targets. `lines`: their encoded file_sd groups, sorted, each once (the
    targets file is exactly these); the same object while they are unchanged. `targets`
    decodes them, or, when the resolver keeps discovered labels, is the targets as made."""

    target: Target
    index: int
    endpoint: Endpoint
    lines: Sequence[bytes]
    made: Mapping[bytes, ScrapeTarget] | None = None

    @classmethod
    def of(
        cls, target: Target, index: int, endpoint: Endpoint, targets: Iterable[ScrapeTarget]
    ) -> EndpointTargets:
        """From targets made elsewhere: encoded, sorted, each once (the first wins)."""
        made: dict[bytes, ScrapeTarget] = {}
        for t in targets:
            made.setdefault(t.line, t)
        return cls(target, index, endpoint, sorted(made), made)

    @property
    def targets(self) -> tuple[ScrapeTarget, ...]:
        if self.made is not None:
            return tuple(self.made[line] for line in self.lines)
        return tuple(ScrapeTarget.decode(line) for line in self.lines)


@dataclass(frozen=True, slots=True)
class Resolution:
    endpoints: tuple[EndpointTargets, ...]
    errors: Mapping[str, str]  # target name → why it was not resolved (its files are kept)
    warnings: tuple[str, ...]
    funnels: Mapping[str, Funnel] = field(default_factory=dict)  # per resolved target


@dataclass(slots=True)
class _EndpointState:
    pipeline: CandidatePipeline
    targets: TargetSet[SourceTargets] = field(default_factory=TargetSet)
    result: EndpointTargets | None = None
    warnings: tuple[str, ...] = ()
    funnel: EndpointFunnel | None = None  # when counting


@dataclass(slots=True)
class _TargetState:
    """What a target's objects became, kept current by its selection's deltas."""

    selection: Selection
    endpoints: list[_EndpointState]
    funnel: Funnel | None = None  # when counting; the same object while its counts hold


_States = dict[tuple[Target, tuple[str | None, ...]], _TargetState]


class Resolver:
    """`resolve` again and again, cheaply. Per target (and the namespaces it reads) it keeps
    a selection of objects and, per endpoint, each source's encoded targets; a call asks the
    selection what changed since the last (by identity, as sdgen.k8s.view lays down) and
    relabels only that. Config values are frozen, so an
    equal target is the same state; only the states the last call used are kept.

    `keep_discovered=False`: targets' `discovered` labels are not kept (nor the targets:
    only their lines); for a long-lived resolver whose caller never shows them.
    `counting=False`: no funnel counts (sdgen.resolve.funnel), to measure what they cost."""

    def __init__(
        self,
        *,
        default_namespace: str,
        keep_meta_labels: bool = False,
        shard: Shard | None = None,
        keep_discovered: bool = True,
        counting: bool = True,
    ) -> None:
        self._default_namespace = default_namespace
        self._counting = counting
        self._keep_meta = keep_meta_labels
        self._keeps = shard.keeps if shard is not None else None
        self._keep_discovered = keep_discovered
        self._states: _States = {}
        # the last call's states by target name, while a call looks for a selection to keep
        self._by_name: (
            dict[str, tuple[tuple[Target, tuple[str | None, ...]], _TargetState]] | None
        ) = None

    def __call__(self, config: Config, cluster: Cluster | None) -> Resolution:
        """Disabled targets (or a disabled config) yield nothing; a target that cannot be
        resolved (no cluster for a Pod/ServiceMonitor, a bad rule) gets an error instead."""
        endpoints: list[EndpointTargets] = []
        errors: dict[str, str] = {}
        warnings: dict[str, None] = {}  # an ordered set
        funnels: dict[str, Funnel] = {}
        used: _States = {}
        shared, diffs = SharedParts(), Diffs()
        self._by_name = None
        try:
            with without_cycle_collection():
                for target in active_targets(config):
                    try:
                        state = self._resolve_target(target, cluster, used, shared, diffs)
                    except TargetError as err:
                        errors[target.name] = str(err)
                        continue
                    if state.funnel is not None:
                        funnels[target.name] = state.funnel
                    for es in state.endpoints:
                        assert es.result is not None
                        endpoints.append(es.result)
                        warnings.update(dict.fromkeys(es.warnings))
        except BaseException:
            self._states = {}  # a state may be half updated: start afresh next time
            raise
        finally:
            shared.clear()
            self._by_name = None
        self._states = used
        return Resolution(tuple(endpoints), errors, tuple(warnings), funnels)

    def _resolve_target(
        self,
        target: Target,
        cluster: Cluster | None,
        used: _States,
        shared: SharedParts,
        diffs: Diffs,
    ) -> _TargetState:
        namespaces = namespaces_of(target, cluster, self._default_namespace)
        key = (target, namespaces)
        # Rules are compiled for a new state only: a kept state's compiled fine before, and
        # compiling every target on every call went through a bounded cache that missed
        # whenever a config had more rule lists than it held (issue 17).
        state = self._states.get(key)
        kept = None if state is not None else self._kept_selection(target, namespaces, used)
        if state is None:
            state = self._new_state(target, namespaces, target_rules(target), kept)
        used[key] = state
        delta = state.selection.update(cluster or _NO_CLUSTER, diffs)  # None: static only
        if kept is not None:  # the new endpoints start from all it selects, not its changes
            delta = kept.selected()
        for i, (ep, es) in enumerate(zip(target.endpoints, state.endpoints, strict=True)):
            if delta or es.result is None:
                source = source_builder(target, ep, cluster, shared)
                pipeline = es.pipeline
                es.targets.update(
                    {k: None if o is None else pipeline(source(o)) for k, o in delta.items()}
                )
                self._finish(target, i, ep, es)
        if self._counting:
            state.funnel = _funnel(target, state, namespaces, cluster)
        return state

    def _kept_selection(
        self, target: Target, namespaces: tuple[str | None, ...], used: _States
    ) -> PodSelection | SliceSelection | None:
        """The last call's selection of the target of this name, when the edit left what it
        selects alone (type, selector, namespaces): an edit of a monitor's endpoints or rules
        then relabels its objects without selecting them all again. A selection is taken
        once, and only from a state no target of this call uses (a parsed config's names are
        unique; one built otherwise may repeat a name)."""
        if target.selector is None:
            return None
        if self._by_name is None:  # once per call that makes a new state
            self._by_name = {key[0].name: (key, state) for key, state in self._states.items()}
        found = self._by_name.pop(target.name, None)
        if found is None or found[0] in used:
            return None
        (old, old_namespaces), state = found
        same = (old.type, old.selector, old_namespaces) == (
            target.type,
            target.selector,
            namespaces,
        )
        selection = state.selection
        if not same or not isinstance(selection, PodSelection | SliceSelection):
            return None
        del self._states[found[0]]  # taken: a later target equal to the old one starts afresh
        return selection

    def _new_state(
        self,
        target: Target,
        namespaces: tuple[str | None, ...],
        rules: list[tuple[CompiledRule, ...]],
        selection: Selection | None = None,
    ) -> _TargetState:
        endpoints = [
            _EndpointState(
                CandidatePipeline(
                    target,
                    i,
                    ep,
                    rules[i],
                    keep_meta=self._keep_meta,
                    keeps=self._keeps,
                    keep_discovered=self._keep_discovered,
                ),
                TargetSet(counting=self._counting, by_namespace=None in namespaces),
            )
            for i, ep in enumerate(target.endpoints)
        ]
        return _TargetState(selection or new_selection(target, namespaces), endpoints)

    def _finish(self, target: Target, index: int, endpoint: Endpoint, es: _EndpointState) -> None:
        """The endpoint's result (the same object while its lines are unchanged) and its
        warnings, the refused targets counted last."""
        dropped, warnings = es.targets.problems()
        where = f"{target.name}: endpoints[{index}]"
        warnings.extend(
            f"{where}: {count} target(s) dropped after relabeling: {problem}"
            for problem, count in dropped.items()
        )
        es.warnings = tuple(warnings)
        lines = es.targets.lines
        if es.targets.tally is not None:
            es.funnel = EndpointFunnel.of(es.targets.tally, len(lines))
        if es.result is not None and es.result.lines is lines and not self._keep_discovered:
            return  # (a source's discovered labels can change while its lines do not)
        made: dict[bytes, ScrapeTarget] | None = None
        if self._keep_discovered:  # the first made of equal targets, in source order
            made = {}
            for contribution in es.targets.contributions():
                for t in contribution.kept:
                    made.setdefault(t.line, t)
        es.result = EndpointTargets(target, index, endpoint, lines, made)


def _funnel(
    target: Target, state: _TargetState, namespaces: tuple[str | None, ...], cluster: Cluster | None
) -> Funnel:
    """The target's funnel from its endpoints' (the last one while nothing changed)."""
    endpoints = tuple(es.funnel for es in state.endpoints if es.funnel is not None)
    first = state.endpoints[0].targets.tally
    selection = state.selection
    services = selection.services if isinstance(selection, SliceSelection) else None
    if not namespaces or first is None:  # StaticEndpoints: no namespace, no object
        spaces = objects = 0
    else:
        objects = first.sources  # pods, or EndpointSlices: the same for every endpoint
        spaces = len(namespaces)
        if None in namespaces:  # every namespace: those known, else those holding objects
            spaces = len(cluster.namespaces()) if cluster is not None else 0
            spaces = spaces or len(first.namespaces)
    old = state.funnel
    if (
        old is not None
        and old.endpoints == endpoints
        and (old.namespaces_selected, old.objects_selected) == (spaces, objects)
        and old.services_selected == services
    ):
        return old
    return Funnel.of(target, spaces, objects, endpoints, services)


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


def target_rules(target: Target) -> list[tuple[CompiledRule, ...]]:
    """Per endpoint: the target's relabel rules, then the endpoint's, compiled."""
    own = _compile(target.relabelings, "relabelConfigs")
    return [
        own + _compile(ep.relabelings, f"endpoints[{i}].relabelings")
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
