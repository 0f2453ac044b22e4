"""One endpoint's discovered candidates → the scrape targets Prometheus would create.

The second half of resolving (`resolver`, `selection` and `candidates` do the first: which
objects, which rules, what is reused): the special labels from the scrape settings, the
relabeling, `instance` defaulting to the address, internal labels stripped, Prometheus's own
target validity checks, and this shard's filter. Its own module because it is the
per-candidate hot path and knows nothing of configs at large, the cluster or the
incremental memo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from types import MappingProxyType
from typing import NamedTuple

import msgspec

from sdgen.config.model import Endpoint, Scheme, Target
from sdgen.k8s import metalabels
from sdgen.prom.duration import DurationError, format_duration, parse_duration
from sdgen.prom.relabel import (
    CompiledRule,
    Observed,
    RelabelTrace,
    dropping_rule,
    relabel_in_place,
    trace,
)
from sdgen.resolve.candidates import Candidate, Source
from sdgen.resolve.funnel import rule_ref

__all__ = [
    "CandidateFate",
    "CandidateOutcome",
    "CandidatePipeline",
    "ScrapeTarget",
    "SourceTargets",
    "default_timeout",
    "encode_group",
]

SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM = "__param_"
_KEPT = frozenset({SCHEME, METRICS_PATH, SCRAPE_INTERVAL, SCRAPE_TIMEOUT})
_DEFAULT_TIMEOUT_MS = 10_000  # Prometheus's global scrape_timeout, capped at the interval
_NOTHING: Mapping[str, str] = MappingProxyType({})
_ORDERS_LIMIT = 1024  # label-name sets remembered per endpoint; targets share a few
_NAMES_LIMIT = 16384  # label names remembered per rule list


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """`labels`: the file_sd group's labels, sorted (no `__address__`: that is `address`);
    `discovered`: the labels before relabeling, as Prometheus shows discoveredLabels (empty
    when the resolver was told not to keep them)."""

    address: str
    labels: Mapping[str, str]
    discovered: Mapping[str, str]

    @property
    def line(self) -> bytes:
        return encode_group(self.address, self.labels)

    @classmethod
    def decode(cls, line: bytes) -> ScrapeTarget:
        """The target an encoded group describes (without discovered labels)."""
        group = _GROUP.decode(line)
        return cls(group.targets[0], group.labels, _NOTHING)


def encode_group(address: str, labels: Mapping[str, str], buffer: bytearray | None = None) -> bytes:
    """One file_sd group as the targets file holds it: `{"targets":[..],"labels":{..}}`,
    labels in the given (sorted) order. Sorting these lines sorts targets by address.

    `buffer`: scratch space a caller that encodes many groups on one thread reuses. The line
    is copied out of it at its exact size: msgspec's own `encode` leaves each bytes object
    with the slack of its growing buffer (about a fifth more), and a sidecar keeps a line per
    target for as long as the target lives.

    Never holds the bytes `%{`: vmagent expands `%{ENV_VAR}` in the raw bytes of the file_sd
    files it reads, so a label value such as an
    annotation holding `%{` is written `\\u0025{`, which every JSON reader decodes to `%{`."""
    group = {"targets": [address], "labels": labels if isinstance(labels, dict) else dict(labels)}
    try:
        _ENCODER.encode_into(group, buffer := bytearray() if buffer is None else buffer)
        line = bytes(buffer)
    except UnicodeEncodeError:  # a lone surrogate: only an escaping encoder can write it
        line = json.dumps(group, separators=(",", ":")).encode("ascii")
    return line.replace(b"%{", b"\\u0025{") if b"%{" in line else line


class _Group(msgspec.Struct):
    targets: list[str]
    labels: dict[str, str]


_ENCODER = msgspec.json.Encoder()
_GROUP = msgspec.json.Decoder(_Group)


class SourceTargets(NamedTuple):  # a tuple: made per source, far cheaper than a dataclass
    """What one source's candidates became for one endpoint, its contribution to the
    endpoint's `TargetSet`: the encoded groups (`lines`) of the targets it kept, and those
    targets themselves only when discovered labels are kept (a sidecar keeps just the lines:
    they are what it writes); and its funnel counts (sdgen.resolve.funnel)."""

    lines: tuple[bytes, ...]
    kept: tuple[ScrapeTarget, ...]
    dropped: tuple[str, ...]  # why each refused target was refused
    warnings: tuple[str, ...]
    candidates: int = 0
    relabel_drops: tuple[int, ...] = ()  # the index of the rule that dropped each dropped one
    shard_drops: int = 0


class CandidatePipeline:
    """One endpoint's candidates → scrape targets, per source: special labels, the rules
    (sdgen.prom.relabel does the relabeling), `instance`, internal labels stripped,
    validity, this shard's filter."""

    def __init__(
        self,
        target: Target,
        index: int,
        endpoint: Endpoint,
        rules: tuple[CompiledRule, ...],
        *,
        keep_meta: bool,
        keeps: Callable[[str, str | None], bool] | None,
        keep_discovered: bool = True,
    ) -> None:
        """`keeps`: whether this shard keeps a target, by its final address and its source's
        namespace (`Shard.keeps`); None keeps all.
        `keep_discovered`: False leaves `discovered` empty and keeps nothing of a candidate."""
        self.settings = settings = _settings(target, endpoint)
        self.by_scheme = {
            https: {**settings, SCHEME: _scheme(endpoint, https)} for https in (False, True)
        }
        self.rules = rules
        self.keep_meta, self.keeps, self.keep_discovered = keep_meta, keeps, keep_discovered
        self.wanted = None if keep_meta else _wanted(rules)
        self.public = _PublicNames(keep_meta)
        self.warnings: list[str] = []
        self.warn = _rule_warner(target, index, self.warnings)
        self._buffer = bytearray()  # encode_group's scratch space; one thread calls a pipeline

    def __call__(self, source: Source) -> SourceTargets:
        lines: list[bytes] = []
        kept: list[ScrapeTarget] = []
        dropped: list[str] = []
        relabel_drops: list[int] = []
        shard_drops = 0
        index = -1
        self.warnings.clear()
        for index, candidate in enumerate(source.candidates()):
            special = self.by_scheme[candidate.https]
            if self.rules or self.keep_meta:
                final = _merged(candidate, special, self.wanted)
                rule = dropping_rule(final, self.rules, self.warn)
                if rule is not None:
                    relabel_drops.append(rule)
                    continue
            else:  # nothing reads the meta labels: skip building them
                final = {**special, **candidate.standard, metalabels.ADDRESS: candidate.address}
            address = final.get(metalabels.ADDRESS, "")
            problem = _invalid(address, final, self.settings)
            if problem is not None:
                dropped.append(problem)
            elif self.keeps is None or self.keeps(address, source.namespace):
                labels = _public(final, address, self.public)
                lines.append(encode_group(address, labels, self._buffer))
                if self.keep_discovered:
                    found = _Discovered(source.candidates, index, self.by_scheme)
                    kept.append(ScrapeTarget(address, labels, found))
            else:
                shard_drops += 1
        return SourceTargets(
            tuple(lines),
            tuple(kept),
            tuple(dropped),
            tuple(self.warnings),
            index + 1,
            tuple(relabel_drops),
            shard_drops,
        )

    def fate(
        self, candidate: Candidate, *, quick: bool = False, namespace: str | None = None
    ) -> CandidateFate:
        """What `__call__` does with one candidate, step by step, for `sdgen explain`: the
        relabel trace over all its labels, validity, this shard's filter. Slow (the trace
        copies the labels per rule); the outcome and labels are `__call__`'s.

        `quick`: for counting many candidates, relabel as `__call__` does, and trace only a
        candidate that is dropped (to name the rule); a kept one then has no trace steps and
        only its address as discovered labels. `namespace`: the source's (`Source.namespace`)."""
        special = self.by_scheme[candidate.https]
        if quick:
            kept_labels = _merged(candidate, special, self.wanted)
            if relabel_in_place(kept_labels, self.rules):
                address_only = {metalabels.ADDRESS: candidate.address}
                return self._after_relabel(address_only, RelabelTrace((), kept_labels), namespace)
        merged = _merged(candidate, special, None)
        traced = trace(merged, self.rules)
        return self._after_relabel({k: v for k, v in merged.items() if v}, traced, namespace)

    def _after_relabel(
        self, discovered: Mapping[str, str], traced: RelabelTrace, namespace: str | None
    ) -> CandidateFate:
        if traced.labels is None:
            return CandidateFate(discovered, traced, CandidateOutcome.DROPPED)
        final = dict(traced.labels)
        address = final.get(metalabels.ADDRESS, "")
        problem = _invalid(address, final, self.settings)
        if problem is not None:
            return CandidateFate(discovered, traced, CandidateOutcome.INVALID, address, problem)
        labels = _public(final, address, self.public)
        kept = self.keeps is None or self.keeps(address, namespace)
        outcome = CandidateOutcome.WRITTEN if kept else CandidateOutcome.FILTERED_BY_SHARD
        return CandidateFate(discovered, traced, outcome, address, None, labels)


class CandidateOutcome(StrEnum):
    """What became of one candidate (`sdgen explain`'s words)."""

    WRITTEN = "written"
    DROPPED = "dropped"  # by a relabel rule
    FILTERED_BY_SHARD = "filtered_by_shard"  # another shard's
    INVALID = "invalid"  # Prometheus would refuse to create the target


@dataclass(frozen=True, slots=True)
class CandidateFate:
    """One candidate through the pipeline (`CandidatePipeline.fate`): the labels it started
    with, the relabel trace, the outcome; the final address unless dropped; why Prometheus
    would refuse it when invalid; the file_sd labels when written or another shard's."""

    discovered: Mapping[str, str]
    trace: RelabelTrace
    outcome: CandidateOutcome
    address: str = ""
    problem: str | None = None
    labels: Mapping[str, str] | None = None

    @property
    def line(self) -> bytes | None:
        """The encoded file_sd group, as the targets file holds it."""
        return None if self.labels is None else encode_group(self.address, self.labels)


def _settings(target: Target, endpoint: Endpoint) -> dict[str, str]:
    """`job` and the endpoint's scrape settings as Prometheus's special labels."""
    timeout = endpoint.timeout_ms
    if timeout is None:
        timeout = default_timeout(endpoint.interval_ms)
    out = {
        METRICS_PATH: endpoint.path,
        SCRAPE_INTERVAL: format_duration(endpoint.interval_ms),
        SCRAPE_TIMEOUT: format_duration(timeout),
        "job": target.job_label,
    }
    out.update((PARAM + key, values[0]) for key, values in endpoint.params if values)
    return out


def default_timeout(interval_ms: int) -> int:
    """An endpoint's scrape timeout when it gives none: Prometheus's global one, capped."""
    return min(_DEFAULT_TIMEOUT_MS, interval_ms)


def _scheme(endpoint: Endpoint, https_port: bool) -> str:
    return endpoint.scheme or Scheme.default(https_port).value


def _rule_warner(target: Target, index: int, sink: list[str]) -> Callable[[int, str], None]:
    def warn(rule: int, message: str) -> None:
        sink.append(f"{target.name}: {rule_ref(target, index, rule)}: {message}")

    return warn


class _PublicNames(dict[str, bool]):
    """Memo: does a label name go into the file_sd group? No `__` name does but the scrape
    settings (and `__meta_*` ones when kept). Names repeat across targets; the check doesn't.
    `order` remembers, per set of label names, the public ones sorted: targets share them."""

    def __init__(self, keep_meta: bool) -> None:
        super().__init__()
        self.keep_meta = keep_meta
        self.orders: dict[tuple[str, ...], tuple[str, ...]] = {}

    def order(self, names: tuple[str, ...]) -> tuple[str, ...]:
        found = self.orders.get(names)
        if found is None:
            if len(self.orders) >= _ORDERS_LIMIT:
                self.orders.clear()
            found = self.orders[names] = tuple(sorted(n for n in names if self[n]))
        return found

    def __missing__(self, name: str) -> bool:
        public = not name.startswith("__") or name in _KEPT or name.startswith(PARAM)
        public = public or (self.keep_meta and name.startswith(metalabels.META))
        self[name] = public
        return public


def _public(final: dict[str, str], address: str, public: _PublicNames) -> dict[str, str]:
    """The file_sd labels, sorted; an empty value is a missing label; `instance` defaults
    to the address. `final` is the caller's to change."""
    if not final.get("instance"):
        final["instance"] = address
    return {name: final[name] for name in public.order(tuple(final)) if final[name]}


class _Wanted(metalabels.LabelFilter):
    """The input labels relabeling needs built: all but the meta labels the rules cannot
    observe (those never reach the output unless kept, and then every label is wanted)."""

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        super().__init__()
        self.observed = Observed(rules)

    def __missing__(self, name: str) -> bool:
        if len(self) >= _NAMES_LIMIT:  # names repeat, but bound the memo all the same
            self.clear()
        wanted = self[name] = not name.startswith(metalabels.META) or self.observed[name]
        return wanted


@lru_cache(maxsize=1024)
def _wanted(rules: tuple[CompiledRule, ...]) -> _Wanted:
    """Per rule list, reused across resolves: label names repeat, and so do rule lists."""
    return _Wanted(rules)


def _merged(
    candidate: Candidate, special: Mapping[str, str], wanted: metalabels.Wanted
) -> dict[str, str]:
    """The labels relabeling starts from (only the `wanted` meta labels), in merge order."""
    out = candidate.meta(wanted)
    out.update(special)
    out.update(candidate.standard)
    return out


class _Discovered(Mapping[str, str]):
    """A target's labels before relabeling, as Prometheus shows discoveredLabels: built when
    first read, then kept, from the `index`-th of its source's candidates, made again. The
    source's records are immutable, so that is the same candidate; meanwhile nothing of it
    is kept (a source's targets share the source)."""

    __slots__ = ("_by_scheme", "_candidates", "_index", "_labels")

    def __init__(
        self,
        candidates: Callable[[], Iterator[Candidate]],
        index: int,
        by_scheme: Mapping[bool, Mapping[str, str]],
    ) -> None:
        self._candidates, self._index, self._by_scheme = candidates, index, by_scheme
        self._labels: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        if self._labels is None:
            candidate = next(islice(self._candidates(), self._index, None))
            merged = _merged(candidate, self._by_scheme[candidate.https], None)
            self._labels = {k: v for k, v in merged.items() if v}  # "" means missing
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
