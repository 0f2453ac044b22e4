"""Config targets + cluster objects → the scrape targets sdgen writes, as Prometheus would.

Per (target, endpoint), in the Prometheus Operator's order: candidates with kubernetes_sd meta
labels and the standard labels (`monitors`), the scrape settings as special labels, `job`;
then the target's relabel rules, then the endpoint's; `instance` defaults to the address;
internal labels are stripped; last, only this shard's targets stay. Pure: the cluster is a
read-only `Cluster` view and the result plain values, sorted so the output is stable.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from sdgen import meta
from sdgen.cluster import ALL, Cluster, ClusterNeeds, Scope, active_targets, needs
from sdgen.duration import DurationError, format_duration, parse_duration
from sdgen.model import Config, Endpoint, RelabelRule, Target
from sdgen.monitors import Candidate, PodLabels, Source, TargetError, discoverer
from sdgen.relabel import CompiledRule, RelabelError, apply, compile_rule, hashmod

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

SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM = "__param_"
_KEPT = frozenset({SCHEME, METRICS_PATH, SCRAPE_INTERVAL, SCRAPE_TIMEOUT})
_DEFAULT_TIMEOUT_MS = 10_000  # Prometheus's global scrape_timeout, capped at the interval
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
class ScrapeTarget:
    """`labels`: the file_sd group's labels, sorted (no `__address__`: that is `address`);
    `discovered`: the labels before relabeling, as Prometheus shows discoveredLabels."""

    address: str
    labels: Mapping[str, str]
    discovered: Mapping[str, str]


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


_SortKey = tuple[str, tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one source's candidates became for one endpoint; `objects` keeps the source's
    records alive, so the ids keying this outcome stay theirs."""

    objects: tuple[object, ...]
    kept: tuple[ScrapeTarget, ...]
    dropped: tuple[str, ...]  # why each refused target was refused
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Finished:
    """One endpoint's result and what it was made of, in source order."""

    outcomes: dict[tuple[int, ...], _Outcome]
    targets: tuple[ScrapeTarget, ...]
    warnings: tuple[str, ...]


_Memo = dict[tuple[Target, int], _Finished]


@dataclass(slots=True)
class _Context:
    cluster: Cluster | None
    default_namespace: str
    keep_meta: bool
    shard: Shard | None
    memo: _Memo  # the previous resolve's endpoints
    used: _Memo = field(default_factory=dict)  # this resolve's: the next one's memo
    pod_labels: PodLabels = field(default_factory=PodLabels)
    warnings: dict[str, None] = field(default_factory=dict)  # an ordered set


class Resolver:
    """`resolve` again and again, cheaply: per (target, endpoint) and per source object it
    remembers the scrape targets it made. Records are immutable (a changed object is a new
    record) and config values are frozen, so an object seen again, by identity, under an
    equal endpoint config gives what it gave before: only new and changed objects are
    relabelled. Only the outcomes the last call used are kept."""

    def __init__(
        self, *, default_namespace: str, keep_meta_labels: bool = False, shard: Shard | None = None
    ) -> None:
        self._options = (default_namespace, keep_meta_labels, shard)
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
    relabel = _Relabel(target, index, endpoint, rules, ctx)
    outcomes: dict[tuple[int, ...], _Outcome] = {}
    for source in sources:
        key = tuple(map(id, source.objects))
        outcomes[key] = known.get(key) or relabel(source)
    if previous is not None and relabel.calls == 0 and list(outcomes) == list(known):
        finished = previous  # the same objects in the same order: the same result
    else:
        finished = _merge(target, index, outcomes)
    ctx.used[(target, index)] = finished
    ctx.warnings.update(dict.fromkeys(finished.warnings))
    return finished.targets


def _merge(target: Target, index: int, outcomes: dict[tuple[int, ...], _Outcome]) -> _Finished:
    """The endpoint's targets from its sources' outcomes: deduplicated (the first wins),
    sorted; and its warnings, the refused targets counted last."""
    dropped: Counter[str] = Counter()
    warnings: list[str] = []
    kept: dict[_SortKey, ScrapeTarget] = {}
    for outcome in outcomes.values():
        for found in outcome.kept:  # the sort key is rebuilt, not kept: memory at 100k
            labels = found.labels
            kept.setdefault((found.address, tuple(labels), tuple(labels.values())), found)
        if outcome.dropped or outcome.warnings:  # rare: skip two calls per source
            dropped.update(outcome.dropped)
            warnings.extend(outcome.warnings)
    for problem, count in dropped.items():
        where = f"{target.name}: endpoints[{index}]"
        warnings.append(f"{where}: {count} target(s) dropped after relabeling: {problem}")
    return _Finished(outcomes, tuple(kept[key] for key in sorted(kept)), tuple(warnings))


class _Relabel:
    """One endpoint's candidates → scrape targets, per source: the relabeling itself."""

    def __init__(
        self,
        target: Target,
        index: int,
        endpoint: Endpoint,
        rules: tuple[CompiledRule, ...],
        ctx: _Context,
    ) -> None:
        self.settings = settings = _settings(target, endpoint)
        self.by_scheme = {
            https: {**settings, SCHEME: _scheme(endpoint, https)} for https in (False, True)
        }
        self.rules = rules
        self.keep_meta, self.shard = ctx.keep_meta, ctx.shard
        self.public = _PublicNames(ctx.keep_meta)
        self.warnings: list[str] = []
        self.warn = _rule_warner(target, index, self.warnings)
        self.calls = 0

    def __call__(self, source: Source) -> _Outcome:
        self.calls += 1
        kept: list[ScrapeTarget] = []
        dropped: list[str] = []
        self.warnings.clear()
        for candidate in source.candidates():
            special = self.by_scheme[candidate.https]
            if self.rules or self.keep_meta:
                final = apply(_Discovered(candidate, special).merged(), self.rules, self.warn)
            else:  # nothing reads the meta labels: skip building them
                final = {**special, **candidate.standard, meta.ADDRESS: candidate.address}
            if final is None:
                continue
            address = final.get(meta.ADDRESS, "")
            problem = _invalid(address, final, self.settings)
            if problem is not None:
                dropped.append(problem)
            elif self.shard is None or self.shard.keeps(address):
                labels = _public(final, address, self.public)
                kept.append(ScrapeTarget(address, labels, _Discovered(candidate, special)))
        return _Outcome(source.objects, tuple(kept), tuple(dropped), tuple(self.warnings))


def _settings(target: Target, endpoint: Endpoint) -> dict[str, str]:
    """`job` and the endpoint's scrape settings as Prometheus's special labels."""
    timeout = endpoint.timeout_ms
    if timeout is None:
        timeout = min(_DEFAULT_TIMEOUT_MS, endpoint.interval_ms)
    out = {
        METRICS_PATH: endpoint.path,
        SCRAPE_INTERVAL: format_duration(endpoint.interval_ms),
        SCRAPE_TIMEOUT: format_duration(timeout),
        "job": target.name,
    }
    out.update((PARAM + key, values[0]) for key, values in endpoint.params if values)
    return out


def _scheme(endpoint: Endpoint, https_port: bool) -> str:
    return endpoint.scheme or ("https" if https_port else "http")


def _rule_warner(target: Target, index: int, sink: list[str]) -> Callable[[int, str], None]:
    own = len(target.relabelings)

    def warn(rule: int, message: str) -> None:
        if rule < own:
            path = f"relabelConfigs[{rule}]"
        else:
            path = f"endpoints[{index}].relabelings[{rule - own}]"
        sink.append(f"{target.name}: {path}: {message}")

    return warn


class _PublicNames(dict[str, bool]):
    """Memo: does a label name go into the file_sd group? No `__` name does but the scrape
    settings (and `__meta_*` ones when kept). Names repeat across targets; the check doesn't."""

    def __init__(self, keep_meta: bool) -> None:
        super().__init__()
        self.keep_meta = keep_meta

    def __missing__(self, name: str) -> bool:
        public = not name.startswith("__") or name in _KEPT or name.startswith(PARAM)
        public = public or (self.keep_meta and name.startswith(meta.META))
        self[name] = public
        return public


def _public(final: Mapping[str, str], address: str, public: _PublicNames) -> dict[str, str]:
    """The file_sd labels, sorted; an empty value is a missing label; `instance` defaults
    to the address."""
    labels = {k: v for k, v in final.items() if v and public[k]}
    if "instance" not in labels:
        labels["instance"] = address
    return dict(sorted(labels.items()))


class _Discovered(Mapping[str, str]):
    """A target's labels before relabeling, as Prometheus shows discoveredLabels: built
    from the candidate (which rebuilds its meta labels) when first read, then kept."""

    __slots__ = ("_candidate", "_labels", "_special")

    def __init__(self, candidate: Candidate, special: Mapping[str, str]) -> None:
        self._candidate = candidate
        self._special = special
        self._labels: dict[str, str] | None = None

    def merged(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self._candidate.meta():
            out.update(part)
        out.update(self._special)
        out.update(self._candidate.standard)
        return out

    def _read(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = {k: v for k, v in self.merged().items() if v}  # "" means missing
        return self._labels

    def __getitem__(self, name: str) -> str:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:
        return repr(self._read())


def _invalid(address: str, final: Mapping[str, str], settings: Mapping[str, str]) -> str | None:
    """Why Prometheus would refuse to create this target (its own wording), or None.
    A special label a rule removed is fine: Prometheus falls back to the job's setting."""
    if not address:
        return "no address"
    if "/" in address:
        return f'"{address}" is not a valid hostname'
    interval = final.get(SCRAPE_INTERVAL, settings[SCRAPE_INTERVAL])
    timeout = final.get(SCRAPE_TIMEOUT, settings[SCRAPE_TIMEOUT])
    if (interval, timeout) == (settings[SCRAPE_INTERVAL], settings[SCRAPE_TIMEOUT]):
        return None  # the values sdgen set, already validated with the config
    interval_ms = _milliseconds(interval, "interval")
    if isinstance(interval_ms, str):
        return interval_ms
    timeout_ms = _milliseconds(timeout, "timeout")
    if isinstance(timeout_ms, str):
        return timeout_ms
    if timeout_ms > interval_ms:
        return f'scrape timeout cannot be greater than scrape interval ("{timeout}" > "{interval}")'
    return None


def _milliseconds(text: str, setting: str) -> int | str:
    """A scrape interval or timeout in milliseconds, or Prometheus's complaint about it."""
    try:
        ms = parse_duration(text)
    except DurationError as err:
        return f"error parsing scrape {setting}: {err}"
    return ms if ms else f"scrape {setting} cannot be 0"
