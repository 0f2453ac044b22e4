"""sdgen.resolve.explain: a golden table of explanations on the corner-case cluster, and the
explanations agree with the resolver, object by object.

The table is tests/data/golden/explain/table.json: per case, the whole `--json` answer.
Regenerate after an intended change with `SDGEN_REGENERATE_GOLDEN=1` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from sdgen.cache.snapshot import load_snapshot
from sdgen.config.document import parse_config
from sdgen.config.model import Config, Target, TargetType
from sdgen.output import naming
from sdgen.resolve.explain import (
    ExplainError,
    ExplainSettings,
    ObjectKind,
    ObjectRef,
    Stage,
    explain,
    find_target,
)
from sdgen.resolve.pipeline import CandidateOutcome
from sdgen.resolve.resolver import resolve
from sdgen.resolve.sharding import Shard
from tests.support.helpers import REPO

GOLDEN = REPO / "tests" / "data" / "golden"
TABLE = GOLDEN / "explain" / "table.json"
CLUSTER = load_snapshot(GOLDEN / "cluster.yaml")
SETTINGS = ExplainSettings("monitoring", Shard(2, 0))


def _config() -> Config:
    texts = [(GOLDEN / "scrape_config.yaml"), (GOLDEN / "explain" / "scrape_config.yaml")]
    configs = [parse_config(path.read_text(), source=str(path)) for path in texts]
    assert not any(c.issues for c in configs)
    return Config(targets=tuple(t for c in configs for t in c.targets))


CONFIG = _config()

# (target, object or None, address or None): every kind of reason the explainer gives.
CASES: list[tuple[str, str | None, str | None]] = [
    ("db-pods", None, None),  # the funnel
    ("db-pods", "pod/corners/db-0", None),  # written, one of them another shard's
    ("db-pods", "po/corners/job-failed", None),  # a finished pod
    ("db-pods", "pods/corners/db-1", None),  # a pod without an IP
    ("db-pods", "pod/other/db-elsewhere", None),  # namespace labels do not match
    ("db-service", "pod/elsewhere/unwatched", None),  # not selected, so not even looked up
    ("db-pods", "pod/corners/agent-x7k2p", None),  # matchLabels value differs
    ("db-pods", "svc/corners/db", None),  # a PodMonitor explains pods
    ("agents-by-number", "pod/corners/db-0", None),  # a matchExpressions term fails
    ("agents-by-number", "pod/corners/agent-x7k2p", None),  # port by number
    ("db-service", None, None),
    ("db-service", "service/corners/db", None),  # two slices, two endpoints
    ("db-service", "svc/corners/cache", None),  # the Service's labels do not match
    ("db-service", "endpointslice/corners/db-fghij", None),  # a slice without targetRefs
    ("db-service", "pod/corners/db-0", None),  # a pod through the slices naming it
    ("db-service", "pod/corners/job-done", None),  # no slice points at the pod
    ("team/payments/../weird name ✓", None, "[2001:db8::1]:9100"),  # static, by address
    ("db-service", None, "10.1.0.5:9187"),  # by address: the whole story of those only
    ("team/payments/../weird name ✓", "pod/corners/db-0", None),
    ("relabeled", None, None),  # dropped per rule, in both lists; one invalid
    ("relabeled", "pod/corners/db-0", None),  # the init container: relabelConfigs[1]
    ("relabeled", "pod/other/db-elsewhere", None),  # relabelings[1]
    ("relabeled", "pod/corners/agent-x7k2p", None),  # an invalid address
    ("no-such-port", "pod/corners/db-0", None),  # no port named http
    ("no-such-target-port", "svc/corners/db", None),  # no targetPort 9999
]


def _file_of(name: str, index: int, line: bytes) -> str:
    return naming.targets_path(naming.slug(name, index), 0)


def _explain(name: str, obj: str | None, address: str | None) -> dict[str, Any]:
    ref = ObjectRef.parse(obj) if obj else None
    found = explain(
        find_target(CONFIG, name), CLUSTER, SETTINGS, obj=ref, address=address, file_of=_file_of
    )
    return found.as_json()


def test_explanations_match_the_golden_table() -> None:
    actual = [_explain(*case) for case in CASES]
    if os.environ.get("SDGEN_REGENERATE_GOLDEN"):
        TABLE.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(TABLE.read_text())
    assert len(actual) == len(expected)
    for case, got, want in zip(CASES, actual, expected, strict=True):
        assert got == want, case


def test_every_stage_is_named_and_reasons_are_words() -> None:
    stages = {s["stage"] for case in CASES for s in _explain(*case)["stages"]}
    assert stages == {stage.value for stage in Stage}
    answer = _explain("relabeled", "pod/corners/db-0", None)
    (dropped,) = [c for c in answer["candidates"] if c["outcome"] == "dropped"]
    assert dropped["dropped_by"] == {"list": "relabelConfigs", "index": 1, "action": "drop"}
    assert _explain("db-pods", "pod/other/db-elsewhere", None)["stages"][0] == {
        "stage": "namespaces_selected",
        "passed": False,
        "reason": "namespace labels: matchLabels team='payments': the object has team='search'",
    }


# --- agreement with the resolver -----------------------------------------------------------


def _objects(target: Target) -> Iterator[ObjectRef]:
    kinds = {
        ObjectKind.POD: CLUSTER.pod_map(None),
        ObjectKind.SERVICE: CLUSTER.service_map(None),
        ObjectKind.ENDPOINTSLICE: CLUSTER.slice_map(None),
    }
    for kind, records in kinds.items():
        if target.type is TargetType.POD_MONITOR and kind is not ObjectKind.POD:
            continue
        for key in records:
            namespace, _, name = key.partition("/")
            yield ObjectRef(kind, namespace, name)


@pytest.mark.parametrize(
    "target",
    [t for t in CONFIG.targets if t.type is not TargetType.STATIC_ENDPOINTS],
    ids=lambda t: t.name,
)
def test_an_object_is_written_by_the_resolver_iff_explain_says_every_stage_passed(
    target: Target,
) -> None:
    """Per object: the lines explain says it writes are exactly the resolver's lines that
    come from it, and every stage passed iff it writes one; over all pods (PodMonitor) or all
    slices (ServiceMonitor) that is the resolver's whole output."""
    resolution = resolve(
        Config(targets=(target,)), CLUSTER, default_namespace="monitoring", shard=SETTINGS.shard
    )
    resolved = {line for et in resolution.endpoints for line in et.lines}
    explained: set[bytes] = set()
    for obj in _objects(target):
        answer = explain(target, CLUSTER, SETTINGS, obj=obj)
        lines = {
            c.fate.line
            for c in answer.candidates
            if c.fate.outcome is CandidateOutcome.WRITTEN and c.fate.line is not None
        }
        assert lines <= resolved, obj
        assert all(s.passed for s in answer.stages) is bool(lines), (obj, answer.stages)
        assert answer.written == len(
            answer.candidates
            and [c for c in answer.candidates if c.fate.outcome is CandidateOutcome.WRITTEN]
        )
        primary = (
            ObjectKind.POD if target.type is TargetType.POD_MONITOR else ObjectKind.ENDPOINTSLICE
        )
        if obj.kind is primary:
            explained |= lines
    assert explained == resolved
    funnel = explain(target, CLUSTER, SETTINGS)
    written = next(s for s in funnel.stages if s.stage is Stage.WRITTEN)
    assert written.count == funnel.written == len(resolved)


@pytest.mark.parametrize("name", [t.name for t in CONFIG.targets])
def test_a_window_lists_its_candidates_with_their_labels_or_their_rule(name: str) -> None:
    """`window` (the page's drill-down): the stages up to the candidates, their total, and the
    window's candidates; over all windows the written ones are exactly the resolver's lines,
    each dropped one names its rule, and the count is the funnel's."""
    target = find_target(CONFIG, name)
    funnel = explain(target, CLUSTER, SETTINGS)
    counts = {s.stage: s.count for s in funnel.stages}
    whole = explain(target, CLUSTER, SETTINGS, window=(0, 10_000))
    total = counts.get(Stage.CANDIDATES) or 0
    assert whole.listed_of == len(whole.candidates) == total
    assert whole.stages[:-1] == funnel.stages[:2]  # namespaces and objects, as the funnel
    assert whole.stages[-1].stage is Stage.CANDIDATES and whole.stages[-1].count == total
    assert whole.as_json()["listed_of"] == total and "listed_of" not in funnel.as_json()
    pages = [explain(target, CLUSTER, SETTINGS, window=(i, i + 3)) for i in range(0, total, 3)]
    assert [c for p in pages for c in p.candidates] == list(whole.candidates)
    assert all(p.listed_of == total for p in pages)
    resolution = resolve(
        Config(targets=(target,)), CLUSTER, default_namespace="monitoring", shard=SETTINGS.shard
    )
    resolved = sorted(line for et in resolution.endpoints for line in et.lines)
    written = [c for c in whole.candidates if c.fate.outcome is CandidateOutcome.WRITTEN]
    assert sorted(c.fate.line for c in written if c.fate.line is not None) == resolved
    for candidate in whole.candidates:
        dropped = candidate.fate.outcome is CandidateOutcome.DROPPED
        assert (candidate.dropped_by is not None) is dropped, candidate
        assert (candidate.fate.labels is not None) is (
            candidate.fate.outcome in (CandidateOutcome.WRITTEN, CandidateOutcome.FILTERED_BY_SHARD)
        )


def test_unknown_targets_and_objects_are_explain_errors() -> None:
    with pytest.raises(ExplainError, match="no target 'nope' in the config; targets: 'db-pods'"):
        find_target(CONFIG, "nope")
    target = find_target(CONFIG, "db-pods")
    with pytest.raises(ExplainError, match="pod corners/nope is not in the cache"):
        explain(target, CLUSTER, SETTINGS, obj=ObjectRef.parse("pod/corners/nope"))
    for text in ("pod/corners", "deployment/a/b", "pod//b"):
        with pytest.raises(ExplainError, match="object"):
            ObjectRef.parse(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("pod/a/b", ObjectKind.POD),
        ("PODS/a/b", ObjectKind.POD),
        ("Po/a/b", ObjectKind.POD),
        ("svc/a/b", ObjectKind.SERVICE),
        ("Services/a/b", ObjectKind.SERVICE),
        ("endpointSlices/a/b", ObjectKind.ENDPOINTSLICE),
    ],
)
def test_object_kinds_take_kubectls_spellings_in_any_case(text: str, kind: ObjectKind) -> None:
    assert ObjectRef.parse(text) == ObjectRef(kind, "a", "b")
