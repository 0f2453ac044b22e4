"""Parse the scrape config (DESIGN §1) into `model` values, every problem located.

People edit this file by hand in GitOps repositories and `sdgen check` runs on every pull
request, so each problem carries the field path as the user spelled it and its source line,
and one bad target never hides the good ones. The parser walks the YAML node graph
(`yaml.compose` with the safe loader; nothing is ever constructed from tags) because only
nodes keep their line numbers. `parse_config` never raises: everything becomes an `Issue`.

The parser comes in layers: sdgen.yamlnode composes the document within safe limits,
sdgen.yamlreader reads typed fields with their paths, sdgen.endpointconfig parses endpoints,
and this module the layouts and targets. Finding a config inside a ConfigMap manifest is
sdgen.manifest's job.

Decisions where DESIGN is silent (the README repeats them):
* Layout A is recognised by a top-level `features` key; its paths start `features.openAgent.`.
* An explicit `null` means "not given". A key given twice, or under two aliases, is an error.
* Anchors, aliases and `<<` merge keys work. A document whose aliases would add more than
  100,000 nodes when expanded, or that contains itself, is rejected (billion laughs).
* String fields take any scalar but a boolean, as written: `port: 8080` is "8080".
* Deprecated target-level `metricRelabelConfigs` run *before* each endpoint's own rules, the
  same order as target-level `relabelConfigs` before an endpoint's `relabelings`.
* An error outside one named target (YAML syntax, layout, defaults, a target without a usable
  `targetName`) makes the whole config unusable (`Config.usable=False`): change nothing.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen.config.endpoint import AGENT_SETTING, Defaults, EndpointParser
from sdgen.config.model import DEFAULT_INTERVAL_MS, DEFAULT_PATH, Config, Target, TargetType
from sdgen.config.reader import schema
from sdgen.config.yamlnode import TEXT_TAGS, Field, join_path, line_of
from sdgen.k8s.labelselector import OPERATORS, LabelSelector, NamespaceSelector, Requirement
from sdgen.prom.relabel import RelabelRule

__all__ = ["parse_config"]


# --- schema: which keys each mapping takes --------------------------------------------------


_BODY = "enabled scrapingInterval|globalInterval globalPath targets"
_UNDER_FEATURES = "in this layout this field belongs under features.openAgent"
_LAYOUT_A = schema(
    "global features", refused=dict.fromkeys(_BODY.replace("|", " ").split(), _UNDER_FEATURES)
)
_LAYOUT_B = schema("global " + _BODY)
_FEATURES = schema(
    "openAgent", ignored_why="sdgen reads only features.openAgent; ignored", ignore_unknown=True
)
# openAgent deployment settings (the WhatapAgent CRD's features.openAgent): not scrape config.
_OPEN_AGENT = schema(
    _BODY,
    ignored="imageName imageVersion annotations labels podAnnotations "
    "podLabels envs tolerations resources nodeSelector affinity",
    ignored_why=AGENT_SETTING,
)
# Prometheus `global` settings a scrape-config file cannot change: warned about, not refused.
_GLOBAL = schema(
    "scrape_interval",
    ignored="scrape_timeout evaluation_interval "
    "rule_query_offset external_labels query_log_file scrape_failure_log_file "
    "scrape_protocols body_size_limit sample_limit target_limit label_limit "
    "label_name_length_limit label_value_length_limit keep_dropped_targets "
    "metric_name_validation_scheme",
    ignored_why="a Prometheus global setting a scrape config cannot change; ignored",
)
_TARGET = schema(
    "targetName type enabled namespaceSelector selector relabelConfigs|relabelings "
    "metricRelabelConfigs|metricRelabelings endpoints"
)
_SELECTOR = schema("matchLabels matchExpressions")
_NAMESPACE_SELECTOR = schema("any matchNames matchLabels matchExpressions")
_REQUIREMENT = schema("key operator values")


# --- the parser: model values out of the reader ---------------------------------------------


class _Parser(EndpointParser):
    """Builds the model values, one method per model type."""

    def document(self, root: Node) -> tuple[bool, list[Target], frozenset[str]]:
        layout_a = isinstance(root, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "features" for k, _ in root.value
        )
        top = self.mapping(root, "", _LAYOUT_A if layout_a else _LAYOUT_B)
        if top is None:
            return True, [], frozenset()
        body = self.open_agent(top.get("features"), root) if layout_a else top
        glob = self.mapping(top["global"].node, "global", _GLOBAL) if "global" in top else None
        fallback = self.duration((glob or {}).get("scrape_interval"), "scrape interval")
        if body is None:
            return True, [], frozenset()
        interval = self.duration(body.get("scrapingInterval"), "scrape interval")
        defaults = Defaults(
            interval or fallback or DEFAULT_INTERVAL_MS,
            self.text(body.get("globalPath")) or DEFAULT_PATH,
        )
        enabled = self.boolean(body.get("enabled")) is not False
        targets, rejected = self.targets(body.get("targets"), defaults)
        return enabled, targets, rejected

    def open_agent(self, features: Field | None, root: Node) -> dict[str, Field] | None:
        if features is None:
            self.error("features", line_of(root), 'expected a mapping holding "openAgent"')
            return None
        found = self.mapping(features.node, features.path, _FEATURES)
        if found is None:
            return None
        if "openAgent" not in found:
            self.error(features.path, features.line, 'missing field "openAgent"')
            return None
        agent = found["openAgent"]
        return self.mapping(agent.node, agent.path, _OPEN_AGENT)

    def targets(self, f: Field | None, defaults: Defaults) -> tuple[list[Target], frozenset[str]]:
        parsed = []
        for item in self.items(f):
            self.target = _peek_name(item.node)
            parsed.append((item, *self.target_(item, defaults)))
        lines: dict[str, list[int]] = {}
        for _, name, line, _ in parsed:
            if name:
                lines.setdefault(name, []).append(line)
        good, rejected = [], set()
        for item, name, line, target in parsed:
            self.target = name
            if name and len(lines[name]) > 1:
                others = lines[name][:]
                others.remove(line)
                self.error(
                    join_path(item.path, "targetName"),
                    line,
                    f'duplicate targetName "{name}" (also at line {", ".join(map(str, others))})',
                )
            elif target is not None:
                good.append(target)
                continue
            if name:
                rejected.add(name)
        self.target = None
        return good, frozenset(rejected)

    def target_(self, item: Field, defaults: Defaults) -> tuple[str | None, int, Target | None]:
        errors = self.errors
        f = self.mapping(item.node, item.path, _TARGET)
        if f is None:
            return None, item.line, None
        name = self.text(f.get("targetName"), required=True)
        self.target = name or None
        kind = self.choice(f.get("type"), tuple(t.value for t in TargetType))
        for required in ("targetName", "type", "endpoints"):
            if required not in f:
                self.error(item.path, item.line, f'missing field "{required}"')
        target_type = TargetType(kind) if kind else None
        enabled = self.boolean(f.get("enabled"))
        selector = self.label_selector(f.get("selector"))
        namespaces = self.namespace_selector(f.get("namespaceSelector"))
        self.check_selectors(f, item, target_type)
        relabelings = self.rules(f.get("relabelConfigs"))
        legacy = self.legacy_metric_rules(f.get("metricRelabelConfigs"))
        endpoints = [
            self.endpoint(e, target_type, defaults, legacy) for e in self.items(f.get("endpoints"))
        ]
        if "endpoints" in f and isinstance(f["endpoints"].node, SequenceNode) and not endpoints:
            self.error(
                f["endpoints"].path, f["endpoints"].line, "at least one endpoint is required"
            )
        line = f["targetName"].line if "targetName" in f else item.line
        if self.errors != errors or not name or target_type is None:
            return name or None, line, None
        return (
            name,
            line,
            Target(
                name,
                target_type,
                tuple(e for e in endpoints if e),
                enabled is not False,
                namespaces,
                selector,
                relabelings,
            ),
        )

    def check_selectors(self, f: dict[str, Field], item: Field, kind: TargetType | None) -> None:
        if kind is TargetType.STATIC_ENDPOINTS:
            for key in ("selector", "namespaceSelector"):
                if key in f:
                    self.warn(f[key].path, f[key].line, "StaticEndpoints select nothing; ignored")
        elif kind is not None and "selector" not in f:
            self.error(
                item.path, item.line, f'missing field "selector" (required for {kind.value})'
            )

    def legacy_metric_rules(self, f: Field | None) -> tuple[RelabelRule, ...]:
        if f is not None:
            self.warn(
                f.path,
                f.line,
                "deprecated: target-level metric relabeling applies to every "
                "endpoint (before the endpoint's own rules); move it into the endpoints",
            )
        return self.rules(f)

    def label_selector(self, f: Field | None) -> LabelSelector | None:
        m = self.mapping(f.node, f.path, _SELECTOR) if f else None
        return None if m is None else self.selector_of(m)

    def selector_of(self, m: dict[str, Field]) -> LabelSelector:
        requirements = [self.requirement(e) for e in self.items(m.get("matchExpressions"))]
        return LabelSelector(
            self.text_map(m.get("matchLabels")), tuple(r for r in requirements if r is not None)
        )

    def namespace_selector(self, f: Field | None) -> NamespaceSelector | None:
        m = self.mapping(f.node, f.path, _NAMESPACE_SELECTOR) if f else None
        if m is None:
            return None
        labels = self.selector_of(m) if "matchLabels" in m or "matchExpressions" in m else None
        selector = NamespaceSelector(
            bool(self.boolean(m.get("any"))), self.texts(m.get("matchNames")), labels
        )
        # Like the Prometheus Operator: an empty selector means the ConfigMap's own namespace.
        return None if selector == NamespaceSelector() else selector

    def requirement(self, item: Field) -> Requirement | None:
        m = self.mapping(item.node, item.path, _REQUIREMENT)
        if m is None:
            return None
        key = self.text(m.get("key"), required=True)
        operator = self.choice(m.get("operator"), OPERATORS)
        for required in ("key", "operator"):
            if required not in m:
                self.error(item.path, item.line, f'missing field "{required}"')
        values = self.texts(m.get("values"))
        where = m.get("values", item)
        if operator in ("In", "NotIn") and not values:
            self.error(where.path, where.line, f"values must not be empty for operator {operator}")
        elif operator in ("Exists", "DoesNotExist") and values:
            self.error(where.path, where.line, f"values must be empty for operator {operator}")
        if not key or operator is None:
            return None
        return Requirement(key, operator, values)


def _peek_name(node: Node) -> str | None:
    """The targetName written in a target mapping, before the target is parsed: problems found
    while parsing it belong to that target."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, ScalarNode)
                and key.value == "targetName"
                and isinstance(value, ScalarNode)
                and value.tag in TEXT_TAGS
                and value.value
            ):
                return str(value.value)
    return None


def parse_config(text: str, *, source: str = "<config>", allow_secrets: bool = False) -> Config:
    """Parse a scrape config (either layout) into a Config; never raises.

    Targets with errors are left out and named in `rejected`; `usable` is False when an error
    outside one named target means the config as a whole cannot be trusted. Issue lines are
    1-based lines of `text`. `source` only names the text in an internal-error message.
    `allow_secrets` (--materialize-secrets) accepts Secret references instead of refusing them.
    """
    parser = _Parser(allow_secrets=allow_secrets)
    enabled, rejected = True, frozenset[str]()
    targets: list[Target] = []
    try:
        root = parser.compose(text)
        if root is not None:
            enabled, targets, rejected = parser.document(root)
    except RecursionError:
        parser.target = None
        parser.error("", None, "the document is nested too deeply")
    except Exception as exc:  # a bug in sdgen: still an issue, because callers rely on no raise
        parser.target = None
        parser.error("", None, f"internal error while parsing {source}: {exc!r}")
    issues = tuple(sorted(parser.issues, key=lambda i: (i.line or 0, i.path)))
    return Config(enabled, tuple(targets), rejected, issues, usable=not parser.document_errors)
