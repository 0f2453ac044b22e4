"""Kubernetes label-selector semantics (matchLabels + matchExpressions, namespace selection)."""

from __future__ import annotations

import pytest

from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector, Requirement

LABELS = {"app": "web", "tier": "backend", "empty": ""}


@pytest.mark.parametrize(
    ("requirement", "matches"),
    [
        (Requirement("app", "In", ("web", "api")), True),
        (Requirement("app", "In", ("api",)), False),
        (Requirement("missing", "In", ("web",)), False),
        (Requirement("empty", "In", ("",)), True),  # present with an empty value
        (Requirement("app", "NotIn", ("api",)), True),
        (Requirement("app", "NotIn", ("web",)), False),
        (Requirement("missing", "NotIn", ("web",)), True),  # absent key satisfies NotIn
        (Requirement("app", "Exists"), True),
        (Requirement("empty", "Exists"), True),
        (Requirement("missing", "Exists"), False),
        (Requirement("missing", "DoesNotExist"), True),
        (Requirement("app", "DoesNotExist"), False),
    ],
)
def test_requirement(requirement: Requirement, matches: bool) -> None:
    assert requirement.matches(LABELS) is matches
    selector = LabelSelector(match_expressions=(requirement,))
    assert (selector.mismatch(LABELS) is None) is matches


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (LabelSelector(), True),  # the empty selector selects everything
        (LabelSelector(match_labels=(("app", "web"),)), True),
        (LabelSelector(match_labels=(("app", "web"), ("tier", "frontend"))), False),
        (LabelSelector(match_labels=(("missing", ""),)), False),
        (LabelSelector(match_labels=(("empty", ""),)), True),
        (
            LabelSelector((("app", "web"),), (Requirement("tier", "In", ("backend",)),)),
            True,
        ),
        (  # labels and expressions are ANDed
            LabelSelector((("app", "web"),), (Requirement("tier", "DoesNotExist"),)),
            False,
        ),
    ],
)
def test_label_selector(selector: LabelSelector, matches: bool) -> None:
    assert selector.matches(LABELS) is matches
    assert (selector.mismatch(LABELS) is None) is matches  # the explanation agrees


TEAM = LabelSelector((("team", "a"),))


@pytest.mark.parametrize(
    ("selector", "namespace", "labels", "matches"),
    [
        (NamespaceSelector(any=True), "anything", {}, True),
        (NamespaceSelector(match_names=("demo", "prod")), "demo", {}, True),
        (NamespaceSelector(match_names=("demo",)), "other", {"team": "a"}, False),
        (NamespaceSelector(labels=TEAM), "other", {"team": "a"}, True),
        (NamespaceSelector(labels=TEAM), "other", {"team": "b"}, False),
        (NamespaceSelector(match_names=("demo",), labels=TEAM), "x", {"team": "a"}, True),
        (NamespaceSelector(), "demo", {}, False),
    ],
)
def test_namespace_selector(
    selector: NamespaceSelector, namespace: str, labels: dict[str, str], matches: bool
) -> None:
    assert selector.matches(namespace, labels) is matches
    assert (selector.mismatch(namespace, labels) is None) is matches


@pytest.mark.parametrize(
    ("selector", "needs"),
    [
        (NamespaceSelector(any=True, labels=TEAM), False),
        (NamespaceSelector(match_names=("demo",)), False),
        (NamespaceSelector(labels=TEAM), True),
    ],
)
def test_needs_namespace_labels(selector: NamespaceSelector, needs: bool) -> None:
    assert selector.needs_namespace_labels is needs


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        (
            LabelSelector((("app", "web"), ("tier", "frontend"))),
            "matchLabels tier='frontend': the object has tier='backend'",
        ),
        (
            LabelSelector((("zone", "a"),)),
            "matchLabels zone='a': the object has no label zone",
        ),
        (
            LabelSelector((), (Requirement("app", "Exists"), Requirement("app", "In", ("x", "y")))),
            "matchExpressions[1] app In (x, y): the object has app='web'",
        ),
    ],
)
def test_mismatch_names_the_first_failing_term_and_the_objects_value(
    selector: LabelSelector, reason: str
) -> None:
    assert selector.mismatch(LABELS) == reason


def test_namespace_mismatch_names_both_ways_a_namespace_could_have_been_selected() -> None:
    selector = NamespaceSelector(match_names=("demo",), labels=TEAM)
    assert selector.mismatch("other", {"team": "b"}) == (
        "matchNames (demo) does not name 'other'; "
        "namespace labels: matchLabels team='a': the object has team='b'"
    )
