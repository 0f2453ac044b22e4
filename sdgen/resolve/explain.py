"""Why a target scrapes what it scrapes, and why not: every stage of resolving one target,
for one object or for all, with the reasons in words (`sdgen explain`, `GET /explain`).

Nothing here decides anew what the resolver decides. The namespaces come from
`namespaces_of`, the objects from the target's own `Selection` run over a view that shows it
only the object asked about (`_Only`), the candidates from `source_builder`, and each
candidate's fate from its endpoint's `CandidatePipeline.fate`. Where the hot path has no
place for a reason, the slow "why" lives beside it and is tested to agree with it:
`LabelSelector.mismatch`, `namespace_mismatch` (scope), `pod_skipped` (selection),
`port_mismatch` (candidates), `trace` (sdgen.prom.relabel).

The file holding a target is the output layer's business: the caller passes `file_of`
(`Renderer.file_of`), so this module stays below sdgen.output. Pure, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sdgen import SdgenError
from sdgen.config.model import Config, Endpoint, Severity, Target, TargetType
from sdgen.k8s.records import SERVICE_NAME_LABEL, EndpointSlice, Namespace, Pod, Secret, Service
from sdgen.k8s.shardrange import hex_bound
from sdgen.k8s.view import Cluster, StaticCluster
from sdgen.resolve.candidates import (
    Candidate,
    SharedParts,
    Source,
    TargetError,
    namespaces_of,
    new_selection,
    port_mismatch,
    source_builder,
)
from sdgen.resolve.funnel import Stage
from sdgen.resolve.pipeline import CandidateFate, CandidateOutcome, CandidatePipeline
from sdgen.resolve.resolver import target_rules
from sdgen.resolve.scope import namespace_mismatch, selected_by
from sdgen.resolve.selection import Objects, pod_skipped
from sdgen.resolve.sharding import Shard, ShardDecision, ShardScheme

FileOf = Callable[[str, int, bytes], str]  # (target name, endpoint index, line) → its file


class ExplainError(SdgenError):
    """The question cannot be asked: an unknown target or object, a malformed object."""


class ObjectKind(StrEnum):
    POD = "pod"
    SERVICE = "service"
    ENDPOINTSLICE = "endpointslice"


_KINDS = {  # kubectl's spellings
    "pod": ObjectKind.POD,
    "pods": ObjectKind.POD,
    "po": ObjectKind.POD,
    "service": ObjectKind.SERVICE,
    "services": ObjectKind.SERVICE,
    "svc": ObjectKind.SERVICE,
    "endpointslice": ObjectKind.ENDPOINTSLICE,
    "endpointslices": ObjectKind.ENDPOINTSLICE,
}


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: ObjectKind
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        """`KIND/NAMESPACE/NAME`, KIND in kubectl's spellings, any case."""
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ExplainError(
                f"object {text!r}: expected KIND/NAMESPACE/NAME, e.g. pod/default/web-0"
            )
        kind = _KINDS.get(parts[0].lower())
        if kind is None:
            raise ExplainError(
                f"object {text!r}: unknown kind {parts[0]!r}; use pod, service or endpointslice"
            )
        return cls(kind, parts[1], parts[2])

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: Stage
    passed: bool
    count: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A relabel rule by its list (`relabelConfigs`: the target's; `relabelings`: the
    endpoint's) and its index in that list, from 0."""

    list: str
    index: int
    action: str

    def __str__(self) -> str:
        return f"{self.list}[{self.index}] ({self.action})"


@dataclass(frozen=True, slots=True)
class _Walked:
    """One selected source of one endpoint, as explain walks them."""

    index: int
    endpoint: Endpoint
    pipeline: CandidatePipeline
    key: str
    objects: Objects
    source: Source


@dataclass(frozen=True, slots=True)
class ExplainedCandidate:
    endpoint: int
    source: str  # the object it came from (pod key, slice key; "" for static addresses)
    fate: CandidateFate
    steps: tuple[tuple[RuleRef, Mapping[str, tuple[str | None, str | None]]], ...]
    shard: ShardDecision | None
    file: str | None

    @property
    def address(self) -> str:
        """The final address when there is one, else the discovered one."""
        return self.fate.address or self.fate.discovered.get("__address__", "")

    def has_address(self, address: str) -> bool:
        return address in (self.fate.address, self.fate.discovered.get("__address__"))

    @property
    def dropped_by(self) -> RuleRef | None:
        return self.steps[-1][0] if self.fate.outcome is CandidateOutcome.DROPPED else None

    def as_json(self) -> dict[str, Any]:
        dropped = self.dropped_by
        return {
            "endpoint": self.endpoint,
            "source": self.source,
            "address": self.address,
            "discovered_address": self.fate.discovered.get("__address__", ""),
            "outcome": self.fate.outcome.value,
            "dropped_by": _rule_json(dropped) if dropped else None,
            "trace": [
                {**_rule_json(rule), "changed": {k: list(v) for k, v in changed.items()}}
                for rule, changed in self.steps
            ],
            "labels": dict(self.fate.labels) if self.fate.labels is not None else None,
            "invalid": self.fate.problem,
            "shard": None if self.shard is None else _shard_json(self.shard),
            "file": self.file,
        }


def _shard_json(decision: ShardDecision) -> dict[str, Any]:
    """The shard stage of a candidate: the address scheme's hashmod value and modulus (as
    before the namespace scheme existed), or the namespace scheme's FNV-1a hash and range."""
    common = {"scheme": decision.scheme.value, "shard": decision.shard, "kept": decision.kept}
    if decision.scheme is ShardScheme.ADDRESS:
        return {"hashmod": decision.value, "modulus": decision.modulus, **common}
    shard_range = decision.range
    return {
        "hashed": decision.hashed_field,
        "value": decision.hashed,
        "fnv1a64": hex_bound(decision.value),
        "range": [hex_bound(shard_range.start), hex_bound(shard_range.end)]
        if shard_range is not None
        else None,
        "shards": decision.modulus,
        **common,
    }


def _rule_json(rule: RuleRef) -> dict[str, Any]:
    return {"list": rule.list, "index": rule.index, "action": rule.action}


@dataclass(frozen=True, slots=True)
class Explanation:
    target: str
    object: str | None
    address: str | None
    stages: tuple[StageResult, ...]
    candidates: tuple[ExplainedCandidate, ...]
    written: int  # targets written, of the object or address asked about (or the target)
    listed_of: int | None = None  # with a window: how many candidates the target has

    def as_json(self) -> dict[str, Any]:
        document = self._json()
        if self.listed_of is not None:
            document["listed_of"] = self.listed_of
        return document

    def _json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "object": self.object,
            "address": self.address,
            "written": self.written,
            "stages": [
                {
                    "stage": s.stage.value,
                    "passed": s.passed,
                    **({"count": s.count} if s.count is not None else {}),
                    **({"reason": s.reason} if s.reason is not None else {}),
                }
                for s in self.stages
            ],
            "candidates": [c.as_json() for c in self.candidates],
        }


@dataclass(frozen=True, slots=True)
class ExplainSettings:
    """What the resolver was built with (sdgen.runtime.cycle.Options)."""

    default_namespace: str
    shard: Shard | None = None
    keep_meta_labels: bool = False


def find_target(config: Config, name: str, origin: str = "") -> Target:
    """The target named `name`; an ExplainError naming the choices when there is none, or
    the located errors (in `origin`) that rejected it."""
    for target in config.targets:
        if target.name == name:
            return target
    if name in config.rejected:
        errors = [
            i.format(origin)
            for i in config.issues
            if i.target == name and i.severity is Severity.ERROR
        ]
        why = "; ".join(errors) or "run `sdgen check`"
        raise ExplainError(f"target {name!r} is rejected by config errors: {why}")
    known = ", ".join(repr(t.name) for t in config.targets) or "none"
    raise ExplainError(f"no target {name!r} in the config; targets: {known}")


def explain(
    target: Target,
    cluster: Cluster | None,
    settings: ExplainSettings,
    *,
    obj: ObjectRef | None = None,
    address: str | None = None,
    file_of: FileOf | None = None,
    window: tuple[int, int] | None = None,
) -> Explanation:
    """Every stage of `target` for `obj` (or, without one, the target's funnel; with
    `address`, only the candidates with that discovered or final address are listed).

    `window` (start, stop), without `obj` or `address`: the candidates at those positions of
    the target's, each with its final labels or the rule that dropped it (no trace), and
    `listed_of` their total: one page of the page's drill-down. Only the window's candidates
    are relabeled, so the answer costs a listing plus a page whatever the target's size, and
    its stages stop at the candidates (the funnel's counts are /status's)."""
    if not target.enabled:
        why = "the target (or the whole config) is disabled: enabled: false"
        stages = (StageResult(Stage.WRITTEN, False, 0, why),)
        return Explanation(target.name, None if obj is None else str(obj), address, stages, (), 0)
    return _Explainer(target, cluster, settings, file_of).run(obj, address, window)


# --- the explainer -----------------------------------------------------------------------


_NO_CLUSTER = StaticCluster.from_objects()


@dataclass
class _Tally:
    """Counts over the candidates explained."""

    candidates: int = 0
    dropped: Counter[RuleRef] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    by_shard: int = 0
    written: int = 0

    def add(self, candidate: ExplainedCandidate) -> None:
        self.candidates += 1
        outcome = candidate.fate.outcome
        if outcome is CandidateOutcome.DROPPED:
            assert candidate.dropped_by is not None
            self.dropped[candidate.dropped_by] += 1
        elif outcome is CandidateOutcome.INVALID:
            self.invalid[candidate.fate.problem or ""] += 1
        elif outcome is CandidateOutcome.FILTERED_BY_SHARD:
            self.by_shard += 1
        else:
            self.written += 1


class _Explainer:
    """One question about one target: its rules compiled and one pipeline per endpoint, as
    the resolver builds them (`keep_discovered=False`: explain keeps what it shows itself)."""

    def __init__(
        self,
        target: Target,
        cluster: Cluster | None,
        settings: ExplainSettings,
        file_of: FileOf | None,
    ) -> None:
        self.target, self.cluster, self.settings, self.file_of = target, cluster, settings, file_of
        self.shared = SharedParts()
        self._selected: dict[str, Objects] = {}
        try:
            rules = target_rules(target)
        except TargetError as err:
            raise ExplainError(f"target {target.name!r}: {err}") from None
        keeps = settings.shard.keeps if settings.shard is not None else None
        self.pipelines = [
            CandidatePipeline(
                target,
                i,
                ep,
                rules[i],
                keep_meta=settings.keep_meta_labels,
                keeps=keeps,
                keep_discovered=False,
            )
            for i, ep in enumerate(target.endpoints)
        ]

    def run(
        self, obj: ObjectRef | None, address: str | None, window: tuple[int, int] | None = None
    ) -> Explanation:
        target = self.target
        try:
            namespaces = namespaces_of(target, self.cluster, self.settings.default_namespace)
        except TargetError as err:
            raise ExplainError(f"target {target.name!r}: {err}") from None
        cluster = self.cluster or _NO_CLUSTER
        if obj is None:
            stages = [self._namespaces(namespaces), self._all_objects(namespaces, cluster)]
            selected = self._selected
            if window is not None and address is None:
                listed, total = self._window(selected, window)
                stages.append(StageResult(Stage.CANDIDATES, total > 0, total))
                written = sum(c.fate.outcome is CandidateOutcome.WRITTEN for c in listed)
                return Explanation(
                    target.name, None, None, tuple(stages), tuple(listed), written, total
                )
        else:
            stages, selected, why_not = self._object(obj, namespaces, cluster)
            if why_not is not None:
                return Explanation(target.name, str(obj), address, tuple(stages), (), 0)
        explained, port_reasons = self._candidates(selected, obj, address)
        tally = _Tally()
        for candidate in explained:
            tally.add(candidate)
        stages.extend(self._funnel(tally, port_reasons))
        if obj is None and address is None:  # the funnel only: there may be thousands
            shown: tuple[ExplainedCandidate, ...] = ()
            written = tally.written
        else:
            shown = tuple(c for c in explained if address is None or c.has_address(address))
            written = sum(c.fate.outcome is CandidateOutcome.WRITTEN for c in shown)
        name = None if obj is None else str(obj)
        return Explanation(target.name, name, address, tuple(stages), shown, written)

    # --- stages ----------------------------------------------------------------------------

    def _namespaces(self, namespaces: tuple[str | None, ...]) -> StageResult:
        target = self.target
        if target.type is TargetType.STATIC_ENDPOINTS:
            return StageResult(Stage.NAMESPACES_SELECTED, True, 0, "StaticEndpoints: no namespaces")
        how = selected_by(target.namespace_selector, self.settings.default_namespace)
        if None in namespaces:
            return StageResult(Stage.NAMESPACES_SELECTED, True, None, f"all, by {how}")
        names = ", ".join(n for n in namespaces if n is not None) or "none"
        return StageResult(
            Stage.NAMESPACES_SELECTED, bool(namespaces), len(namespaces), f"{names}, by {how}"
        )

    def _all_objects(self, namespaces: tuple[str | None, ...], cluster: Cluster) -> StageResult:
        """What the target's selection picks in the whole cache (kept in `_selected`)."""
        delta = new_selection(self.target, namespaces).update(cluster)
        self._selected = {k: o for k, o in delta.items() if o is not None}
        count = len(self._selected)
        if self.target.type is TargetType.STATIC_ENDPOINTS:
            return StageResult(Stage.OBJECTS_SELECTED, True, 0, "StaticEndpoints: addresses only")
        what = "pods" if self.target.type is TargetType.POD_MONITOR else "EndpointSlices"
        if count:
            reason = f"{what} selected by {self.target.selector}"
        else:
            reason = f"the selector {self.target.selector} matches no {what} here"
        return StageResult(Stage.OBJECTS_SELECTED, count > 0, count, reason)

    def _object(
        self, obj: ObjectRef, namespaces: tuple[str | None, ...], cluster: Cluster
    ) -> tuple[list[StageResult], dict[str, Objects], str | None]:
        """The namespace and selector stages of one object, and the sources it makes."""
        target = self.target
        if target.type is TargetType.STATIC_ENDPOINTS:
            static = "a StaticEndpoints target selects no objects; use --address"
            return [StageResult(Stage.OBJECTS_SELECTED, False, 0, static)], {}, static
        stages: list[StageResult] = []
        why = namespace_mismatch(
            target.namespace_selector, obj.namespace, cluster, self.settings.default_namespace
        )
        how = selected_by(target.namespace_selector, self.settings.default_namespace)
        stages.append(StageResult(Stage.NAMESPACES_SELECTED, why is None, None, why or f"by {how}"))
        if why is not None:  # decided before the lookup: such objects may not be watched
            return stages, {}, why
        records = _records(obj, cluster)
        selected, why = self._select(obj, records, namespaces, cluster)
        reason = why or f"selected by {target.selector}"
        stages.append(StageResult(Stage.OBJECTS_SELECTED, why is None, len(selected), reason))
        return stages, selected, why

    def _select(
        self,
        obj: ObjectRef,
        records: _Records,
        namespaces: tuple[str | None, ...],
        cluster: Cluster,
    ) -> tuple[dict[str, Objects], str | None]:
        """The target's own selection over a view of just this object's sources."""
        target = self.target
        assert target.selector is not None  # namespaces_of made sure
        pod_monitor = target.type is TargetType.POD_MONITOR
        if pod_monitor and obj.kind is not ObjectKind.POD:
            return {}, f"a PodMonitor selects pods, not {obj.kind}s: explain one of its pods"
        view = _Only(cluster, records.pods if pod_monitor else {}, records.services, records.slices)
        delta = new_selection(target, namespaces).update(view)
        selected = {k: o for k, o in delta.items() if o is not None}
        if selected:
            return selected, None
        return {}, self._not_selected(obj, records)

    def _not_selected(self, obj: ObjectRef, records: _Records) -> str:
        selector = self.target.selector
        assert selector is not None
        if self.target.type is TargetType.POD_MONITOR:
            pod = records.pods[obj.key]
            why = pod_skipped(pod) or selector.mismatch(pod.metadata.labels)
            return why or "not selected"
        if not records.slices:
            where = {
                ObjectKind.POD: "no EndpointSlice points at the pod",
                ObjectKind.SERVICE: "the Service has no EndpointSlices",
                ObjectKind.ENDPOINTSLICE: "",
            }[obj.kind]
            return where or "not selected"
        reasons = []
        for key, eps in records.slices.items():
            owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
            service = records.services.get(f"{eps.metadata.namespace}/{owner}")
            if not owner:
                reasons.append(f"EndpointSlice {key} has no {SERVICE_NAME_LABEL} label")
            elif service is None:
                reasons.append(f"EndpointSlice {key}: its Service {owner!r} is not in the cache")
            else:
                mismatch = selector.mismatch(service.metadata.labels)
                reasons.append(f"Service {service.metadata.name}: {mismatch or 'not selected'}")
        return "; ".join(dict.fromkeys(reasons))

    def _sources(self, selected: Mapping[str, Objects]) -> Iterator[_Walked]:
        """Per endpoint, each selected source in key order: what `_candidates` and `_window`
        walk, in the same order."""
        target, cluster = self.target, self.cluster
        for index, (endpoint, pipeline) in enumerate(
            zip(target.endpoints, self.pipelines, strict=True)
        ):
            build = source_builder(target, endpoint, cluster, self.shared)
            for key, objects in sorted(selected.items()):
                yield _Walked(index, endpoint, pipeline, key, objects, build(objects))

    def _candidates(
        self, selected: Mapping[str, Objects], obj: ObjectRef | None, address: str | None
    ) -> tuple[list[ExplainedCandidate], list[str]]:
        """Every candidate of the selected sources, per endpoint, explained (fully: those of
        the object or the address asked about; the others only as far as the funnel counts
        need); and why sources (when an object was asked about) yielded none."""
        explained: list[ExplainedCandidate] = []
        reasons: list[str] = []
        for walked in self._sources(selected):
            found = [c for c in walked.source.candidates() if _belongs(c, obj)]
            explained.extend(self._candidate(walked, c, obj, address) for c in found)
            if not found and obj is not None and walked.objects:
                reasons.append(
                    f"endpoints[{walked.index}] of {walked.key or 'static'}: "
                    f"{port_mismatch(self.target, walked.endpoint, walked.objects)}"
                )
        return explained, reasons

    def _window(
        self, selected: Mapping[str, Objects], window: tuple[int, int]
    ) -> tuple[list[ExplainedCandidate], int]:
        """The candidates at positions [start, stop) in `_candidates`' order, explained, and
        how many candidates there are; the others are listed, not relabeled."""
        start, stop = window
        listed: list[ExplainedCandidate] = []
        position = 0
        for walked in self._sources(selected):
            found = list(walked.source.candidates())
            for candidate in found[max(0, start - position) : max(0, stop - position)]:
                listed.append(self._candidate(walked, candidate, None, None))
            position += len(found)
        return listed, position

    def _candidate(
        self,
        walked: _Walked,
        candidate: Candidate,
        obj: ObjectRef | None,
        address: str | None,
    ) -> ExplainedCandidate:
        index, key, pipeline = walked.index, walked.key, walked.pipeline
        namespace = walked.source.namespace
        fate = pipeline.fate(candidate, quick=obj is None, namespace=namespace)
        if obj is None and address in (candidate.address, fate.address):
            fate = pipeline.fate(candidate, namespace=namespace)  # asked about: the whole story
        own = len(self.target.relabelings)
        steps = tuple(
            (_rule_ref(step.index, own, step.action.value), step.changed)
            for step in fate.trace.steps
        )
        shard = None
        settings_shard = self.settings.shard
        if settings_shard is not None and fate.labels is not None:
            shard = settings_shard.decide(fate.address, namespace)
        line = fate.line
        file = None
        written = fate.outcome is CandidateOutcome.WRITTEN
        if self.file_of is not None and line is not None and written:
            file = self.file_of(self.target.name, index, line)
        return ExplainedCandidate(index, key, fate, steps, shard, file)

    def _funnel(self, tally: _Tally, port_reasons: list[str]) -> list[StageResult]:
        dropped = sum(tally.dropped.values())
        per_rule = ", ".join(
            f"{rule}: {count}"
            for rule, count in sorted(
                tally.dropped.items(),
                key=lambda item: (item[0].list != "relabelConfigs", item[0].index),
            )
        )
        shard = self.settings.shard
        shard_words = f"this is {shard.describe()}" if shard is not None else "no sharding"
        invalid = ", ".join(f"{problem}: {count}" for problem, count in tally.invalid.items())
        after_relabel = tally.candidates - dropped
        return [
            StageResult(
                Stage.CANDIDATES,
                tally.candidates > 0,
                tally.candidates,
                "; ".join(port_reasons) or None,
            ),
            StageResult(
                Stage.DROPPED_BY_RELABEL,
                dropped == 0 or after_relabel > 0,
                dropped,
                per_rule or None,
            ),
            StageResult(
                Stage.DROPPED_BY_SHARD,
                tally.by_shard == 0 or tally.written > 0,
                tally.by_shard,
                shard_words,
            ),
            StageResult(
                Stage.WRITTEN,
                tally.written > 0,
                tally.written,
                f"refused as Prometheus would: {invalid}" if invalid else None,
            ),
        ]


def _rule_ref(index: int, own: int, action: str) -> RuleRef:
    if index < own:
        return RuleRef("relabelConfigs", index, action)
    return RuleRef("relabelings", index - own, action)


def _belongs(candidate: Candidate, obj: ObjectRef | None) -> bool:
    """A pod asked about under a ServiceMonitor: only the slice targets of that pod."""
    if obj is None or obj.kind is not ObjectKind.POD:
        return True
    standard = candidate.standard
    return standard.get("pod") == obj.name and standard.get("namespace") == obj.namespace


# --- one object's records and a view of just them ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Records:
    """The records one object brings into play, by key: a pod (and the slices pointing at
    it, with their Services), a Service (its slices), a slice (its Service)."""

    pods: Mapping[str, Pod]
    services: Mapping[str, Service]
    slices: Mapping[str, EndpointSlice]


def _records(obj: ObjectRef, cluster: Cluster) -> _Records:
    """The object's records; an ExplainError when the cache does not hold it."""
    ns, name = obj.namespace, obj.name
    pods: dict[str, Pod] = {}
    slices: dict[str, EndpointSlice] = {}
    services: dict[str, Service] = {}
    if obj.kind is ObjectKind.POD:
        pod = cluster.pod(ns, name)
        if pod is None:
            raise ExplainError(f"pod {obj.key} is not in the cache (not found, or not watched)")
        pods[obj.key] = pod
        slices = {k: s for k, s in cluster.slice_map(ns).items() if _points_at(s, ns, name)}
    elif obj.kind is ObjectKind.SERVICE:
        service = cluster.service_map(ns).get(obj.key)
        if service is None:
            raise ExplainError(f"service {obj.key} is not in the cache (not found, or not watched)")
        services[obj.key] = service
        slices = {_key(s): s for s in cluster.endpoint_slices(ns, name)}
    else:
        eps = cluster.slice_map(ns).get(obj.key)
        if eps is None:
            raise ExplainError(
                f"endpointslice {obj.key} is not in the cache (not found, or not watched)"
            )
        slices[obj.key] = eps
    for eps in slices.values():
        owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
        found = cluster.service_map(ns).get(f"{ns}/{owner}") if owner else None
        if found is not None:
            services[f"{ns}/{owner}"] = found
    return _Records(pods, services, slices)


def _key(eps: EndpointSlice) -> str:
    return f"{eps.metadata.namespace}/{eps.metadata.name}"


def _points_at(eps: EndpointSlice, namespace: str, name: str) -> bool:
    return any(
        e.target_ref is not None
        and e.target_ref.kind == "Pod"
        and (e.target_ref.namespace, e.target_ref.name) == (namespace, name)
        for e in eps.endpoints
    )


class _Only:
    """A `Cluster` whose pod, Service and slice maps hold only the given records (lookups by
    name see the whole cluster): a selection run over it decides about those records alone,
    with its own code, at the cost of a few records rather than the whole cache."""

    def __init__(
        self,
        cluster: Cluster,
        pods: Mapping[str, Pod],
        services: Mapping[str, Service],
        slices: Mapping[str, EndpointSlice],
    ) -> None:
        self._cluster = cluster
        self._pods, self._services, self._slices = pods, services, slices

    def namespaces(self) -> Mapping[str, Namespace]:
        return self._cluster.namespaces()

    def endpoint_slices(self, namespace: str, service: str) -> Iterable[EndpointSlice]:
        return [
            s
            for s in self._slices.values()
            if s.metadata.namespace == namespace
            and s.metadata.labels.get(SERVICE_NAME_LABEL) == service
        ]

    def pod(self, namespace: str, name: str) -> Pod | None:
        return self._cluster.pod(namespace, name)

    def secret(self, namespace: str, name: str) -> Secret | None:
        return self._cluster.secret(namespace, name)

    def pod_map(self, namespace: str | None) -> Mapping[str, Pod]:
        return _in(self._pods, namespace)

    def service_map(self, namespace: str | None) -> Mapping[str, Service]:
        return _in(self._services, namespace)

    def slice_map(self, namespace: str | None) -> Mapping[str, EndpointSlice]:
        return _in(self._slices, namespace)


def _in(records: Mapping[str, Any], namespace: str | None) -> dict[str, Any]:
    if namespace is None:
        return dict(records)
    return {k: v for k, v in records.items() if k.partition("/")[0] == namespace}
