"""Lint warnings, one table row per kind, on the corner-case cluster of tests/data/targets
(plus a Service without EndpointSlices): each located by line and field path."""

from __future__ import annotations

import time

import pytest

from sdgen.config.document import parse_config
from sdgen.config.model import Severity
from sdgen.k8s.records import ObjectMeta, Service, ServicePort, ServiceSpec
from sdgen.k8s.view import StaticCluster
from sdgen.resolve.lint import Linter, lint
from sdgen.resolve.resolver import Resolver, resolve
from tests.resolve.test_resolver import CLUSTER

LONELY = Service(
    ObjectMeta(name="lonely", namespace="shop", labels={"app": "lonely"}),
    ServiceSpec(ports=[ServicePort("metrics", 9090, 9090)]),
)
SHOP = "namespaceSelector: {matchNames: [shop]}"
RULES = "\n    relabelings:"
INTERVAL_5S = "\n    - {targetLabel: __scrape_interval__, replacement: 5s}"
TIMEOUT_2S = "\n    - {targetLabel: __scrape_timeout__, replacement: 2s}"


def _services(selector: str, endpoints: str) -> str:
    return (
        f"- targetName: t\n  type: ServiceMonitor\n  {SHOP}\n  selector: {selector}\n"
        f"  endpoints:{endpoints}\n"
    )


def _cluster() -> StaticCluster:
    pods = CLUSTER.pod_map(None).values()
    services = [*CLUSTER.service_map(None).values(), LONELY]
    return StaticCluster.from_objects(
        pods, services, CLUSTER.slice_map(None).values(), CLUSTER.namespaces().values()
    )


def _pods(name: str, selector: str, endpoint: str, extra: str = "") -> str:
    return (
        f"- targetName: {name}\n  type: PodMonitor\n  {SHOP}\n  selector: {selector}\n"
        f"{extra}  endpoints:\n  - {endpoint}\n"
    )


WEB_PODS = _pods("web", "{matchLabels: {app: web}}", "port: metrics")
CASES = [
    ("a clean config", WEB_PODS, []),
    (
        "a selector matching nothing",
        _pods("t", "{matchLabels: {app: nothing}}", "port: metrics"),
        [(5, "targets[0].selector", "matches no pod (running, with an IP) in the 1 namespace")],
    ),
    (
        "a namespaceSelector matching no namespace",
        "- targetName: t\n  type: PodMonitor\n  namespaceSelector: {matchLabels: {team: none}}\n"
        "  selector: {}\n  endpoints: [{port: metrics}]\n",
        [(4, "targets[0].namespaceSelector", "matches no namespace")],
    ),
    (
        "a port no selected pod has",
        _pods("t", "{matchLabels: {app: web}}", "port: nope"),
        [(7, "targets[0].endpoints[0].port", 'no selected pod has port "nope"')],
    ),
    (
        "a ServiceMonitor's port no slice has",
        _services("{matchLabels: {app: web}}", "\n  - targetPort: nope"),
        [(7, "targets[0].endpoints[0].targetPort", "no EndpointSlice of the selected Services")],
    ),
    (
        "Services without EndpointSlices",
        _services("{matchLabels: {app: lonely}}", " [{port: metrics}]"),
        [(5, "targets[0].selector", "the 1 Service(s) it matches have no EndpointSlices")],
    ),
    (
        "two targets scraping the same address and path",
        WEB_PODS + _pods("again", "{matchLabels: {app: web}}", "port: metrics"),
        [(13, "targets[1].endpoints[0]", 'also scraped by target "web" endpoints[0]')],
    ),
    (
        "the same address on another path is no duplicate",
        WEB_PODS + _pods("other", "{matchLabels: {app: web}}", "{port: metrics, path: /x}"),
        [],
    ),
    (
        "a scrape timeout above the interval a rule sets",
        _pods(
            "t",
            "{matchLabels: {app: web}}",
            "{port: metrics, scrapeTimeout: 20s, interval: 1m}",
            "  relabelings:\n  - {targetLabel: __scrape_interval__, replacement: 15s}\n",
        ),
        [
            (
                9,
                "targets[0].endpoints[0].scrapeTimeout",
                "20s is longer than the scrape interval 15s that relabelConfigs[0] sets",
            )
        ],
    ),
    (
        "the default timeout counts too; a rule setting the timeout as well is fine",
        _pods(
            "t",
            "{matchLabels: {app: web}}",
            "port: metrics" + RULES + INTERVAL_5S,
        )
        + _pods(
            "u",
            "{matchLabels: {app: secure}}",
            "port: metrics" + RULES + TIMEOUT_2S + INTERVAL_5S,
        ),
        [
            (
                7,
                "targets[0].endpoints[0]",
                "the default scrape timeout 10s is longer than the scrape interval 5s that "
                "endpoints[0].relabelings[0] sets",
            )
        ],
    ),
]


@pytest.mark.parametrize(("targets", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint_warnings(targets: str, expected: list[tuple[int, str, str]]) -> None:
    config = parse_config("targets:\n" + targets)
    assert not config.issues, config.issues
    issues = lint(config, resolve(config, _cluster(), default_namespace="default"))
    assert all(i.severity is Severity.WARNING for i in issues)
    assert [(i.line, i.path) for i in issues] == [(line, path) for line, path, _ in expected]
    for issue, (_, _, message) in zip(issues, expected, strict=True):
        assert message in issue.message, issue


def test_a_long_lived_linter_finds_what_a_fresh_one_finds() -> None:
    config = parse_config("targets:\n" + WEB_PODS + _pods("again", "{}", "port: metrics"))
    resolver, linter = Resolver(default_namespace="default"), Linter()
    cluster = _cluster()
    first = linter(config, resolver(config, cluster))
    assert first == lint(config, resolve(config, cluster, default_namespace="default"))
    assert "1 address(es)" in first[0].message
    fewer = StaticCluster.from_objects(
        [p for p in cluster.pod_map(None).values() if p.metadata.name != "web-0"],
        cluster.service_map(None).values(),
        cluster.slice_map(None).values(),
        cluster.namespaces().values(),
    )
    after = linter(config, resolver(config, fewer))
    assert after == lint(config, resolve(config, fewer, default_namespace="default"))
    assert [i.path for i in after] == ["targets[0].selector"], "no duplicates left"
    assert linter(config, resolver(config, cluster)) == first, "and back"
    assert linter(config, resolver(config, cluster)) == first, "unchanged"


def test_duplicates_are_found_without_comparing_every_pair_of_endpoints() -> None:
    """Issue 17, item 8: every pair of endpoints was intersected on every cycle, 12.5M pairs
    at 5,000 endpoints (over a minute per cycle). Endpoints that share nothing are never
    paired now. The bound below is over 50 times what the check takes; comparing every pair
    took many times longer."""
    count = 4000
    shared = {7: ", 1.1.1.1:1", 9: ", 1.1.1.1:1"}  # s7 and s9 scrape one address both
    text = "targets:\n" + "".join(
        f"- targetName: s{i}\n  type: StaticEndpoints\n"
        f"  endpoints: [{{addresses: ['10.0.{i >> 8}.{i & 255}:1'{shared.get(i, '')}]}}]\n"
        for i in range(count)
    )
    config = parse_config(text)
    resolution = resolve(config, None, default_namespace="default")
    linter = Linter()
    started = time.perf_counter()
    issues = linter(config, resolution)
    assert time.perf_counter() - started < 2.0
    assert [(i.path, i.message.split(",")[0]) for i in issues] == [
        (
            "targets[9].endpoints[0]",
            '1 address(es) and path(s) also scraped by target "s7" endpoints[0]',
        )
    ]
    assert linter(config, resolution) == issues


def _static(addresses: list[list[str]]) -> str:
    return "targets:\n" + "".join(
        f"- targetName: s{i}\n  type: StaticEndpoints\n  endpoints: [{{addresses: {a}}}]\n"
        for i, a in enumerate(addresses)
    )


def test_a_long_lived_linter_follows_addresses_gaining_and_losing_owners() -> None:
    """One owner, two, three, then back down and moved: each cycle's warnings are a fresh
    linter's (the index keeps a key's one owner apart from a key's several)."""
    steps = [
        [["1.1.1.1:1"], ["2.2.2.2:2"], ["3.3.3.3:3"]],
        [["1.1.1.1:1"], ["1.1.1.1:1"], ["3.3.3.3:3"]],
        [["1.1.1.1:1"], ["1.1.1.1:1"], ["1.1.1.1:1", "3.3.3.3:3"]],
        [["4.4.4.4:4"], ["1.1.1.1:1"], ["1.1.1.1:1", "3.3.3.3:3"]],
        [["4.4.4.4:4"], ["3.3.3.3:3"], ["1.1.1.1:1", "3.3.3.3:3"]],
        [["3.3.3.3:3"], ["4.4.4.4:4"], []],
        [["1.1.1.1:1"], ["2.2.2.2:2"], ["3.3.3.3:3"]],
    ]
    linter, resolver = Linter(), Resolver(default_namespace="default")
    for step, addresses in enumerate(steps):
        config = parse_config(_static(addresses))
        expected = lint(config, resolve(config, None, default_namespace="default"))
        assert linter(config, resolver(config, None)) == expected, step
        assert bool(expected) == (step in (1, 2, 3, 4)), step
