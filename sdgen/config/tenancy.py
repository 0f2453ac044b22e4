"""The rules a tenant's config must keep when many teams share one Prometheus (README,
"Many teams, one Prometheus").

A tenant is one ConfigMap, `namespace/name`, selected by `--configmap-selector`; it is trusted
when its namespace is in `--trusted-namespaces`. `apply_tenancy` takes the tenant's parsed
`Config` and returns the config sdgen may render for it:

* An untrusted tenant's targets read only its own namespace: no namespaceSelector, or
  `matchNames` naming only that namespace. Anything else (`any`, other names, a label selector)
  is a located error that rejects that target alone.
* An untrusted tenant references no local file (caFile, certFile, keyFile, bearerTokenFile,
  credentialsFile, passwordFile): those are files of the Prometheus pod, which may hold
  Prometheus's own credentials.
* With `--tenant-static-endpoints=deny` (the default), an untrusted tenant can name no address
  of its own: StaticEndpoints, and relabel rules that can write `__address__`, are rejected.
  Deny is the default because an address is the one thing the namespace rule cannot bound: a
  tenant allowed to write one can make Prometheus scrape any pod, node or cloud metadata
  service the Prometheus pod reaches, in any namespace.
* Every target of an untrusted tenant carries `<tenant label>="<namespace>"`: a last target
  relabel rule sets it over whatever the tenant's rules wrote; the tenant's metric relabel
  rules that can write (or drop) it are left out with a warning, and `honor_labels` is forced
  to false, so a scraped series cannot carry another value either (Prometheus renames a
  scraped `namespace` to `exported_namespace`). This is the Prometheus Operator's
  enforcedNamespaceLabel.
* Every selected tenant, trusted or not, gets the `sample_limit` and `target_limit` caps in
  its fragments. Both are Prometheus limits per scrape job (one job per endpoint part), not
  per tenant; `--tenant-max-targets`, the limit per tenant, is counted after resolution
  (sdgen.runtime).

Pure: a Config in, a Config out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from sdgen.config.model import Config, Endpoint, Issue, Severity, Target, TargetType
from sdgen.k8s.labelselector import NamespaceSelector
from sdgen.prom.goregex import GoRegexp, RegexError
from sdgen.prom.relabel import RelabelAction, RelabelRule

ADDRESS = "__address__"
DEFAULT_TENANT_LABEL = "namespace"
# Actions that write their target_label.
_WRITES_TARGET = frozenset(
    {
        RelabelAction.REPLACE,
        RelabelAction.HASHMOD,
        RelabelAction.LOWERCASE,
        RelabelAction.UPPERCASE,
    }
)


class StaticEndpointsPolicy(StrEnum):
    """`--tenant-static-endpoints`: may an untrusted tenant name addresses of its own?"""

    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """The rules every tenant gets (the `--tenant-*` flags). Limits None: no cap."""

    label: str = DEFAULT_TENANT_LABEL
    static_endpoints: StaticEndpointsPolicy = StaticEndpointsPolicy.DENY
    sample_limit: int | None = None
    target_limit: int | None = None
    max_targets: int | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    """One tenant ConfigMap. `trusted`: its namespace is in --trusted-namespaces."""

    namespace: str
    name: str
    trusted: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def apply_tenancy(config: Config, tenant: Tenant, policy: TenantPolicy) -> Config:
    """The config sdgen may render for `tenant`: targets breaking a rule moved to `rejected`
    with a located error each, the others made to keep the rules (see the module docstring).
    An unusable config is returned as it is: nothing of it is rendered anyway."""
    if not config.usable:
        return config
    issues = list(config.issues)
    kept: list[Target] = []
    rejected = set(config.rejected)
    for target in config.targets:
        errors = [] if tenant.trusted else list(_violations(config, target, tenant, policy))
        if errors:
            issues.extend(errors)
            rejected.add(target.name)
            continue
        target, warnings = _enforced(config, target, tenant, policy)
        issues.extend(warnings)
        kept.append(target)
    return replace(
        config,
        targets=tuple(kept),
        rejected=frozenset(rejected),
        issues=tuple(sorted(issues, key=lambda i: (i.line or 0, i.path))),
    )


def _violations(
    config: Config, target: Target, tenant: Tenant, policy: TenantPolicy
) -> Iterator[Issue]:
    def error(steps: str, message: str) -> Issue:
        return replace(config.locations.issue(target.name, steps, message), severity=Severity.ERROR)

    untrusted = f"not allowed in namespace {tenant.namespace} (not a trusted namespace)"
    selector = target.namespace_selector
    if target.type is not TargetType.STATIC_ENDPOINTS and not _own_namespace(
        selector, tenant.namespace
    ):
        yield error(
            "namespaceSelector",
            f"selects namespaces other than the tenant's own ({_described(selector)}): "
            f"{untrusted}; leave namespaceSelector out or set matchNames: [{tenant.namespace}]",
        )
    for i, ep in enumerate(target.endpoints):
        for steps, _ in _files(ep):
            yield error(
                _as_written(config, target, f"endpoints[{i}].", steps),
                f"references a file of the Prometheus pod: {untrusted}; use a Secret in "
                f"namespace {tenant.namespace} (with --materialize-secrets) or no credentials",
            )
    if policy.static_endpoints is StaticEndpointsPolicy.ALLOW:
        return
    deny = f"{untrusted} with --tenant-static-endpoints=deny"
    if target.type is TargetType.STATIC_ENDPOINTS:
        yield error("type", f"StaticEndpoints name addresses of their own: {deny}")
    for steps, rule in _target_rules(target):
        if _may_write_address(rule):
            yield error(steps, f"this rule can rewrite {ADDRESS}: {deny}")


def _enforced(
    config: Config, target: Target, tenant: Tenant, policy: TenantPolicy
) -> tuple[Target, list[Issue]]:
    """The target with the limits and its namespace made explicit (for an untrusted tenant,
    whatever it wrote), and for an untrusted tenant the tenant label enforced; the warnings
    for what was overridden or left out."""
    warnings: list[Issue] = []
    endpoints = []
    for i, ep in enumerate(target.endpoints):
        ep = replace(
            ep,
            sample_limit=_capped(ep.sample_limit, policy.sample_limit),
            target_limit=_capped(ep.target_limit, policy.target_limit),
        )
        if not tenant.trusted:
            for steps, rule in _indexed(f"endpoints[{i}].relabelings", ep.relabelings):
                if _may_write(rule, policy.label):
                    message = f"sets the {policy.label!r} label, which sdgen sets to "
                    message += f"{tenant.namespace!r} after it for this tenant; overridden"
                    warnings.append(config.locations.issue(target.name, steps, message))
            if ep.honor_labels:
                message = "forced to false for this tenant, so scraped series cannot set the "
                message += f"{policy.label!r} label"
                warnings.append(
                    config.locations.issue(target.name, f"endpoints[{i}].honorLabels", message)
                )
            metric = []
            for j, rule in enumerate(ep.metric_relabelings):
                if _may_write(rule, policy.label):
                    warnings.append(
                        config.locations.issue(
                            target.name,
                            f"endpoints[{i}].metricRelabelConfigs",
                            f"rule {j} can change the {policy.label!r} label, which sdgen sets "
                            f"to {tenant.namespace!r} for this tenant; left out",
                        )
                    )
                else:
                    metric.append(rule)
            ep = replace(
                ep,
                relabelings=(*ep.relabelings, tenant_label_rule(policy.label, tenant.namespace)),
                metric_relabelings=tuple(metric),
                honor_labels=False,
            )
        endpoints.append(ep)
    target = replace(target, endpoints=tuple(endpoints), secrets_namespace=tenant.namespace)
    # Its own namespace said explicitly: the sidecar's default namespace is another one.
    explicit = not tenant.trusted or target.namespace_selector is None
    if explicit and target.type is not TargetType.STATIC_ENDPOINTS:
        target = replace(
            target, namespace_selector=NamespaceSelector(match_names=(tenant.namespace,))
        )
    return target, warnings


def qualified(config: Config, tenant: Tenant) -> Config:
    """The config with every target named `<namespace>/<ConfigMap>/<targetName>` (its issues,
    rejected names and locations too), its `job` label still the name it wrote: target names
    make the file names and scrape job names (sdgen.output.naming), so two tenants' targets of
    one name never share a file or a job."""

    def name(target: str) -> str:
        return f"{tenant.key}/{target}"

    return replace(
        config,
        targets=tuple(replace(t, name=name(t.name), job=t.job_label) for t in config.targets),
        rejected=frozenset(name(n) for n in config.rejected),
        issues=tuple(
            i if i.target is None else replace(i, target=name(i.target)) for i in config.issues
        ),
        locations=replace(
            config.locations,
            paths={name(t): path for t, path in config.locations.paths.items()},
        ),
    )


def tenant_label_rule(label: str, namespace: str) -> RelabelRule:
    """The last target relabel rule of an untrusted tenant's endpoints."""
    return RelabelRule(
        target_label=label, regex="(.*)", replacement=_literal(namespace), action="replace"
    )


def _literal(text: str) -> str:
    """`text` as a relabel replacement that expands to itself (`$` is written `$$`)."""
    return text.replace("$", "$$")


def _capped(own: int | None, cap: int | None) -> int | None:
    """The tighter of the endpoint's limit and the cap; 0 means "no limit" to Prometheus."""
    if cap is None:
        return own
    return cap if not own else min(own, cap)


def _own_namespace(selector: NamespaceSelector | None, namespace: str) -> bool:
    if selector is None:
        return True
    if selector.any or selector.labels is not None:
        return False
    return set(selector.match_names) <= {namespace}


def _described(selector: NamespaceSelector | None) -> str:
    if selector is None:
        return "none"
    if selector.any:
        return "any: true"
    if selector.labels is not None:
        return f"a label selector: {selector.labels}"
    return "matchNames: " + ", ".join(selector.match_names)


def _files(ep: Endpoint) -> Iterator[tuple[str, str]]:
    """(where, path) of every local file the endpoint references, canonical field names."""
    tls, auth, basic = ep.tls, ep.authorization, ep.basic_auth
    found = (
        ("tlsConfig.caFile", tls.ca_file if tls else ""),
        ("tlsConfig.certFile", tls.cert_file if tls else ""),
        ("tlsConfig.keyFile", tls.key_file if tls else ""),
        ("authorization.credentialsFile", auth.credentials_file if auth else ""),
        ("basicAuth.passwordFile", basic.password_file if basic else ""),
    )
    for where, path in found:
        if path:
            yield where, path


def _as_written(config: Config, target: Target, parent: str, steps: str) -> str:
    """`parent + steps`, or `parent + bearerTokenFile` where the user wrote the token file so
    (it is parsed into authorization.credentialsFile)."""
    base = config.locations.paths.get(target.name, "")
    written = f"{base}.{parent}bearerTokenFile" in config.locations.fields
    if written and steps == "authorization.credentialsFile":
        return f"{parent}bearerTokenFile"
    return parent + steps


def _target_rules(target: Target) -> Iterator[tuple[str, RelabelRule]]:
    yield from _indexed("relabelConfigs", target.relabelings)
    for i, ep in enumerate(target.endpoints):
        yield from _indexed(f"endpoints[{i}].relabelings", ep.relabelings)


def _indexed(path: str, rules: Iterable[RelabelRule]) -> Iterator[tuple[str, RelabelRule]]:
    for i, rule in enumerate(rules):
        yield f"{path}[{i}]", rule


def _action(rule: RelabelRule) -> str:
    return rule.action.lower()


def _may_write(rule: RelabelRule, label: str) -> bool:
    """Whether the rule can set or remove `label` (conservatively, for label names a rule
    computes: a labelmap whose output is not a fixed text not equal to `label`)."""
    action = _action(rule)
    if action in _WRITES_TARGET:
        return rule.target_label == label or "$" in rule.target_label
    if action == RelabelAction.LABELMAP:
        return "$" in rule.replacement or rule.replacement == label
    if action == RelabelAction.LABELDROP:
        return _matches(rule.regex, label)
    if action == RelabelAction.LABELKEEP:
        return not _matches(rule.regex, label)
    return False


def _may_write_address(rule: RelabelRule) -> bool:
    """Whether a target rule can set `__address__`. A labelmap whose replacement starts with a
    group reference or `__` can make any name, so it counts (prefix it: `pod_$1`)."""
    action = _action(rule)
    if action in _WRITES_TARGET:
        return rule.target_label == ADDRESS or "$" in rule.target_label
    if action == RelabelAction.LABELMAP:
        return rule.replacement.startswith(("$", "_"))
    return False


def _matches(regex: str, name: str) -> bool:
    """Whether the relabel regex matches `name` whole, as Prometheus anchors it."""
    try:
        return GoRegexp(f"^(?:{regex})$").match(name) is not None
    except RegexError:
        return True  # cannot tell (the target is refused when compiled anyway): count it
