"""Tests for sdgen.prom.relabel: Prometheus's own relabel tables as data, plus sdgen's edge cases.

The YAML tables in tests/data/relabel/ say where each case comes from. The relabel cases are
also run through a real Prometheus (differential test at the end); the validation messages
are the ones `promtool check config` printed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from sdgen.prom.relabel import (
    CompiledRule,
    RelabelAction,
    RelabelError,
    RelabelRule,
    apply,
    compile_rule,
    compile_rules,
    hashmod,
)
from tests.support.helpers import REPO, wait_for
from tests.support.prom import start_prometheus

DATA = REPO / "tests/data/relabel"


def _rule(raw: dict[str, Any]) -> RelabelRule:
    fields = dict(raw)
    if "source_labels" in fields:
        fields["source_labels"] = tuple(fields["source_labels"])
    return RelabelRule(**fields)


def _table(name: str) -> list[Any]:
    cases = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return [pytest.param(case, id=f"{name.split('_')[0]}: {case['name']}") for case in cases]


@pytest.mark.parametrize("case", _table("prometheus_cases.yaml") + _table("edge_cases.yaml"))
def test_relabel(case: dict[str, Any]) -> None:
    rules = compile_rules(_rule(raw) for raw in case["rules"])
    result = apply(case["input"], rules)
    assert result == (None if case.get("drop") else case["output"])


@pytest.mark.parametrize("case", _table("validation_cases.yaml"))
def test_validation(case: dict[str, Any]) -> None:
    rule = _rule(case["rule"])
    if case.get("valid"):
        assert compile_rule(rule).rule == rule
        return
    with pytest.raises(RelabelError) as caught:
        compile_rule(rule)
    assert (caught.value.field, caught.value.message) == (case["field"], case["message"])
    assert str(caught.value) == case["message"]


def test_invalid_utf8_target_label_is_rejected_with_go_quoting() -> None:
    with pytest.raises(RelabelError) as caught:
        compile_rule(RelabelRule(target_label="a\udcff"))
    assert caught.value.field == "target_label"
    assert (
        caught.value.message == "\"a\\xed\\xb3\\xbf\" is invalid 'target_label' for replace action"
    )


# Vectors from Prometheus's TestRelabel, the rest from Prometheus 3.5.3's hashmod action.
@pytest.mark.parametrize(
    ("value", "modulus", "expected"),
    [
        ("baz", 1000, 976),
        ("foo\nbar", 1000, 734),
        ("10.0.0.1:8080", 3, 0),
        ("pod-0:9090", 16, 12),
        ("", 10, 8),
        ("ü", 1000, 211),
        ("foo|bar", 7, 5),
        ("x", 2**64 - 1, 17710500428000290726),
        ("x", 2**63 + 5, 8487128391145514913),
    ],
)
def test_hashmod(value: str, modulus: int, expected: int) -> None:
    assert hashmod(value, modulus) == expected


MINIMAL_RULES = {
    "replace": RelabelRule(target_label="t"),
    "keep": RelabelRule(action="keep"),
    "drop": RelabelRule(action="drop", regex="x"),
    "keepequal": RelabelRule(action="keepequal", target_label="t"),
    "dropequal": RelabelRule(action="dropequal", target_label="t"),
    "hashmod": RelabelRule(action="hashmod", target_label="t", modulus=2),
    "labelmap": RelabelRule(action="labelmap", regex="a(.*)"),
    "labeldrop": RelabelRule(action="labeldrop", regex="x"),
    "labelkeep": RelabelRule(action="labelkeep"),
    "lowercase": RelabelRule(action="lowercase", target_label="t"),
    "uppercase": RelabelRule(action="uppercase", target_label="t"),
}


def test_relabel_action_lists_all_eleven_prometheus_actions() -> None:
    assert sorted(RelabelAction) == sorted(MINIMAL_RULES)
    compiled = compile_rules(MINIMAL_RULES.values())
    assert [c.action for c in compiled] == [RelabelAction(a) for a in MINIMAL_RULES]
    assert all(isinstance(c, CompiledRule) for c in compiled)


@pytest.mark.parametrize(
    "written", [*MINIMAL_RULES, *(a.upper() for a in MINIMAL_RULES), "LabelMap"]
)
def test_every_action_string_round_trips(written: str) -> None:
    # Any case is accepted; the rule keeps the string as written (it is printed back as
    # such), the compiled rule has the action, which reads and formats as its plain name.
    rule = replace(MINIMAL_RULES[written.lower()], action=written)
    compiled = compile_rule(rule)
    assert compiled.rule.action == written
    assert compiled.action is RelabelAction(written.lower())
    assert compiled.action == written.lower() == str(compiled.action) == f"{compiled.action}"


def test_action_names_in_messages_read_as_written_in_prometheus() -> None:
    with pytest.raises(RelabelError) as caught:
        compile_rule(RelabelRule(action="HashMod", target_label="t"))
    assert caught.value.message == "relabel configuration for hashmod requires non-zero modulus"
    with pytest.raises(RelabelError) as caught:
        compile_rule(RelabelRule(action="Lowercase"))
    assert caught.value.message == (
        "relabel configuration for lowercase action requires 'target_label' value"
    )


def test_apply_leaves_its_input_alone() -> None:
    labels = {"a": "foo", "ab": "bar", "e": "", "t": "x"}
    before = dict(labels)
    rules = compile_rules(
        [
            RelabelRule(source_labels=("a",), target_label="c", replacement="x$1"),
            RelabelRule(source_labels=("a",), action="hashmod", target_label="h", modulus=7),
            RelabelRule(action="labelmap", regex="a(.+)"),
            RelabelRule(action="labeldrop", regex="a"),
        ]
    )
    result = apply(MappingProxyType(labels), rules)
    assert labels == before
    assert result == {"ab": "bar", "b": "bar", "c": "xfoo", "h": str(hashmod("foo", 7)), "t": "x"}
    unchanged = apply(labels, ())
    assert unchanged is not labels and unchanged == {"a": "foo", "ab": "bar", "t": "x"}


def test_labelmap_collision_has_a_deterministic_winner_and_warns() -> None:
    rules = compile_rules(
        [RelabelRule(action="keep"), RelabelRule(action="labelmap", regex="[mnz]_(.*)")]
    )
    warnings: list[tuple[int, str]] = []
    # Insertion order must not matter: sources are visited in sorted order, the last wins.
    for labels in ({"m_a": "1", "n_a": "2"}, {"n_a": "2", "m_a": "1"}):
        result = apply(labels, rules, lambda index, message: warnings.append((index, message)))
        assert result == {"m_a": "1", "n_a": "2", "a": "2"}
    message = "labelmap maps 'm_a' and 'n_a' with different values to 'a'; 'n_a' wins"
    assert warnings == [(1, message), (1, message)]


def test_labelmap_mapping_equal_values_to_one_name_does_not_warn() -> None:
    rules = compile_rules([RelabelRule(action="labelmap", regex="[mn]_(.*)")])
    warnings: list[tuple[int, str]] = []
    result = apply({"m_a": "1", "n_a": "1"}, rules, lambda i, m: warnings.append((i, m)))
    assert result == {"m_a": "1", "n_a": "1", "a": "1"}
    assert warnings == []
    assert apply({"m_a": "1", "n_a": "2"}, rules) == {"m_a": "1", "n_a": "2", "a": "2"}


def test_invalid_regex_logs_nothing_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RelabelError):
        compile_rule(RelabelRule(regex="(", target_label="t"))
    assert capfd.readouterr().err == ""


def test_results_stay_right_after_the_match_memo_fills_up() -> None:
    rules = compile_rules([RelabelRule(source_labels=("v",), regex="(\\d+)0", action="keep")])
    for _ in range(2):  # the second pass reads what the first one memoized
        for number in range(3000):
            kept = apply({"v": str(number)}, rules) is not None
            assert kept == (number >= 10 and number % 10 == 0)


def test_compiled_rules_compare_by_their_rule() -> None:
    rule = RelabelRule(source_labels=("a",), regex="(.+)", target_label="b")
    assert compile_rule(rule) == compile_rule(rule)
    assert compile_rule(rule) != compile_rule(RelabelRule(target_label="b"))


# --- differential: the same cases through a real Prometheus --------------------------------

# Prometheus adds these to a static target before relabelling, unless already set.
STATIC_TARGET = "127.0.0.1:1"
SCRAPE_DEFAULTS = {
    "__address__": STATIC_TARGET,
    "__scheme__": "http",
    "__metrics_path__": "/metrics",
    "__scrape_interval__": "1h",
    "__scrape_timeout__": "10s",
}


def _every_cased_character() -> dict[str, Any]:
    """A case over every cased character: Go's rune-by-rune simple case mapping."""
    text = "".join(
        chr(c) for c in range(0x80, 0x30000) if chr(c).upper() + chr(c).lower() != 2 * chr(c)
    )
    rules = [
        {"source_labels": ["s"], "action": a, "target_label": a} for a in ("lowercase", "uppercase")
    ]
    return {"name": "every cased character", "input": {"s": text}, "rules": rules}


def _outcome(case: dict[str, Any], job: str) -> str | dict[str, str]:
    """What Prometheus should show for `case` run as job `job`, predicted by sdgen."""
    labels = {"job": job, **case["input"]}
    labels |= {name: value for name, value in SCRAPE_DEFAULTS.items() if not labels.get(name)}
    result = apply(labels, compile_rules(_rule(raw) for raw in case["rules"]))
    if result is None:
        return "dropped"
    if "__address__" not in result:
        return "failed"  # Prometheus cannot create the target: neither active nor dropped
    result.setdefault("instance", result["__address__"])
    return {name: value for name, value in result.items() if not name.startswith("__")}


@pytest.mark.prometheus
def test_prometheus_agrees_with_every_relabel_case(tmp_path: Path) -> None:
    cases = [p.values[0] for p in _table("prometheus_cases.yaml") + _table("edge_cases.yaml")]
    cases.append(_every_cased_character())
    jobs = {f"case{i}": case for i, case in enumerate(cases)}
    expected = {job: _outcome(case, job) for job, case in jobs.items()}
    config = {
        "global": {"scrape_interval": "1h"},
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [STATIC_TARGET], "labels": case["input"]}],
                "relabel_configs": case["rules"],
            }
            for job, case in jobs.items()
        ],
    }
    prometheus = start_prometheus(yaml.safe_dump(config, allow_unicode=True), tmp_path)
    try:

        def observed() -> dict[str, str | dict[str, str]]:
            data = prometheus.targets(state="any")
            seen: dict[str, str | dict[str, str]] = {
                t["scrapePool"]: t["labels"] for t in data["activeTargets"]
            }
            seen |= {t["discoveredLabels"]["job"]: "dropped" for t in data["droppedTargets"]}
            settled = sum(outcome != "failed" for outcome in expected.values())
            return seen if len(seen) >= settled else {}  # {} keeps wait_for polling

        seen = wait_for(observed, timeout=60, interval=0.2, message="all relabel jobs")
    finally:
        prometheus.stop()
    actual = {job: seen.get(job, "failed") for job in jobs}
    mismatches = {
        jobs[j]["name"]: (actual[j], expected[j]) for j in jobs if actual[j] != expected[j]
    }
    assert mismatches == {}
