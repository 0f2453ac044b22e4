"""Tests for sdgen.prom.relabel.Observed: which input labels a rule list can observe.

Scrape targets are relabelled from only the meta labels their rules observe (the others are
stripped from the output anyway), so each case checks the names the analysis must report
and that relabelling without every unobserved meta label gives the same result: same drop
decision, same warnings, same labels once meta labels are stripped. A case fails if the
analysis leaves out a label the rules need.
"""

from __future__ import annotations

from typing import Any

import pytest

from sdgen.prom.relabel import Observed, RelabelRule, apply, compile_rules

META = "__meta_kubernetes_"
POD = META + "pod_"

LABELS = {
    "__address__": "10.0.0.1:8080",
    "__metrics_path__": "/metrics",
    "job": "shop",
    "namespace": "shop",
    "pod": "web-0",
    POD + "name": "web-0",
    POD + "phase": "Running",
    POD + "node_name": "node-a",
    POD + "label_app": "web",
    POD + "labelpresent_app": "true",
    POD + "label_team": "blue",
    POD + "labelpresent_team": "true",
    POD + "annotation_team": "red",
    POD + "annotationpresent_team": "true",
    POD + "annotation_app": "web",
    POD + "container_name": "app",
}

# (id, rules, names the rules must observe, names they need not observe)
CASES: list[tuple[str, list[RelabelRule], set[str], set[str]]] = [
    (
        "replace reads its source labels only",
        [RelabelRule(source_labels=(POD + "label_app",), target_label="app")],
        {POD + "label_app"},
        {POD + "label_team", POD + "name", POD + "labelpresent_app"},
    ),
    (
        "several source labels joined by the separator",
        [
            RelabelRule(
                source_labels=(POD + "node_name", POD + "name"),
                separator="/",
                regex="node-a/(.*)",
                target_label="where",
            )
        ],
        {POD + "node_name", POD + "name"},
        {POD + "phase"},
    ),
    (
        "keep and drop read their source labels",
        [
            RelabelRule(source_labels=(POD + "phase",), regex="Running", action="keep"),
            RelabelRule(source_labels=(POD + "label_team",), regex="red", action="drop"),
        ],
        {POD + "phase", POD + "label_team"},
        {POD + "annotation_team"},
    ),
    (
        "keepequal reads its target label as well",
        [
            RelabelRule(
                source_labels=(POD + "label_app",),
                target_label=POD + "annotation_app",
                action="keepequal",
            )
        ],
        {POD + "label_app", POD + "annotation_app"},
        {POD + "label_team"},
    ),
    (
        "dropequal reads its target label as well",
        [
            RelabelRule(
                source_labels=(POD + "label_team",),
                target_label=POD + "annotation_team",
                action="dropequal",
            )
        ],
        {POD + "label_team", POD + "annotation_team"},
        {POD + "name"},
    ),
    (
        "labelmap observes every name its regex matches, twins included when matched",
        [RelabelRule(action="labelmap", regex=POD + "label(present)?_(.+)", replacement="x_$2")],
        {POD + "label_app", POD + "label_team", POD + "labelpresent_app"},
        {POD + "annotation_team", POD + "name"},
    ),
    (
        "labelkeep then labelmap: the labelmap's matches are what matter",
        [
            RelabelRule(action="labelkeep", regex="__.*|job|namespace|pod|" + POD + "label_.*"),
            RelabelRule(action="labelmap", regex=POD + "label_(.+)"),
        ],
        {POD + "label_app", POD + "label_team"},
        {POD + "annotation_team", POD + "labelpresent_app", POD + "phase"},
    ),
    (
        "labeldrop then labelmap: a dropped label is not mapped, an unread one not needed",
        [
            RelabelRule(action="labeldrop", regex=POD + "label_team"),
            RelabelRule(action="labelmap", regex=POD + "(label|annotation)_(.+)", replacement="$2"),
        ],
        {POD + "label_app", POD + "label_team", POD + "annotation_team"},
        {POD + "labelpresent_team", POD + "node_name"},
    ),
    (
        "a label written by one rule and read by the next: the input one is read too",
        [
            RelabelRule(source_labels=(POD + "name",), target_label=POD + "label_team"),
            RelabelRule(source_labels=(POD + "label_team",), regex="web-.*", action="keep"),
        ],
        {POD + "name", POD + "label_team"},
        {POD + "annotation_team"},
    ),
    (
        "labelmap into a meta name that a later rule reads",
        [
            RelabelRule(
                action="labelmap", regex=POD + "annotation_(.+)", replacement=META + "x_$1"
            ),
            RelabelRule(source_labels=(META + "x_team",), target_label="team"),
        ],
        {POD + "annotation_team", META + "x_team"},
        {POD + "label_team"},
    ),
    (
        "a templated target label is a write, not a read",
        [
            RelabelRule(
                source_labels=(POD + "label_app",),
                regex="(.+)",
                target_label="${1}_app",
                replacement="yes",
            )
        ],
        {POD + "label_app"},
        {POD + "name"},
    ),
    (
        "hashmod, lowercase and uppercase read their sources, not their targets",
        [
            RelabelRule(
                source_labels=(POD + "name",), action="hashmod", modulus=4, target_label="h"
            ),
            RelabelRule(source_labels=(POD + "label_app",), action="uppercase", target_label="A"),
            RelabelRule(
                source_labels=(POD + "label_team",), action="lowercase", target_label=POD + "x"
            ),
        ],
        {POD + "name", POD + "label_app", POD + "label_team"},
        {POD + "x", "h", "A", POD + "phase"},
    ),
    (
        "non-meta labels are reported like any other",
        [RelabelRule(source_labels=("__address__", "job"), target_label="t")],
        {"__address__", "job"},
        {"namespace", "pod"},
    ),
]


def _rules_param(case: tuple[str, list[RelabelRule], set[str], set[str]]) -> Any:
    return pytest.param(*case[1:], id=case[0])


@pytest.mark.parametrize(("rules", "observed", "unobserved"), [_rules_param(c) for c in CASES])
def test_observed_names(rules: list[RelabelRule], observed: set[str], unobserved: set[str]) -> None:
    answer = Observed(compile_rules(rules))
    assert {name for name in observed | unobserved if answer[name]} == observed


@pytest.mark.parametrize(("rules", "observed", "unobserved"), [_rules_param(c) for c in CASES])
def test_unobserved_meta_labels_change_nothing_but_themselves(
    rules: list[RelabelRule], observed: set[str], unobserved: set[str]
) -> None:
    compiled = compile_rules(rules)
    answer = Observed(compiled)
    partial = {k: v for k, v in LABELS.items() if not k.startswith(META) or answer[k]}
    assert set(partial) < set(LABELS)  # something was left out

    def run(labels: dict[str, str]) -> tuple[dict[str, str] | None, list[str]]:
        warnings: list[str] = []
        result = apply(labels, compiled, lambda index, message: warnings.append(message))
        public = None if result is None else {k: v for k, v in result.items() if k[:7] != "__meta_"}
        return public, warnings

    assert run(partial) == run(LABELS)


def test_a_wrongly_omitted_label_would_be_noticed() -> None:
    """The equivalence check above has teeth: leaving out an observed label changes results."""
    rules = compile_rules([RelabelRule(action="labelmap", regex=POD + "label_(.+)")])
    full = apply(LABELS, rules)
    without = apply({k: v for k, v in LABELS.items() if k != POD + "label_team"}, rules)
    assert full is not None and without is not None
    assert full["team"] == "blue" and "team" not in without


def test_the_name_memo_stays_right_when_it_is_cleared() -> None:
    answer = Observed(compile_rules([RelabelRule(action="labelmap", regex="keep_(.+)")]))
    for _ in range(2):  # the second pass runs after the bounded memo has been cleared
        for number in range(20_000):
            assert answer[f"keep_{number}"] and not answer[f"drop_{number}"]
