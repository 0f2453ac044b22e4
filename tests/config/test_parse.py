"""The scrape-config parser: good configs give these model values, bad ones these located issues."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdgen.config.document import parse_config
from sdgen.config.manifest import load_configmap_key
from sdgen.config.model import (
    Authorization,
    BasicAuth,
    Config,
    Endpoint,
    Target,
    TargetType,
    TLSConfig,
)
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector, Requirement
from sdgen.prom.relabel import RelabelRule
from tests.support.helpers import REPO

DATA = REPO / "tests/data/config"
POD = TargetType.POD_MONITOR
SVC = TargetType.SERVICE_MONITOR
STATIC = TargetType.STATIC_ENDPOINTS
APP = LabelSelector((("app", "demo-app"),))


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text))


def messages(config: Config) -> list[str]:
    return [issue.format("f") for issue in config.issues]


def only_target(text: str) -> Target:
    config = parse(text)
    assert config.errors == (), messages(config)
    assert len(config.targets) == 1
    return config.targets[0]


def pod(endpoints: str, extra: str = "", top: str = "") -> str:
    """A layout-B document with one PodMonitor `demo` selecting app=demo-app."""
    return (
        top
        + "targets:\n  - targetName: demo\n    type: PodMonitor\n"
        + "    selector: {matchLabels: {app: demo-app}}\n"
        + textwrap.indent(textwrap.dedent(extra), "    ")
        + "    endpoints:\n"
        + textwrap.indent(textwrap.dedent(endpoints), "      ")
    )


GOOD = [
    (
        "minimal PodMonitor: defaults applied",
        pod("- port: metrics\n"),
        Target("demo", POD, (Endpoint(port="metrics"),), selector=APP),
    ),
    (
        "port number kept as text",
        pod("- port: 9400\n"),
        Target("demo", POD, (Endpoint(port="9400"),), selector=APP),
    ),
    (
        "scrapingInterval is the default interval",
        pod("- {port: m}\n- {port: n, interval: 1m}\n", top="scrapingInterval: 45s\n"),
        Target(
            "demo",
            POD,
            (Endpoint(port="m", interval_ms=45_000), Endpoint(port="n", interval_ms=60_000)),
            selector=APP,
        ),
    ),
    (
        "globalInterval is an alias; it beats global.scrape_interval",
        pod("- {port: m}\n", top="global: {scrape_interval: 15s}\nglobalInterval: 20s\n"),
        Target("demo", POD, (Endpoint(port="m", interval_ms=20_000),), selector=APP),
    ),
    (
        "global.scrape_interval is the last default",
        pod("- {port: m}\n", top="global: {scrape_interval: 15s}\n"),
        Target("demo", POD, (Endpoint(port="m", interval_ms=15_000),), selector=APP),
    ),
    (
        "globalPath is the default path; scheme, params, timeout alias",
        pod(
            """\
            - port: m
              scheme: https
              scrapeTimeout: 5s
              params: {module: [http_2xx, tcp], target: example.com}
            - {port: n, path: /probe, timeout: 1s}
            """,
            top="globalPath: /custom\n",
        ),
        Target(
            "demo",
            POD,
            (
                Endpoint(
                    port="m",
                    path="/custom",
                    scheme="https",
                    timeout_ms=5000,
                    params=(("module", ("http_2xx", "tcp")), ("target", ("example.com",))),
                ),
                Endpoint(port="n", path="/probe", timeout_ms=1000),
            ),
            selector=APP,
        ),
    ),
    (
        "relabel keys in both styles; action case-insensitive; endpoint aliases",
        pod(
            """\
            - port: m
              relabelConfigs:
                - sourceLabels: [a, b]
                  targetLabel: t
                  separator: "-"
                  regex: "(.+)"
                  replacement: "${1}x"
              metricRelabelings:
                - {source_labels: [__name__], action: Drop, regex: go_.*}
                - {action: hashmod, source_labels: [x], target_label: shard, modulus: 4}
            """
        ),
        Target(
            "demo",
            POD,
            (
                Endpoint(
                    port="m",
                    relabelings=(RelabelRule(("a", "b"), "-", "t", "(.+)", 0, "${1}x"),),
                    metric_relabelings=(
                        RelabelRule(("__name__",), regex="go_.*", action="drop"),
                        RelabelRule(("x",), target_label="shard", modulus=4, action="hashmod"),
                    ),
                ),
            ),
            selector=APP,
        ),
    ),
    (
        "target-level rules: relabelings alias; legacy metric rules run first",
        pod(
            "- port: m\n  metricRelabelConfigs: [{action: labeldrop, regex: own}]\n",
            extra="""\
            relabelings: [{targetLabel: team, replacement: a}]
            metricRelabelConfigs: [{action: labeldrop, regex: legacy}]
            """,
        ),
        Target(
            "demo",
            POD,
            (
                Endpoint(
                    port="m",
                    metric_relabelings=(
                        RelabelRule(regex="legacy", action="labeldrop"),
                        RelabelRule(regex="own", action="labeldrop"),
                    ),
                ),
            ),
            selector=APP,
            relabelings=(RelabelRule(target_label="team", replacement="a"),),
        ),
    ),
    (
        "selectors: matchExpressions, namespace labels; enabled false kept",
        """\
        targets:
          - targetName: demo
            type: ServiceMonitor
            enabled: false
            namespaceSelector:
              matchNames: [demo]
              matchLabels: {team: a}
              matchExpressions: [{key: env, operator: NotIn, values: [dev]}]
            selector:
              matchExpressions:
                - {key: app, operator: In, values: [demo-app, api]}
                - {key: canary, operator: DoesNotExist}
            endpoints: [{targetPort: 8080, honorLabels: true, sampleLimit: 5000}]
        """,
        Target(
            "demo",
            SVC,
            (Endpoint(target_port="8080", honor_labels=True, sample_limit=5000),),
            enabled=False,
            namespace_selector=NamespaceSelector(
                match_names=("demo",),
                labels=LabelSelector((("team", "a"),), (Requirement("env", "NotIn", ("dev",)),)),
            ),
            selector=LabelSelector(
                (),
                (
                    Requirement("app", "In", ("demo-app", "api")),
                    Requirement("canary", "DoesNotExist"),
                ),
            ),
        ),
    ),
    (
        "namespaceSelector any; an empty one means the ConfigMap's namespace",
        """\
        targets:
          - {targetName: demo, type: PodMonitor, selector: {}, namespaceSelector: {any: true},
             endpoints: [{port: m, addNodeLabel: true}]}
        """,
        Target(
            "demo",
            POD,
            (Endpoint(port="m", add_node_label=True),),
            namespace_selector=NamespaceSelector(any=True),
            selector=LabelSelector(),
        ),
    ),
    (
        "empty namespaceSelector is None",
        pod("- port: m\n", extra="namespaceSelector: {matchNames: []}\n"),
        Target("demo", POD, (Endpoint(port="m"),), selector=APP),
    ),
    (
        "StaticEndpoints: address and addresses",
        """\
        targets:
          - targetName: demo
            type: StaticEndpoints
            endpoints:
              - address: "192.0.2.1:9100"
              - addresses: ["[2001:db8::1]:9100", "db.example.com:9187"]
        """,
        Target(
            "demo",
            STATIC,
            (
                Endpoint(addresses=("192.0.2.1:9100",)),
                Endpoint(addresses=("[2001:db8::1]:9100", "db.example.com:9187")),
            ),
        ),
    ),
    (
        "file-based credentials and TLS, both key styles",
        """\
        targets:
          - targetName: demo
            type: StaticEndpoints
            endpoints:
              - address: "h:1"
                bearerTokenFile: /token
                tlsConfig: {insecure_skip_verify: true, serverName: h, ca_file: /ca,
                            certFile: /c, key_file: /k}
              - address: "h:2"
                authorization: {type: Token, credentials_file: /cred}
              - address: "h:3"
                basicAuth: {username: bob, passwordFile: /pw}
        """,
        Target(
            "demo",
            STATIC,
            (
                Endpoint(
                    addresses=("h:1",),
                    authorization=Authorization("Bearer", "/token"),
                    tls=TLSConfig(True, "h", "/ca", "/c", "/k"),
                ),
                Endpoint(addresses=("h:2",), authorization=Authorization("Token", "/cred")),
                Endpoint(addresses=("h:3",), basic_auth=BasicAuth("bob", "/pw")),
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "target"), [pytest.param(t, v, id=n) for n, t, v in GOOD])
def test_good_config(text: str, target: Target) -> None:
    assert only_target(text) == target


def test_merge_keys_and_aliases() -> None:
    text = """\
    targets:
      - targetName: demo
        type: PodMonitor
        selector: &sel {matchLabels: {app: demo-app}}
        namespaceSelector: null
        endpoints:
          - &first {port: m, interval: 10s}
          - {<<: *first, path: /a, scheme: null}
          - <<: [{interval: 5s}, *first]
      - {targetName: other, type: PodMonitor, selector: *sel, endpoints: [*first]}
    """
    config = parse(text)
    assert config.errors == ()
    first = Endpoint(port="m", interval_ms=10_000)
    assert config.targets[0].endpoints == (
        first,
        Endpoint(port="m", path="/a", interval_ms=10_000),
        Endpoint(port="m", interval_ms=5_000),
    )
    assert config.targets[1] == Target("other", POD, (first,), selector=APP)


def test_layouts_a_and_b_give_equal_targets() -> None:
    b = parse((DATA / "layout-b.yaml").read_text())
    a = parse((DATA / "layout-a.yaml").read_text())
    assert a.errors == b.errors == ()
    assert [i.path for i in a.issues] == ["features.openAgent.targets[0].metricRelabelConfigs"]
    assert len(b.targets) == 3
    assert a.targets == b.targets


def test_open_agent_disabled() -> None:
    config = parse("features: {openAgent: {enabled: false, targets: []}}\n")
    assert (config.enabled, config.usable, config.issues) == (False, True, ())


def test_one_bad_target_among_good_ones() -> None:
    config = parse(
        """\
        targets:
          - {targetName: good, type: StaticEndpoints, endpoints: [{address: "h:1"}]}
          - {targetName: bad, type: StaticEndpoints, endpoints: [{address: "h:1", interval: 1x}]}
        """
    )
    assert [t.name for t in config.targets] == ["good"]
    assert config.rejected == {"bad"}
    assert config.usable
    assert [(i.target, i.line) for i in config.errors] == [("bad", 3)]


@pytest.mark.parametrize(
    ("text", "warnings"),
    [
        (
            pod("- {port: m, adaptiveTimeout: {enabled: true}}\n"),
            [
                "f:6: targets[0].endpoints[0].adaptiveTimeout: warning: an openAgent setting "
                "Prometheus has no use for; ignored"
            ],
        ),
        (
            "features:\n  apm: {}\n  openAgent: {imageName: x, targets: []}\n",
            [
                "f:2: features.apm: warning: sdgen reads only features.openAgent; ignored",
                "f:3: features.openAgent.imageName: warning: an openAgent setting Prometheus "
                "has no use for; ignored",
            ],
        ),
        (
            "global: {scrape_interval: 1m, evaluation_interval: 1m}\ntargets: []\n",
            [
                "f:1: global.evaluation_interval: warning: a Prometheus global setting a scrape "
                "config cannot change; ignored"
            ],
        ),
        (
            pod("- port: m\n", extra="metricRelabelConfigs: [{action: labeldrop, regex: x}]\n"),
            [
                "f:5: targets[0].metricRelabelConfigs: warning: deprecated: target-level metric "
                "relabeling applies to every endpoint (before the endpoint's own rules); move it "
                "into the endpoints"
            ],
        ),
    ],
)
def test_warnings_do_not_reject(text: str, warnings: list[str]) -> None:
    config = parse(text)
    assert messages(config) == warnings
    assert config.rejected == frozenset()
    assert config.usable


BAD = [
    # --- unknown fields, wrong types -------------------------------------------------------
    (
        pod("- {port: m, relabelings: [{sourceLabel: [a], targetLabel: b}]}\n"),
        'f:6: targets[0].endpoints[0].relabelings[0].sourceLabel: unknown field "sourceLabel"; '
        'did you mean "sourceLabels"?',
    ),
    (
        pod("- {port: m, Interval: 1m}\n"),
        'f:6: targets[0].endpoints[0].Interval: unknown field "Interval"; did you mean "interval"?',
    ),
    (
        pod("- {port: m, frobnicate: 1}\n"),
        'f:6: targets[0].endpoints[0].frobnicate: unknown field "frobnicate"',
    ),
    (
        pod("- port: m\n", extra='enabled: "yes"\n'),
        "f:5: targets[0].enabled: expected a boolean, got a string",
    ),
    (pod("- {port: [m]}\n"), "f:6: targets[0].endpoints[0].port: expected a string, got a list"),
    (
        pod("- {port: m, path: true}\n"),
        "f:6: targets[0].endpoints[0].path: expected a string, got a boolean",
    ),
    (
        pod("- {port: m, sampleLimit: many}\n"),
        "f:6: targets[0].endpoints[0].sampleLimit: expected an integer, got a string",
    ),
    (
        pod("- {port: m, sampleLimit: !!int x}\n"),
        'f:6: targets[0].endpoints[0].sampleLimit: "x" is not an integer',
    ),
    (
        pod("- {port: m, sampleLimit: -1}\n"),
        "f:6: targets[0].endpoints[0].sampleLimit: must be between 0 and 18446744073709551615",
    ),
    (pod("- {port: 0}\n"), "f:6: targets[0].endpoints[0].port: must be between 1 and 65535"),
    (pod("- {port: 70000}\n"), "f:6: targets[0].endpoints[0].port: must be between 1 and 65535"),
    (pod("- {port: ''}\n"), "f:6: targets[0].endpoints[0].port: must not be empty"),
    (
        pod("- port: m\n", extra="selector: [app]\n").replace(
            "    selector: {matchLabels: {app: demo-app}}\n", ""
        ),
        "f:4: targets[0].selector: expected a mapping, got a list",
    ),
    (
        pod("- {port: m, scheme: HTTPS}\n"),
        (
            'f:6: targets[0].endpoints[0].scheme: "HTTPS" is not one of http, https; did you mean '
            '"https"?'
        ),
    ),
    (
        pod("- {port: m, params: {a: {b: c}}}\n"),
        "f:6: targets[0].endpoints[0].params.a: expected a string, got a mapping",
    ),
    (
        pod("- {port: m, relabelings: {a: b}}\n"),
        "f:6: targets[0].endpoints[0].relabelings: expected a list, got a mapping",
    ),
    # --- durations ----------------------------------------------------------------------------
    (
        pod("- {port: m, interval: 30}\n"),
        'f:6: targets[0].endpoints[0].interval: not a valid duration string: "30"',
    ),
    (
        pod("- {port: m, interval: 1.5m}\n"),
        'f:6: targets[0].endpoints[0].interval: unknown unit "." in duration "1.5m"',
    ),
    (
        pod("- {port: m, interval: 0s}\n"),
        "f:6: targets[0].endpoints[0].interval: scrape interval cannot be 0",
    ),
    (
        pod("- {port: m, timeout: '0'}\n"),
        "f:6: targets[0].endpoints[0].timeout: scrape timeout cannot be 0",
    ),
    (
        pod("- {port: m, interval: 10s, scrapeTimeout: 1m}\n"),
        (
            "f:6: targets[0].endpoints[0].scrapeTimeout: scrape timeout cannot be greater than "
            'scrape interval ("1m" > "10s")'
        ),
    ),
    (
        pod("- {port: m, timeout: 45s}\n"),
        (
            "f:6: targets[0].endpoints[0].timeout: scrape timeout cannot be greater than scrape "
            'interval ("45s" > "30s")'
        ),
    ),
    # --- required fields and type-specific rules ---------------------------------------------
    (
        pod("- {path: /m}\n"),
        'f:6: targets[0].endpoints[0]: missing field "port" (required for PodMonitor)',
    ),
    (
        pod("- {port: m, targetPort: 80}\n"),
        'f:6: targets[0].endpoints[0].targetPort: "targetPort" does not apply to PodMonitor',
    ),
    (
        (
            "targets:\n  - {targetName: s, type: ServiceMonitor, selector: {}, endpoints: [{path: "
            "/m}]}\n"
        ),
        (
            'f:2: targets[0].endpoints[0]: missing field "port" or "targetPort" (required for '
            "ServiceMonitor)"
        ),
    ),
    (
        "targets:\n  - {targetName: s, type: ServiceMonitor, endpoints: [{port: m}]}\n",
        'f:2: targets[0]: missing field "selector" (required for ServiceMonitor)',
    ),
    (
        "targets:\n  - targetName: s\n    type: StaticEndpoints\n    endpoints: [{port: m}]\n",
        [
            (
                'f:4: targets[0].endpoints[0]: missing field "address" or "addresses" (required '
                "for StaticEndpoints)"
            ),
            'f:4: targets[0].endpoints[0].port: "port" does not apply to StaticEndpoints',
        ],
    ),
    (
        (
            "targets:\n  - {targetName: s, type: StaticEndpoints, endpoints: [{address: "
            "'http://h:1/m'}]}\n"
        ),
        (
            'f:2: targets[0].endpoints[0].address: "http://h:1/m" is not a valid host:port address '
            "(scheme and path are separate fields)"
        ),
    ),
    (
        (
            "targets:\n  - {targetName: s, type: StaticEndpoints, endpoints: [{address: 'h:1', "
            "addresses: ['h:2']}]}\n"
        ),
        'f:2: targets[0].endpoints[0].addresses: give "address" or "addresses", not both',
    ),
    (
        "targets:\n  - {targetName: s, type: StaticEndpoints, endpoints: [{addresses: []}]}\n",
        "f:2: targets[0].endpoints[0].addresses: at least one address is required",
    ),
    (
        "targets:\n  - {targetName: s, type: StaticEndpoints, endpoints: []}\n",
        "f:2: targets[0].endpoints: at least one endpoint is required",
    ),
    (
        "targets:\n  - {targetName: s, endpoints: [{address: 'h:1'}]}\n",
        'f:2: targets[0]: missing field "type"',
    ),
    (
        "targets:\n  - {targetName: s, type: podmonitor, selector: {}, endpoints: [{port: m}]}\n",
        (
            'f:2: targets[0].type: "podmonitor" is not one of PodMonitor, ServiceMonitor, '
            'StaticEndpoints; did you mean "PodMonitor"?'
        ),
    ),
    (
        pod(
            "- port: m\n", extra="selector: {matchExpressions: [{key: a, operator: In}]}\n"
        ).replace("    selector: {matchLabels: {app: demo-app}}\n", ""),
        "f:4: targets[0].selector.matchExpressions[0]: values must not be empty for operator In",
    ),
    (
        pod(
            "- port: m\n",
            extra="selector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}\n",
        ).replace("    selector: {matchLabels: {app: demo-app}}\n", ""),
        (
            "f:4: targets[0].selector.matchExpressions[0].values: values must be empty for "
            "operator Exists"
        ),
    ),
    (
        pod(
            "- port: m\n",
            extra="selector: {matchExpressions: [{key: a, operator: in, values: [x]}]}\n",
        ).replace("    selector: {matchLabels: {app: demo-app}}\n", ""),
        (
            'f:4: targets[0].selector.matchExpressions[0].operator: "in" is not one of In, NotIn, '
            'Exists, DoesNotExist; did you mean "In"?'
        ),
    ),
    # --- duplicates and aliases --------------------------------------------------------------
    (
        "targets:\n"
        "  - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}\n"
        "  - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:2'}]}\n",
        [
            'f:2: targets[0].targetName: duplicate targetName "a" (also at line 3)',
            'f:3: targets[1].targetName: duplicate targetName "a" (also at line 2)',
        ],
    ),
    (
        pod("- port: m\n  port: n\n"),
        'f:7: targets[0].endpoints[0].port: duplicate key "port" (first at line 6)',
    ),
    (
        pod("- port: m\n  relabelings: []\n  relabelConfigs: []\n"),
        (
            'f:8: targets[0].endpoints[0].relabelConfigs: "relabelConfigs" and "relabelings" are '
            "the same field; give only one"
        ),
    ),
    # --- credentials --------------------------------------------------------------------------
    (
        pod("- port: m\n  basicAuth:\n    username: u\n    password: {name: s, key: k}\n"),
        (
            "f:9: targets[0].endpoints[0].basicAuth.password: Secret references and inline "
            "credentials are not supported (sdgen does not materialise Secrets): mount the Secret "
            "into the Prometheus pod and set passwordFile"
        ),
    ),
    (
        pod("- port: m\n  basicAuth: {username: {secretKeyRef: {name: s, key: u}}}\n"),
        (
            "f:7: targets[0].endpoints[0].basicAuth.username: Secret references are not supported "
            "(sdgen does not materialise Secrets): write the username as text"
        ),
    ),
    (
        pod("- port: m\n  authorization: {credentials: {name: s, key: k}}\n"),
        [
            'f:7: targets[0].endpoints[0].authorization: missing field "credentialsFile"',
            (
                "f:7: targets[0].endpoints[0].authorization.credentials: Secret references and "
                "inline credentials are not supported (sdgen does not materialise Secrets): mount "
                "the Secret into the Prometheus pod and set credentialsFile"
            ),
        ],
    ),
    (
        pod("- port: m\n  bearerTokenSecret: {name: s, key: token}\n"),
        (
            "f:7: targets[0].endpoints[0].bearerTokenSecret: Secret references and inline "
            "credentials are not supported (sdgen does not materialise Secrets): mount the Secret "
            "into the Prometheus pod and set bearerTokenFile"
        ),
    ),
    (
        pod("- port: m\n  tlsConfig: {certFile: /c, keySecret: {name: s, key: k}}\n"),
        [
            (
                "f:7: targets[0].endpoints[0].tlsConfig.certFile: certFile and keyFile must be "
                "given together"
            ),
            (
                "f:7: targets[0].endpoints[0].tlsConfig.keySecret: Secret references and inline "
                "credentials are not supported (sdgen does not materialise Secrets): mount the "
                "Secret into the Prometheus pod and set keyFile"
            ),
        ],
    ),
    (
        pod("- port: m\n  authorization: {type: Basic, credentialsFile: /x}\n"),
        (
            "f:7: targets[0].endpoints[0].authorization.type: authorization type cannot be "
            '"Basic"; use basicAuth instead'
        ),
    ),
    (
        pod("- port: m\n  bearerTokenFile: /t\n  basicAuth: {username: u, passwordFile: /p}\n"),
        (
            'f:8: targets[0].endpoints[0].basicAuth: give only one of "authorization", '
            '"bearerTokenFile" and "basicAuth"'
        ),
    ),
    # --- relabel rules: Prometheus's own validation -------------------------------------------
    (
        pod("- port: m\n  metricRelabelConfigs:\n    - {sourceLabels: [a], regex: '('}\n"),
        (
            "f:8: targets[0].endpoints[0].metricRelabelConfigs[0].regex: error parsing regexp: "
            "missing closing ): `^(?s:()$`"
        ),
    ),
    (
        pod("- port: m\n  relabelings:\n    - action: hashmod\n      target_label: x\n"),
        (
            "f:8: targets[0].endpoints[0].relabelings[0]: relabel configuration for hashmod "
            "requires non-zero modulus"
        ),
    ),
    (
        pod("- port: m\n  relabelings:\n    - {action: hashmod, target_label: x, modulus: -2}\n"),
        (
            "f:8: targets[0].endpoints[0].relabelings[0].modulus: must be between 0 and "
            "18446744073709551615"
        ),
    ),
    (
        pod(
            "- port: m\n  relabelings:\n    - {action: keepequal, source_labels: [a], "
            "target_label: b, regex: (.*)}\n"
        ),
        (
            "f:8: targets[0].endpoints[0].relabelings[0].regex: keepequal action requires only "
            "'source_labels' and `target_label`, and no other fields"
        ),
    ),
    (
        pod("- port: m\n  relabelings:\n    - {action: labelkeep, sourceLabels: [], regex: a}\n"),
        (
            "f:8: targets[0].endpoints[0].relabelings[0].sourceLabels: labelkeep action requires "
            "only 'regex', and no other fields"
        ),
    ),
    (
        pod("- port: m\n", extra="relabelConfigs: [{action: replace_all}]\n"),
        'f:5: targets[0].relabelConfigs[0].action: unknown relabel action "replace_all"',
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_target(text: str, expected: str | list[str]) -> None:
    config = parse(text)
    errors = [i.format("f") for i in config.errors]
    assert errors == ([expected] if isinstance(expected, str) else expected)
    assert config.targets == ()
    assert config.usable, "an error inside a named target must not make the config unusable"
    assert config.rejected == {config.errors[0].target}


DOCUMENT_ERRORS = [
    (
        "targets:\n  - a: [\n",
        "f:3: invalid YAML: while parsing a flow node: did not find expected node content",
    ),
    (
        "a: 1\n---\nb: 2\n",
        "f:2: invalid YAML: expected a single document in the stream: but found another document",
    ),
    ("", "f: the document is empty; expected a mapping with targets"),
    ("# only a comment\n", "f: the document is empty; expected a mapping with targets"),
    ("- targets\n", "f:1: expected a mapping, got a list"),
    ("targets: {a: 1}\n", "f:1: targets: expected a list, got a mapping"),
    (
        "targets: []\nscrapeInterval: 1m\n",
        'f:2: scrapeInterval: unknown field "scrapeInterval"; did you mean "scrapingInterval"?',
    ),
    (
        "scrapingInterval: 1x\ntargets: []\n",
        'f:1: scrapingInterval: unknown unit "x" in duration "1x"',
    ),
    (
        "scrapingInterval: 1m\nglobalInterval: 1m\n",
        (
            'f:2: globalInterval: "globalInterval" and "scrapingInterval" are the same field; give '
            "only one"
        ),
    ),
    (
        "global: {scrape_intreval: 1m}\n",
        (
            'f:1: global.scrape_intreval: unknown field "scrape_intreval"; did you mean '
            '"scrape_interval"?'
        ),
    ),
    ("enabled: 1\n", "f:1: enabled: expected a boolean, got an integer"),
    (
        "features: {openAgent: {}}\ntargets: []\n",
        "f:2: targets: in this layout this field belongs under features.openAgent",
    ),
    ("features: {openAgnet: {}}\n", 'f:1: features: missing field "openAgent"'),
    ("features: null\n", 'f:1: features: expected a mapping holding "openAgent"'),
    ("features: {openAgent: [a]}\n", "f:1: features.openAgent: expected a mapping, got a list"),
    ("targets:\n  - type: PodMonitor\n", 'f:2: targets[0]: missing field "targetName"'),
    ("targets:\n  - targetName: ''\n", "f:2: targets[0].targetName: must not be empty"),
    ("targets: [web]\n", "f:1: targets[0]: expected a mapping, got a string"),
    ("a: &a [*a]\n", "f:1: a YAML alias refers to a node that contains it"),
    ("? [a]\n: b\n", "f:1: keys must be strings, got a list"),
    (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "targets: *h\n",
        "f: YAML aliases expand to more than 100000 extra nodes; refusing to expand them",
    ),
]


@pytest.mark.parametrize(("text", "expected"), DOCUMENT_ERRORS)
def test_document_error_makes_config_unusable(text: str, expected: str) -> None:
    config = parse_config(text)
    assert expected in [i.format("f") for i in config.errors]
    assert not config.usable


def test_nested_too_deeply_is_an_issue() -> None:
    config = parse_config("targets: " + "[" * 5000 + "]" * 5000)
    assert not config.usable
    assert config.errors


def test_configmap_lines_are_manifest_lines() -> None:
    manifest = load_configmap_key((DATA / "configmap-bad.yaml").read_text())
    assert [c.configmap for c in manifest.configs] == ["monitoring/sdgen-config"]
    assert [i.format("m") for i in manifest.configs[0].parse().issues] == [
        'm:17: targets[0].endpoints[0].interval: unknown unit "x" in duration "1x"'
    ]


def test_configmap_key_choice_and_non_block_values() -> None:
    text = (
        "kind: Deployment\n---\n"
        "kind: ConfigMap\nmetadata: {name: c}\n"
        'data: {other.yaml: "targets: []", scrape_config.yaml: "bogus: 1"}\n'
    )
    default = load_configmap_key(text)
    assert default.objects == 2
    (config,) = default.configs
    # a quoted value cannot map lines: every issue points at the data key
    assert [i.format("m") for i in config.parse().issues] == ['m:5: bogus: unknown field "bogus"']
    (other,) = load_configmap_key(text, "other.yaml").configs
    assert other.parse().issues == ()
    assert load_configmap_key(text, "missing.yaml").configs == ()


def test_configmap_inside_a_list() -> None:
    """`kubectl get configmap -o yaml` output: a List whose items are the objects."""
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: c, namespace: n}\n"
        "    data:\n      scrape_config.yaml: |\n        targets: []\n        bogus: 1\n"
    )
    (config,) = load_configmap_key(text).configs
    assert config.configmap == "n/c"
    assert [i.format("m") for i in config.parse().issues] == ['m:10: bogus: unknown field "bogus"']


# --- parse_config never raises -------------------------------------------------------------

_KEY_TEXT = (
    "targetName type enabled namespaceSelector selector relabelConfigs relabelings "
    "metricRelabelConfigs metricRelabelings endpoints port targetPort address addresses "
    "path scheme params interval timeout scrapeTimeout tlsConfig authorization "
    "bearerTokenFile basicAuth addNodeLabel honorLabels sampleLimit source_labels "
    "sourceLabels separator target_label regex modulus replacement action matchLabels "
    "matchExpressions matchNames any key operator values features openAgent global "
    "scrape_interval scrapingInterval globalPath <<"
)
_KEYS = sorted(set(_KEY_TEXT.split()))
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(
        [
            "15s",
            "0",
            "1x",
            "https",
            "PodMonitor",
            "ServiceMonitor",
            "StaticEndpoints",
            "keep",
            "hashmod",
            "labelmap",
            "In",
            "Exists",
            "(",
            "h:1",
            "$1",
            "a",
        ]
    ),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=30,
)


@st.composite
def _documents(draw: st.DrawFn) -> object:
    targets = draw(
        st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=7), max_size=3)
    )
    body = draw(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=3)) | {"targets": targets}
    return draw(st.sampled_from([body, {"features": {"openAgent": body}}, targets, draw(_VALUES)]))


def _assert_never_raises(text: str) -> None:
    config = parse_config(text)
    assert isinstance(config, Config)
    assert not [i for i in config.issues if "internal error" in i.message], config.issues
    assert all(i.severity in ("error", "warning") for i in config.issues)
    if not config.usable or config.rejected:
        assert config.errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_generated_documents_never_raise(document: object) -> None:
    _assert_never_raises(yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    _assert_never_raises(text)


_EXAMPLE = (DATA / "layout-b.yaml").read_text()


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, len(_EXAMPLE)),
    st.integers(0, 40),
    st.text(alphabet=" \n:-[]{}&*!|>'\"#0a", max_size=5),
)
def test_damaged_example_never_raises(start: int, length: int, insert: str) -> None:
    _assert_never_raises(_EXAMPLE[:start] + insert + _EXAMPLE[start + length :])


def test_a_target_whose_files_would_be_an_earlier_targets_is_rejected_alone() -> None:
    """Issue 17, item 7: two names whose files clash (a 128-bit hash makes it unreachable;
    here the naming function is made to clash) are a located error on the later target."""
    text = textwrap.dedent(
        """\
        targets:
          - targetName: first
            type: StaticEndpoints
            endpoints: [{address: "192.0.2.1:1"}]
          - targetName: other
            type: StaticEndpoints
            endpoints: [{address: "192.0.2.2:1"}]
          - targetName: second
            type: StaticEndpoints
            endpoints: [{address: "192.0.2.3:1"}]
        """
    )
    clashing = {"first": "x.", "second": "x."}
    config = parse_config(text, file_prefix=lambda name: clashing.get(name, name))
    assert [t.name for t in config.targets] == ["first", "other"]
    assert config.rejected == {"second"} and config.usable
    [issue] = config.issues
    assert (issue.path, issue.line, issue.target) == ("targets[2].targetName", 8, "second")
    assert issue.message == (
        'target "second" would write the same files as target "first" (line 2); rename one of them'
    )
    assert parse_config(text).issues == ()  # without a naming function nothing is checked
