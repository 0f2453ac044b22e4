"""Tests for sdgen.prom.relabel.trace: the trace of a rule list replays to the engine's result.

The corpus is the relabel differential corpus: Prometheus's own relabel table and sdgen's
edge cases (tests/data/relabel), and the rule lists tests/system/test_relabel_differential.py
draws and compares with a real Prometheus. For each case, applying the trace's changes to the
input, step by step, must give `apply`'s labels, and a dropped case must end on the rule that
dropped it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sdgen.prom.relabel import RelabelAction, RelabelTrace, apply, compile_rules, trace
from tests.prom.test_relabel import _rule, _table
from tests.system.test_relabel_differential import CASES, _draw

DRAWN = _draw(CASES)


def _replay(labels: Mapping[str, str], traced: RelabelTrace) -> dict[str, str]:
    result = {name: value for name, value in labels.items() if value}
    for step in traced.steps:
        for name, (before, after) in step.changed.items():
            assert result.get(name) == before, (step, name)
            if after is None:
                del result[name]
            else:
                result[name] = after
    return result


def _check(labels: Mapping[str, str], raw_rules: list[dict[str, Any]]) -> None:
    rules = compile_rules(_rule(raw) for raw in raw_rules)
    expected = apply(labels, rules)
    traced = trace(labels, rules)
    assert traced.labels == expected
    replayed = _replay(labels, traced)
    if expected is None:
        dropped = traced.dropped_by
        assert dropped is not None and dropped.index == len(traced.steps) - 1
        assert dropped.changed == {}  # a rule that drops changes nothing first
        # the rules before the dropping one keep the set: apply them alone and it survives
        assert apply(labels, rules[: dropped.index]) == replayed
        assert apply(labels, rules[: dropped.index + 1]) is None
    else:
        assert traced.dropped_by is None
        assert len(traced.steps) == len(rules)
        assert replayed == expected


@pytest.mark.parametrize("case", _table("prometheus_cases.yaml") + _table("edge_cases.yaml"))
def test_trace_replays_to_the_engine_result_for_every_table_case(case: dict[str, Any]) -> None:
    _check(case["input"], case["rules"])


def test_trace_replays_to_the_engine_result_for_every_drawn_case() -> None:
    assert len(DRAWN) > 300
    for case in DRAWN:
        _check(case["input"], case["rules"])


def test_trace_names_each_rule_its_action_and_its_changes() -> None:
    rules = compile_rules(
        _rule(raw)
        for raw in [
            {"source_labels": ["a"], "target_label": "b"},
            {"action": "labeldrop", "regex": "a"},
            {"source_labels": ["b"], "regex": "x", "action": "drop"},
            {"source_labels": ["b"], "target_label": "c"},
        ]
    )
    traced = trace({"a": "x", "e": ""}, rules)
    assert [(s.index, s.action) for s in traced.steps] == [
        (0, RelabelAction.REPLACE),
        (1, RelabelAction.LABELDROP),
        (2, RelabelAction.DROP),
    ]
    assert [dict(s.changed) for s in traced.steps] == [{"b": (None, "x")}, {"a": ("x", None)}, {}]
    assert traced.labels is None and traced.dropped_by is traced.steps[2]
