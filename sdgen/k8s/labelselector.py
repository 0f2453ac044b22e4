"""Kubernetes label selectors (matchLabels + matchExpressions) as values that match label maps.

Targets select Pods, Services and Namespaces with the same LabelSelector type the Prometheus
Operator's monitors use; matching is pure so it is shared by target resolution and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One matchExpressions entry. `values` is empty for Exists / DoesNotExist."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            # Kubernetes semantics: an absent key satisfies NotIn.
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A full Kubernetes LabelSelector; the empty selector matches everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )


@dataclass(frozen=True, slots=True)
class NamespaceSelector:
    """Which namespaces a target looks in.

    `any` selects all namespaces; otherwise a namespace is selected when it is in `match_names`
    or its labels match `labels`. A target without a namespaceSelector is given one naming the
    ConfigMap's own namespace when the config is resolved.
    """

    any: bool = False
    match_names: tuple[str, ...] = ()
    labels: LabelSelector | None = None

    def matches(self, namespace: str, namespace_labels: Mapping[str, str]) -> bool:
        if self.any or namespace in self.match_names:
            return True
        return self.labels is not None and self.labels.matches(namespace_labels)

    @property
    def needs_namespace_labels(self) -> bool:
        """True when namespace objects must be watched to decide membership."""
        return not self.any and self.labels is not None
