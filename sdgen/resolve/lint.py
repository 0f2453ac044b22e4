"""Lint warnings: a config that is valid but, against this cluster, scrapes nothing or twice.

The Prometheus Operator says nothing when a selector matches nothing or an endpoint names a
port no pod has; these are the commonest reasons a pod is not scraped. Each warning is an
`Issue` of severity WARNING, placed like a parse problem (file:line, field path):

* a selector that matches no object (or a namespaceSelector no namespace);
* an endpoint port that no selected object has;
* a ServiceMonitor whose Services have no EndpointSlices;
* the same address and path scraped by two endpoints (duplicate series);
* a scrapeTimeout longer than a scrape interval that relabeling sets (Prometheus refuses
  those targets).

The first three read a resolution's funnel counts, the fourth its targets, the last only the
config; so linting costs a resolve that was made anyway. A `Linter` remembers each endpoint's
scraped addresses by the identity of its lines, so a long-lived one redoes what changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import combinations

from sdgen.config.model import Config, Issue, Target, TargetType
from sdgen.prom.duration import DurationError, format_duration, parse_duration
from sdgen.prom.relabel import RelabelAction, RelabelRule
from sdgen.resolve.funnel import Funnel, rule_ref
from sdgen.resolve.pipeline import (
    METRICS_PATH,
    SCRAPE_INTERVAL,
    SCRAPE_TIMEOUT,
    ScrapeTarget,
    default_timeout,
)
from sdgen.resolve.resolver import EndpointTargets, Resolution
from sdgen.resolve.scope import active_targets

_Key = tuple[str, str]  # a target's address and metrics path
_Scraped = frozenset[_Key]  # what an endpoint's targets scrape
_SHOWN = 3  # addresses named in a duplicate warning
_PATHS = 1024  # metrics paths a Linter shares one string of


_Endpoint = tuple[str, int]  # (target name, endpoint index)


class Linter:
    """`lint` again and again. What an endpoint scrapes is remembered by the identity of its
    lines (the same list while unchanged, see sdgen.resolve.targetset), and each line's
    address and path, so a cycle decodes only new lines. Duplicates come from an index of
    which endpoints scrape each address and path, updated for the endpoints that changed:
    comparing every pair of endpoints took over a minute per cycle at 5,000 (issue 17)."""

    def __init__(self) -> None:
        self._scraped: dict[_Endpoint, tuple[Sequence[bytes], _Scraped, dict[bytes, _Key]]] = {}
        self._indexed: dict[_Endpoint, _Scraped] = {}  # what `_owners` holds of each endpoint
        # Who scrapes an address and path: the one endpoint, or (in `_shared`) the two or
        # more. Nearly every key has one owner, and a set per key would be most of the index.
        self._owners: dict[_Key, _Endpoint] = {}
        self._shared: dict[_Key, set[_Endpoint]] = {}
        self._paths: dict[str, str] = {}  # one string per metrics path, not one per target

    def __call__(self, config: Config, resolution: Resolution) -> tuple[Issue, ...]:
        found: list[Issue] = []
        for target in active_targets(config):
            funnel = resolution.funnels.get(target.name)
            if funnel is not None:
                found.extend(_selection(config, target, funnel))
            found.extend(config.locations.issue(target.name, *w) for w in _timeouts(target))
        found.extend(self._duplicates(config, resolution.endpoints))
        return tuple(sorted(found, key=lambda i: (i.line or 0, i.path, i.message)))

    def _duplicates(self, config: Config, endpoints: Sequence[EndpointTargets]) -> Iterator[Issue]:
        """Per pair of endpoints scraping an address and path both: one warning, on the later."""
        scraped = {(et.target.name, et.index): self._scraped_by(et) for et in endpoints}
        self._scraped = {k: v for k, v in self._scraped.items() if k in scraped}
        for gone in [e for e in self._indexed if e not in scraped]:
            self._index(gone, self._indexed.pop(gone), frozenset())
        for endpoint, keys in scraped.items():
            if self._indexed.get(endpoint) is not keys:
                self._index(endpoint, self._indexed.get(endpoint, frozenset()), keys)
                self._indexed[endpoint] = keys
        order = {endpoint: i for i, endpoint in enumerate(scraped)}
        both: dict[tuple[_Endpoint, _Endpoint], set[_Key]] = {}
        for key, owners in self._shared.items():
            for pair in combinations(sorted(owners, key=order.__getitem__), 2):
                both.setdefault(pair, set()).add(key)
        for (a, b), common in sorted(both.items(), key=lambda p: (order[p[0][0]], order[p[0][1]])):
            yield _duplicate(config, endpoints[order[a]], endpoints[order[b]], frozenset(common))

    def _index(self, endpoint: _Endpoint, old: _Scraped, new: _Scraped) -> None:
        """Move `endpoint` in the index from the keys `old` to the keys `new`."""
        single, shared = self._owners, self._shared
        for key in old - new:
            owners = shared.get(key)
            if owners is None:
                del single[key]
                continue
            owners.discard(endpoint)
            if len(owners) == 1:
                single[key] = owners.pop()
                del shared[key]
        for key in new - old:
            owners = shared.get(key)
            if owners is not None:
                owners.add(endpoint)
            elif (first := single.pop(key, None)) is not None:
                shared[key] = {first, endpoint}
            else:
                single[key] = endpoint

    def _scraped_by(self, et: EndpointTargets) -> _Scraped:
        known = self._scraped.get((et.target.name, et.index))
        if known is not None and known[0] is et.lines:
            return known[1]
        old = known[2] if known is not None else {}
        keys: dict[bytes, _Key] = {}
        for line in et.lines:
            key = old.get(line)
            if key is None:
                target = ScrapeTarget.decode(line)
                path = target.labels.get(METRICS_PATH, "")
                if len(self._paths) > _PATHS:
                    self._paths.clear()  # paths unique per target: sharing saves nothing
                key = (target.address, self._paths.setdefault(path, path))
            keys[line] = key
        scraped = frozenset(keys.values())
        self._scraped[et.target.name, et.index] = (et.lines, scraped, keys)
        return scraped


def _duplicate(config: Config, a: EndpointTargets, b: EndpointTargets, both: _Scraped) -> Issue:
    shown = ", ".join(f"{address}{path}" for address, path in sorted(both)[:_SHOWN])
    other = "this target" if a.target.name == b.target.name else f'target "{a.target.name}"'
    message = (
        f"{len(both)} address(es) and path(s) also scraped by {other} "
        f"endpoints[{a.index}], so their series are scraped twice ({shown})"
    )
    return config.locations.issue(b.target.name, f"endpoints[{b.index}]", message)


def lint(config: Config, resolution: Resolution) -> tuple[Issue, ...]:
    """The lint warnings of `config` as `resolution` (resolved with funnel counts) found it."""
    return Linter()(config, resolution)


def _selection(config: Config, target: Target, funnel: Funnel) -> Iterator[Issue]:
    """What selects nothing: the namespaces, the objects, a ServiceMonitor's slices, a port."""
    if target.type is TargetType.STATIC_ENDPOINTS:
        return
    issue = config.locations.issue
    service = funnel.services_selected is not None
    what = "Service" if service else "pod (running, with an IP)"
    if funnel.namespaces_selected == 0:
        yield issue(target.name, "namespaceSelector", "matches no namespace")
        return
    if (funnel.services_selected if service else funnel.objects_selected) == 0:
        where = f"in the {funnel.namespaces_selected} namespace(s) selected"
        yield issue(target.name, "selector", f"matches no {what} {where}")
        return
    if service and funnel.objects_selected == 0:
        message = f"the {funnel.services_selected} Service(s) it matches have no EndpointSlices"
        yield issue(target.name, "selector", message)
        return
    for i, (endpoint, counts) in enumerate(zip(target.endpoints, funnel.endpoints, strict=True)):
        if counts.sources and not counts.candidates:
            field, port = (
                ("targetPort", endpoint.target_port)
                if endpoint.port is None
                else ("port", endpoint.port)
            )
            objects = "EndpointSlice of the selected Services" if service else "selected pod"
            yield issue(target.name, f"endpoints[{i}].{field}", f'no {objects} has port "{port}"')


def _timeouts(target: Target) -> Iterator[tuple[str, str]]:
    """(steps, message) where a rule sets a scrape interval below the scrape timeout."""
    for i, endpoint in enumerate(target.endpoints):
        timeout = endpoint.timeout_ms or default_timeout(endpoint.interval_ms)
        rules = (*target.relabelings, *endpoint.relabelings)
        for index, interval in _constant_intervals(rules, timeout):
            rule = rule_ref(target, i, index)
            if endpoint.timeout_ms:
                where, written = f"endpoints[{i}].timeout", "scrapeTimeout"
            else:
                where, written = f"endpoints[{i}]", "the default scrape timeout"
            yield (
                where,
                f"{written} {format_duration(timeout)} is longer than the scrape interval "
                f"{format_duration(interval)} that {rule} sets; Prometheus refuses those targets",
            )


@lru_cache(maxsize=256)
def _constant_intervals(
    rules: tuple[RelabelRule, ...], timeout: int
) -> tuple[tuple[int, int], ...]:
    """(rule index, interval ms) per rule that sets a fixed interval below the timeout then
    in force (a rule may set a fixed timeout too)."""
    found = []
    for index, rule in enumerate(rules):
        if rule.action.lower() != RelabelAction.REPLACE or "$" in rule.replacement:
            continue
        try:
            value = parse_duration(rule.replacement)
        except DurationError:
            continue  # not a duration: the target is refused, and that is warned about
        if rule.target_label == SCRAPE_TIMEOUT:
            timeout = value
        elif rule.target_label == SCRAPE_INTERVAL and 0 < value < timeout:
            found.append((index, value))
    return tuple(found)
