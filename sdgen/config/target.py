"""Parse one target: its name and type, what it selects, its target-level rules and its
endpoints (docs/configuration.md).

A target with any error is left out whole (it keeps its last good output), so every issue
found inside it is attributed to its targetName: known before parsing from a peek at the
mapping, then from the name as read.
"""

from __future__ import annotations

from typing import NamedTuple

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen.config.endpoint import Defaults, endpoint
from sdgen.config.model import Endpoint, Target, TargetType
from sdgen.config.reader import Reader, schema
from sdgen.config.rules import relabel_rules
from sdgen.config.selectors import label_selector, namespace_selector
from sdgen.config.yamlnode import TEXT_TAGS, Field
from sdgen.prom.relabel import RelabelRule

_TARGET = schema(
    "targetName type enabled namespaceSelector selector relabelConfigs|relabelings "
    "metricRelabelConfigs|metricRelabelings endpoints"
)
_TYPES = tuple(t.value for t in TargetType)


class ParsedTarget(NamedTuple):
    """A target as read: its name (None when unusable), the line naming it, and the Target,
    None when it had an error."""

    name: str | None
    line: int
    target: Target | None


def parse_target(reader: Reader, item: Field, defaults: Defaults, *, secrets: bool) -> ParsedTarget:
    """The target `item`; with `secrets`, its endpoints may hold Secret references."""
    with reader.target(peek_name(item.node)):
        errors = reader.errors
        f = reader.mapping(item.node, item.path, _TARGET)
        if f is None:
            return ParsedTarget(None, item.line, None)
        name = reader.text(f.get("targetName"), required=True) or None
        with reader.target(name):
            target = _target(reader, f, item, name, defaults, secrets=secrets)
        line = f["targetName"].line if "targetName" in f else item.line
        return ParsedTarget(name, line, target if reader.errors == errors else None)


def _target(
    reader: Reader,
    f: dict[str, Field],
    item: Field,
    name: str | None,
    defaults: Defaults,
    *,
    secrets: bool,
) -> Target | None:
    kind = reader.choice(f.get("type"), _TYPES)
    for required in ("targetName", "type", "endpoints"):
        if required not in f:
            reader.error(item.path, item.line, f'missing field "{required}"')
    target_type = TargetType(kind) if kind else None
    enabled = reader.boolean(f.get("enabled"))
    selector = label_selector(reader, f.get("selector"))
    namespaces = namespace_selector(reader, f.get("namespaceSelector"))
    _check_selectors(reader, f, item, target_type)
    relabelings = relabel_rules(reader, f.get("relabelConfigs"))
    legacy = _legacy_metric_rules(reader, f.get("metricRelabelConfigs"))
    endpoints = _endpoints(
        reader, f.get("endpoints"), target_type, defaults, legacy, secrets=secrets
    )
    if name is None or target_type is None:
        return None
    return Target(
        name, target_type, endpoints, enabled is not False, namespaces, selector, relabelings
    )


def _endpoints(
    reader: Reader,
    f: Field | None,
    kind: TargetType | None,
    defaults: Defaults,
    legacy: tuple[RelabelRule, ...],
    *,
    secrets: bool,
) -> tuple[Endpoint, ...]:
    parsed = [endpoint(reader, e, kind, defaults, legacy, secrets=secrets) for e in reader.items(f)]
    if f is not None and isinstance(f.node, SequenceNode) and not parsed:
        reader.error(f.path, f.line, "at least one endpoint is required")
    return tuple(e for e in parsed if e)


def _check_selectors(
    reader: Reader, f: dict[str, Field], item: Field, kind: TargetType | None
) -> None:
    if kind is TargetType.STATIC_ENDPOINTS:
        for key in ("selector", "namespaceSelector"):
            if key in f:
                reader.warn(f[key].path, f[key].line, "StaticEndpoints select nothing; ignored")
    elif kind is not None and "selector" not in f:
        reader.error(item.path, item.line, f'missing field "selector" (required for {kind.value})')


def _legacy_metric_rules(reader: Reader, f: Field | None) -> tuple[RelabelRule, ...]:
    if f is not None:
        reader.warn(
            f.path,
            f.line,
            "deprecated: target-level metric relabeling applies to every "
            "endpoint (before the endpoint's own rules); move it into the endpoints",
        )
    return relabel_rules(reader, f)


def peek_name(node: Node) -> str | None:
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
