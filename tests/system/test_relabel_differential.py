"""Differential relabel test: random label sets and rule lists through sdgen's engine and a
real Prometheus must give the same outcome, case by case.

Hypothesis draws the cases (fixed seed: `derandomize`, no example database), covering every
action, regexes with groups and alternations, separators, empty values, hashmod, labelmap
with `${1}` templates, and rules that touch `__address__` and the scrape interval/timeout.
Each case becomes one Prometheus job whose `static_configs` carry the labels (exactly like a
file_sd group) with the rules as `relabel_configs`; one Prometheus run reads them all back
from `/api/v1/targets?state=any`.

Outcomes: the active target's labels, "dropped", or "failed" (the relabeled labels lack
`__address__`, hold an invalid address, interval or timeout: Prometheus creates no target, so
it is neither active nor dropped, and Prometheus counts it in
`prometheus_target_sync_failed_total`). Prometheus is read once every scrape pool has synced.

Excluded by name: a labelmap that maps two labels with different values to one name. sdgen
lets the last label in sorted order win and warns (sdgen/prom/relabel.py); Prometheus 3.5's winner
is the last in its label builder's order (discovered labels sorted, then the labels it added
itself — job, interval, timeout, path, scheme — and those earlier rules set, in that order).
Such cases are counted, not compared.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sdgen.prom.duration import DurationError, parse_duration
from sdgen.prom.relabel import ACTIONS, RelabelError, RelabelRule, apply, compile_rules
from tests.support.helpers import binary, wait_for
from tests.support.prom import PromHandle, start_prometheus

pytestmark = pytest.mark.prometheus

CASES = 1100  # drawn; at least MIN_CASES must be compared
MIN_CASES = 300
STATIC_TARGET = "127.0.0.1:1"
INTERVAL, TIMEOUT = "1h", "10s"

INPUT_NAMES = ["a", "b", "c", "ab", "a_1", "__tmp", "instance"]
SOURCE_NAMES = [*INPUT_NAMES, "__address__", "__scrape_interval__", "job", "missing", "__scheme__"]
TARGET_NAMES = [
    *INPUT_NAMES,
    "__address__",
    "__scrape_interval__",
    "__scrape_timeout__",
    "job",
    "t_${1}",
    "${1}",
    "$1x",
]
VALUES = ["", "x", "a", "foo", "Foo;bar", "1h", "30s", "0s", "5m", "127.0.0.2:9", "a/b", "ǅß"]
ATOMS = [
    ".*",
    ".+",
    "(.*)",
    "(.+)",
    "a",
    "b",
    "(a|b)",
    "(a|ab|)",
    "([a-c]+)",
    r"(\d+)",
    "(?:x)?",
    "([^;]*);([^;]*)",
    "(f|F)(o+)",
    "(?i)foo",
    "_",
    r"\w*",
    "(.)",
    "(?P<n>[a-z])",
]
REPLACEMENTS = ["$1", "${1}", "${2}", "$1-$2", "x", "", "${1}_y", "$1x", "$$1", "$0", "${n}z"]
SEPARATORS = [";", "", ",", ";;", "/"]

values = st.one_of(st.sampled_from(VALUES), st.text(alphabet="aAbB0;:_-/ .ü", max_size=6))
regexes = st.one_of(
    st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3).map("".join), st.just("")
)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    """One relabel_config, Prometheus's YAML, with only the fields its action accepts."""
    action = draw(st.sampled_from(ACTIONS))
    rule: dict[str, Any] = {"action": action}
    if action not in ("labeldrop", "labelkeep", "labelmap"):
        rule["source_labels"] = draw(st.lists(st.sampled_from(SOURCE_NAMES), max_size=3))
        if len(rule["source_labels"]) > 1 and action not in ("keepequal", "dropequal"):
            rule["separator"] = draw(st.sampled_from(SEPARATORS))
    if action not in ("keepequal", "dropequal", "lowercase", "uppercase", "hashmod"):
        rule["regex"] = draw(regexes)
    if action in ("replace", "labelmap"):
        rule["replacement"] = draw(st.sampled_from(REPLACEMENTS))
    if action in ("replace", "keepequal", "dropequal", "hashmod", "lowercase", "uppercase"):
        plain = [n for n in TARGET_NAMES if "$" not in n]
        rule["target_label"] = draw(st.sampled_from(TARGET_NAMES if action == "replace" else plain))
    if action == "hashmod":
        rule["modulus"] = draw(st.sampled_from([1, 2, 3, 10, 1000, 2**64 - 1]))
    return rule


cases = st.fixed_dictionaries(
    {
        "input": st.dictionaries(st.sampled_from(INPUT_NAMES), values, max_size=5),
        "rules": st.lists(rules(), min_size=1, max_size=4),
    }
)


def _compiled(raw_rules: list[dict[str, Any]]) -> Any:
    return compile_rules(
        RelabelRule(**{**r, "source_labels": tuple(r.get("source_labels", ()))}) for r in raw_rules
    )


def _draw(count: int) -> list[dict[str, Any]]:
    """`count` cases, the same ones every run (the rules sdgen would reject are skipped)."""
    drawn: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(cases)
    def collect(case: dict[str, Any]) -> None:
        try:
            _compiled(case["rules"])
        except RelabelError:
            return
        if case not in drawn:
            drawn.append(case)

    collect()
    return drawn


def _valid_duration(text: str) -> int | None:
    try:
        return parse_duration(text) or None
    except DurationError:
        return None


def _created(labels: dict[str, str]) -> bool:
    """Prometheus's checks after relabelling (scrape/target.go PopulateLabels)."""
    address = labels.get("__address__", "")
    interval = _valid_duration(labels.get("__scrape_interval__", ""))
    timeout = _valid_duration(labels.get("__scrape_timeout__", ""))
    return (
        bool(address)
        and "/" not in address
        and bool(interval and timeout)
        and (
            timeout <= interval  # type: ignore[operator]
        )
    )


def _predicted(case: dict[str, Any], job: str) -> str | dict[str, str]:
    """sdgen's engine on what Prometheus relabels: the static labels plus its defaults."""
    labels = {"job": job, **case["input"]}
    defaults = {
        "__address__": STATIC_TARGET,
        "__scheme__": "http",
        "__metrics_path__": "/metrics",
        "__scrape_interval__": INTERVAL,
        "__scrape_timeout__": TIMEOUT,
    }
    labels |= {name: value for name, value in defaults.items() if not labels.get(name)}
    collisions: list[str] = []
    result = apply(labels, _compiled(case["rules"]), lambda _, message: collisions.append(message))
    if collisions:
        return "labelmap collision"
    if result is None:
        return "dropped"
    if not _created(result):
        return "failed"
    result.setdefault("instance", result["__address__"])
    return {name: value for name, value in result.items() if not name.startswith("__")}


def _config(jobs: dict[str, dict[str, Any]]) -> str:
    scrape_configs = [
        {
            "job_name": job,
            "scrape_interval": INTERVAL,
            "scrape_timeout": TIMEOUT,
            "static_configs": [{"targets": [STATIC_TARGET], "labels": case["input"]}],
            "relabel_configs": case["rules"],
        }
        for job, case in jobs.items()
    ]
    return yaml.safe_dump({"scrape_configs": scrape_configs}, allow_unicode=True)


def _per_job(prom: PromHandle, metric: str) -> dict[str, float]:
    """`prometheus_target_<metric>{scrape_job=...}` from Prometheus's own /metrics, non-zero."""
    with urllib.request.urlopen(f"{prom.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(rf'^prometheus_target_{metric}{{scrape_job="([^"]+)"}} (\S+)$', text, re.M)
    return {job: float(value) for job, value in found if float(value)}


def _observed(prom: PromHandle) -> dict[str, str | dict[str, str]]:
    """Each job's outcome once its pool has synced: a failed creation is counted by
    prometheus_target_sync_failed_total, so "failed" is observed, not inferred."""
    data = prom.targets(state="any")
    seen: dict[str, str | dict[str, str]] = dict.fromkeys(
        _per_job(prom, "sync_failed_total"), "failed"
    )
    seen |= {t["scrapePool"]: t["labels"] for t in data["activeTargets"]}
    seen |= {t["discoveredLabels"]["job"]: "dropped" for t in data["droppedTargets"]}
    return seen


def test_prometheus_and_sdgen_relabel_random_cases_alike(tmp_path: Path) -> None:
    drawn = _draw(CASES)
    jobs = {f"case{i}": case for i, case in enumerate(drawn)}
    expected = {job: _predicted(case, job) for job, case in jobs.items()}
    compared = {job for job, outcome in expected.items() if outcome != "labelmap collision"}
    assert len(compared) >= MIN_CASES
    prometheus = start_prometheus(_config(jobs), tmp_path)
    try:
        wait_for(
            lambda: len(_per_job(prometheus, "scrape_pool_sync_total")) == len(jobs),
            timeout=90,
            interval=0.5,
            message="every scrape pool synced once",
        )
        seen = _observed(prometheus)
    finally:
        prometheus.stop()
    mismatches = {
        job: {**jobs[job], "sdgen": expected[job], "prometheus": seen.get(job, "missing")}
        for job in sorted(compared)
        if seen.get(job, "missing") != expected[job]
    }
    version = subprocess.run(
        [str(binary("prometheus")), "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    outcomes = [o if isinstance(o, str) else "active" for o in expected.values()]
    print(
        f"relabel differential: {len(compared)} cases compared against {version}; "
        + ", ".join(f"{o}={outcomes.count(o)}" for o in sorted(set(outcomes)))
    )
    assert mismatches == {}, yaml.safe_dump(mismatches, allow_unicode=True)
