"""Tenant rules: what an untrusted tenant may not write is a located error rejecting that target
alone; what it may write is made to carry its namespace label and the caps."""

from __future__ import annotations

import textwrap

import pytest

from sdgen.config.document import parse_config
from sdgen.config.model import Config, Severity
from sdgen.config.tenancy import (
    StaticEndpointsPolicy,
    Tenant,
    TenantPolicy,
    apply_tenancy,
    qualified,
    tenant_label_rule,
)
from sdgen.k8s.labelselector import NamespaceSelector
from sdgen.prom.relabel import RelabelRule

TEAM_A = Tenant("team-a", "scrape")
TRUSTED = Tenant("platform", "scrape", trusted=True)
POLICY = TenantPolicy()


def config(target: str) -> Config:
    """A config of one target `t`, whose other fields are `target` (YAML, indented 4)."""
    text = "targets:\n  - targetName: t\n" + textwrap.indent(textwrap.dedent(target), "    ")
    parsed = parse_config(text)
    assert parsed.usable and not parsed.errors, parsed.issues
    return parsed


POD = """\
type: PodMonitor
selector: {matchLabels: {app: a}}
"""
EP = "endpoints:\n  - port: web\n"


@pytest.mark.parametrize(
    ("target", "where", "message"),
    [
        (
            POD + "namespaceSelector: {any: true}\n" + EP,
            "targets[0].namespaceSelector:",
            "selects namespaces other than the tenant's own (any: true)",
        ),
        (
            POD + "namespaceSelector: {matchNames: [team-a, team-b]}\n" + EP,
            "targets[0].namespaceSelector:",
            "(matchNames: team-a, team-b)",
        ),
        (
            POD + "namespaceSelector: {matchLabels: {team: b}}\n" + EP,
            "targets[0].namespaceSelector:",
            "a label selector",
        ),
        (
            POD + EP + "    bearerTokenFile: /etc/prometheus/token\n",
            "targets[0].endpoints[0].bearerTokenFile:",
            "references a file of the Prometheus pod",
        ),
        (
            POD + EP + "    tlsConfig: {caFile: /etc/prometheus/ca.crt}\n",
            "targets[0].endpoints[0].tlsConfig.caFile:",
            "references a file of the Prometheus pod",
        ),
        (
            POD + EP + "    basicAuth: {username: u, passwordFile: /etc/prometheus/pw}\n",
            "targets[0].endpoints[0].basicAuth.passwordFile:",
            "references a file of the Prometheus pod",
        ),
        (
            "type: StaticEndpoints\nendpoints:\n  - address: 169.254.169.254:80\n",
            "targets[0].type:",
            "StaticEndpoints name addresses of their own",
        ),
        (
            POD + "relabelConfigs:\n  - {targetLabel: __address__, replacement: 'x:1'}\n" + EP,
            "targets[0].relabelConfigs[0]:",
            "this rule can rewrite __address__",
        ),
        (
            POD + EP + "    relabelings:\n      - {action: labelmap, regex: 'x_(.*)'}\n",
            "targets[0].endpoints[0].relabelings[0]:",
            "this rule can rewrite __address__",
        ),
    ],
)
def test_an_untrusted_tenant_breaking_a_rule_loses_that_target_with_a_located_error(
    target: str, where: str, message: str
) -> None:
    result = apply_tenancy(config(target), TEAM_A, POLICY)
    assert result.targets == ()
    assert result.rejected == {"t"}
    errors = [i.format("cm") for i in result.errors]
    assert len(errors) == 1, errors
    assert "cm:" in errors[0] and where in errors[0] and message in errors[0]
    assert result.errors[0].target == "t" and result.errors[0].line is not None
    assert result.usable  # the other targets are rendered


@pytest.mark.parametrize(
    "target",
    [
        POD + EP,
        POD + "namespaceSelector: {matchNames: [team-a]}\n" + EP,
        POD + "relabelConfigs:\n  - {targetLabel: pod_ip, sourceLabels: [__address__]}\n" + EP,
        POD + EP + "    relabelings:\n      - {action: labelmap, regex: 'x_(.*)', "
        "replacement: 'pod_$1'}\n",
    ],
)
def test_what_an_untrusted_tenant_may_write(target: str) -> None:
    result = apply_tenancy(config(target), TEAM_A, POLICY)
    assert [t.name for t in result.targets] == ["t"] and not result.errors


@pytest.mark.parametrize(
    "target",
    [
        POD + "namespaceSelector: {any: true}\n" + EP + "    bearerTokenFile: /etc/p/token\n",
        "type: StaticEndpoints\nendpoints:\n  - address: 10.0.0.1:80\n",
    ],
)
def test_a_trusted_tenant_may_do_anything(target: str) -> None:
    result = apply_tenancy(config(target), TRUSTED, POLICY)
    assert [t.name for t in result.targets] == ["t"] and not result.errors
    assert result.targets[0].endpoints[0].honor_labels is None  # not enforced


def test_static_endpoints_and_address_rewrites_when_allowed() -> None:
    allow = TenantPolicy(static_endpoints=StaticEndpointsPolicy.ALLOW)
    static = "type: StaticEndpoints\nendpoints:\n  - address: 10.0.0.1:80\n"
    rewrite = POD + "relabelConfigs:\n  - {targetLabel: __address__, replacement: 'x:1'}\n" + EP
    for target in (static, rewrite):
        result = apply_tenancy(config(target), TEAM_A, allow)
        assert [t.name for t in result.targets] == ["t"] and not result.errors


def test_the_tenant_label_is_enforced_last_and_cannot_be_changed_by_metric_rules() -> None:
    target = (
        POD
        + EP
        + (
            "    honorLabels: true\n"
            "    relabelings:\n      - {targetLabel: namespace, replacement: team-b}\n"
            "    metricRelabelConfigs:\n"
            "      - {targetLabel: namespace, replacement: team-b}\n"
            "      - {action: labeldrop, regex: 'name.*'}\n"
            "      - {action: labelkeep, regex: '__name__|job'}\n"
            "      - {action: labelmap, regex: 'x_(.*)'}\n"
            "      - {sourceLabels: [a], targetLabel: b}\n"
            "      - {action: drop, regex: 'x'}\n"
        )
    )
    result = apply_tenancy(config(target), TEAM_A, POLICY)
    (t,) = result.targets
    ep = t.endpoints[0]
    assert ep.relabelings[-1] == tenant_label_rule("namespace", "team-a")
    assert ep.relabelings[0].target_label == "namespace"  # kept: the last rule overrides it
    assert ep.honor_labels is False
    assert [r.action for r in ep.metric_relabelings] == ["replace", "drop"]
    assert ep.metric_relabelings[0].target_label == "b"
    warnings = [i for i in result.issues if i.severity is Severity.WARNING]
    honor, overridden, *left_out = warnings
    assert honor.path.endswith("endpoints[0].honorLabels") and "forced to false" in honor.message
    assert overridden.path.endswith("endpoints[0].relabelings[0]")
    assert "overridden" in overridden.message
    assert len(left_out) == 4
    assert all("metricRelabelConfigs" in w.path and "left out" in w.message for w in left_out)
    assert t.namespace_selector == NamespaceSelector(match_names=("team-a",))


def test_the_label_name_is_configurable_and_a_dollar_in_a_namespace_stays_literal() -> None:
    rule = tenant_label_rule("tenant", "a$1")
    assert rule == RelabelRule(target_label="tenant", replacement="a$$1")


@pytest.mark.parametrize(
    ("own", "cap", "expected"),
    [(None, None, None), (None, 100, 100), (50, 100, 50), (500, 100, 100), (0, 100, 100)],
)
def test_sample_and_target_limits_are_capped(
    own: int | None, cap: int | None, expected: int | None
) -> None:
    sample = f"    sampleLimit: {own}\n" if own is not None else ""
    policy = TenantPolicy(sample_limit=cap, target_limit=cap)
    for tenant in (TEAM_A, TRUSTED):
        (t,) = apply_tenancy(config(POD + EP + sample), tenant, policy).targets
        assert t.endpoints[0].sample_limit == expected
        assert t.endpoints[0].target_limit == cap


def test_an_unusable_config_is_left_as_it_is() -> None:
    broken = parse_config("targets: [")
    assert apply_tenancy(broken, TEAM_A, POLICY) is broken


def test_qualified_names_carry_the_tenant_and_keep_the_job() -> None:
    parsed = parse_config(
        "targets:\n"
        "  - {targetName: web, type: PodMonitor, selector: {}, endpoints: [{port: web}]}\n"
        "  - {targetName: bad, type: Pod, selector: {}, endpoints: [{port: web}]}\n"
    )
    result = qualified(parsed, TEAM_A)
    (web,) = result.targets
    assert (web.name, web.job, web.job_label) == ("team-a/scrape/web", "web", "web")
    assert result.rejected == {"team-a/scrape/bad"}
    assert {i.target for i in result.errors} == {"team-a/scrape/bad"}
    assert set(result.locations.paths) == {"team-a/scrape/web"}
