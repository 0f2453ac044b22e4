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

    def __str__(self) -> str:
        values = f" ({', '.join(self.values)})" if self.values else ""
        return f"{self.key} {self.operator}{values}"


def _has(labels: Mapping[str, str], key: str) -> str:
    """The object's side of a failed term, in words."""
    return f"has {key}={labels[key]!r}" if key in labels else f"has no label {key}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A full Kubernetes LabelSelector; the empty selector matches everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def mismatch(self, labels: Mapping[str, str]) -> str | None:
        """Why `labels` do not match, in words (the first failing term, with the object's
        value), or None when they match. Slow, for `sdgen explain`; agrees with `matches`."""
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return f"matchLabels {key}={value!r}: the object {_has(labels, key)}"
        for index, requirement in enumerate(self.match_expressions):
            if not requirement.matches(labels):
                return (
                    f"matchExpressions[{index}] {requirement}: "
                    f"the object {_has(labels, requirement.key)}"
                )
        return None

    def __str__(self) -> str:
        terms = [f"{k}={v}" for k, v in self.match_labels]
        terms += [str(r) for r in self.match_expressions]
        return ", ".join(terms) if terms else "{} (everything)"


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

    def mismatch(self, namespace: str, namespace_labels: Mapping[str, str]) -> str | None:
        """Why `namespace` is not selected, in words, or None when it is (`matches`)."""
        if self.matches(namespace, namespace_labels):
            return None
        why = []
        if self.match_names:
            why.append(f"matchNames ({', '.join(self.match_names)}) does not name {namespace!r}")
        if self.labels is not None:
            why.append(f"namespace labels: {self.labels.mismatch(namespace_labels)}")
        return "; ".join(why) or "the selector selects no namespace"

    @property
    def needs_namespace_labels(self) -> bool:
        """True when namespace objects must be watched to decide membership."""
        return not self.any and self.labels is not None
