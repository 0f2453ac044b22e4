"""Parse a target's `selector` and `namespaceSelector` into Kubernetes label selectors.

The spelling is the Prometheus Operator's (matchLabels, matchExpressions; any, matchNames);
an operator's values are checked the way the API server checks them (docs/configuration.md).
"""

from __future__ import annotations

from sdgen.config.reader import Reader, schema
from sdgen.config.yamlnode import Field
from sdgen.k8s.labelselector import OPERATORS, LabelSelector, NamespaceSelector, Requirement

_SELECTOR = schema("matchLabels matchExpressions")
_NAMESPACE_SELECTOR = schema("any matchNames matchLabels matchExpressions")
_REQUIREMENT = schema("key operator values")


def label_selector(reader: Reader, f: Field | None) -> LabelSelector | None:
    m = reader.mapping(f.node, f.path, _SELECTOR) if f else None
    return None if m is None else _selector_of(reader, m)


def namespace_selector(reader: Reader, f: Field | None) -> NamespaceSelector | None:
    """None for the ConfigMap's own namespace, also when the selector is given but empty."""
    m = reader.mapping(f.node, f.path, _NAMESPACE_SELECTOR) if f else None
    if m is None:
        return None
    labels = _selector_of(reader, m) if "matchLabels" in m or "matchExpressions" in m else None
    selector = NamespaceSelector(
        bool(reader.boolean(m.get("any"))), reader.texts(m.get("matchNames")), labels
    )
    # Like the Prometheus Operator: an empty selector means the ConfigMap's own namespace.
    return None if selector == NamespaceSelector() else selector


def _selector_of(reader: Reader, m: dict[str, Field]) -> LabelSelector:
    requirements = [_requirement(reader, e) for e in reader.items(m.get("matchExpressions"))]
    return LabelSelector(
        reader.text_map(m.get("matchLabels")), tuple(r for r in requirements if r is not None)
    )


def _requirement(reader: Reader, item: Field) -> Requirement | None:
    m = reader.mapping(item.node, item.path, _REQUIREMENT)
    if m is None:
        return None
    key = reader.text(m.get("key"), required=True)
    operator = reader.choice(m.get("operator"), OPERATORS)
    for required in ("key", "operator"):
        if required not in m:
            reader.error(item.path, item.line, f'missing field "{required}"')
    values = reader.texts(m.get("values"))
    where = m.get("values", item)
    if operator in ("In", "NotIn") and not values:
        reader.error(where.path, where.line, f"values must not be empty for operator {operator}")
    elif operator in ("Exists", "DoesNotExist") and values:
        reader.error(where.path, where.line, f"values must be empty for operator {operator}")
    if not key or operator is None:
        return None
    return Requirement(key, operator, values)
