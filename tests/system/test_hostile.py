"""Hostile input: the config parser, `sdgen check`, relabel regexes and rendering never crash,
hang or blow up, whatever they are fed.

The fuzz harness bounds every case in time (BOUND, generous): RE2 keeps catastrophic-looking
regexes linear and the loader caps nesting and alias expansion, so a case over the bound is a
bug, not a slow machine. Outcomes must be a success or an error that says where (a line or a
config path). Kubernetes objects with hostile labels render to the same bytes whatever order
they arrive in. (The ops page shows a `<script>` in a pod label and in a targetName as text,
in a real browser: tests/system/test_page.py.)
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdgen.cli.check import check_text
from sdgen.config.document import parse_config
from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.k8s.records import Namespace, Pod
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.prom.relabel import RelabelRule, apply, compile_rules
from sdgen.resolve.resolver import resolve
from tests.support.helpers import REPO

BOUND = 2.0  # seconds per fuzz case
T = TypeVar("T")
SEEDS = [
    (REPO / path).read_text()
    for path in (
        "examples/scrape_config.yaml",
        "tests/data/golden/scrape_config.yaml",
        "tests/data/config/layout-a.yaml",
        "tests/data/config/three-errors.yaml",
    )
]
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)


def bounded(case: Callable[[], T], what: object) -> T:
    """Runs one fuzz case and fails it when it takes longer than BOUND."""
    started = time.perf_counter()
    result = case()
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND, f"{elapsed:.2f}s (bound {BOUND}s) for {str(what)[:300]!r}"
    return result


# Errors about the document as a whole: the file name is their location.
WHOLE_DOCUMENT = ("the document is empty", "YAML aliases expand", "the document is nested")


def assert_sane(config: Config) -> None:
    """A Config came back, and every error says where it is."""
    assert isinstance(config, Config)
    for issue in config.errors:
        located = issue.line is not None or issue.path or issue.message.startswith(WHOLE_DOCUMENT)
        assert located and issue.message, f"unlocated error: {issue}"
        assert "internal error" not in issue.message, issue


# --- the config parser ---------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + f"\ntargets: *{chr(ord('a') + levels - 1)}\n"


HOSTILE = {
    "deep flow nesting": "targets: " + "[" * 50_000 + "]" * 50_000,
    "deep block nesting": "".join(f"{' ' * i}k{i}:\n" for i in range(2_000)),
    "huge string": "targets:\n- targetName: " + "x" * 5_000_000 + "\n  type: StaticEndpoints\n",
    "huge key count": "targets:\n- {" + ", ".join(f"k{i}: {i}" for i in range(20_000)) + "}\n",
    "billion laughs": billion_laughs(),
    "alias cycle-ish merge": "a: &a {b: 1}\n" + "".join(f"m{i}: {{<<: *a}}\n" for i in range(5000)),
    "binary": bytes(range(256)).decode("latin-1") * 100,
    "nul bytes": "targets:\x00\x00 []\n",
    "lone surrogates": "targets:\n- targetName: \udcff\udc80\n",
    "bom and crlf": "\ufefftargets: []\r\n\r\n",
    "unicode line breaks": "targets:\u2028- a\u2029\x85- b\n",
    "tags": "targets: !!python/object:os.system ['echo pwned']\n",
    "huge int": "scrapingInterval: " + "9" * 100_000 + "\n",
    "regex backreference": SEEDS[0].replace("regex: istio-proxy", r"regex: '(a)\1'"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_documents_give_a_config_with_located_errors(name: str) -> None:
    text = HOSTILE[name]
    config = bounded(lambda: parse_config(text, source="hostile"), name)
    assert_sane(config)
    if name in ("billion laughs", "deep flow nesting", "deep block nesting", "tags"):
        assert not config.usable or config.errors, f"{name} must be rejected"


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace", "duplicate-line", "indent"]),
        st.integers(0, 10**6),
        st.text(min_size=1, max_size=8) | st.sampled_from(["&x ", "*x", ":", "- ", "\t", "{"]),
    ),
    min_size=1,
    max_size=6,
)


def mutate(text: str, mutations: list[tuple[str, int, str]]) -> str:
    for kind, where, piece in mutations:
        at = where % (len(text) + 1)
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + len(piece) :]
        elif kind == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        else:
            lines = text.split("\n")
            i = where % len(lines)
            extra = lines[i] if kind == "duplicate-line" else " " + lines[i]
            lines.insert(i, extra)
            text = "\n".join(lines)
    return text


@FUZZ
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=MUTATIONS)
def test_mutated_real_configs_parse_or_fail_with_located_errors(
    seed: int, mutations: list[tuple[str, int, str]]
) -> None:
    text = mutate(SEEDS[seed], mutations)
    assert_sane(bounded(lambda: parse_config(text, source="fuzz"), text))
    issues = bounded(lambda: check_text(text), text)
    assert issues is None or all(
        i.line is not None or i.path or i.message.startswith(WHOLE_DOCUMENT) for i in issues
    ), issues


@FUZZ
@given(text=st.text(max_size=2000) | st.binary(max_size=2000).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_parses_or_fails_with_located_errors(text: str) -> None:
    assert_sane(bounded(lambda: parse_config(text, source="fuzz"), text))


# --- regexes --------------------------------------------------------------------------------

CATASTROPHIC = ["(a+)+$", "(a|aa)+b", "(.*a){25}", "(x+x+)+y", "(a|a?)+c", "^(([a-z])+.)+[A-Z]"]


@FUZZ
@given(
    pattern=st.sampled_from(CATASTROPHIC),
    length=st.integers(1, 200_000),
    filler=st.sampled_from("ax"),
    tail=st.sampled_from(["", "!", "b", "y"]),
)
def test_catastrophic_looking_regexes_stay_linear(
    pattern: str, length: int, filler: str, tail: str
) -> None:
    rules = compile_rules(
        [RelabelRule(source_labels=("v",), regex=pattern, target_label="m", replacement="$1")]
    )
    value = filler * length + tail
    result = bounded(lambda: apply({"v": value}, rules), (pattern, length, tail))
    assert result is not None and result["v"] == value


# --- sdgen check end to end ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data",
    [
        ("billion-laughs.yaml", billion_laughs().encode()),
        ("not-utf8.yaml", b"targets:\n- targetName: caf\xe9\xff\xfe\n  type: StaticEndpoints\n"),
        ("binary.yaml", bytes(random.Random(8).randrange(256) for _ in range(100_000))),
        ("deep.yaml", b"targets: " + b"[" * 100_000),
        (
            "binary-configmap.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            b"binaryData: {scrape_config.yaml: AAECAwQ=}\n",
        ),
    ],
)
def test_check_reports_hostile_files_without_crashing(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert str(path) in done.stdout + done.stderr


def test_ten_thousand_targets_are_checked(tmp_path: Path) -> None:
    """Timed and printed, not asserted: a size users reach."""
    lines = ["targets:"]
    for i in range(10_000):
        lines += [
            f"- targetName: t{i}",
            "  type: StaticEndpoints",
            f"  endpoints: [{{address: '10.{i // 250 % 256}.{i % 250}.1:9100'}}]",
            "  relabelConfigs: [{targetLabel: team, replacement: a}]",
        ]
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    config = parse_config(path.read_text(), source=str(path))
    parsed = time.perf_counter() - started
    assert len(config.targets) == 10_000 and not config.errors
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sdgen", "check", str(path)], capture_output=True, timeout=120
    )
    print(
        f"10k targets: parse_config {parsed:.2f}s, sdgen check {time.perf_counter() - started:.2f}s"
    )
    assert done.returncode == 0, done.stdout


# --- hostile Kubernetes objects ---------------------------------------------------------------

# Keys that all sanitise to `a_b`, plus unicode and long ones.
LABEL_KEYS = st.sampled_from(["a.b", "a-b", "a/b", "a_b", "ñ", "日本", "x" * 300, "app"])
LABEL_VALUES = st.text(max_size=50) | st.just("v" * 100_000) | st.just("\u202e\u0000\ufeff")


def pod(name: str, labels: dict[str, str], annotations: dict[str, str]) -> Pod:
    manifest: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {**labels, "app": "x"},
            "annotations": annotations,
        },
        "spec": {"containers": [{"name": "c", "ports": [{"name": "m", "containerPort": 9100}]}]},
        "status": {"phase": "Running", "podIP": f"10.0.0.{len(name)}"},
    }
    return msgspec.convert(manifest, Pod)


def shuffled(mapping: dict[str, str], rng: random.Random) -> dict[str, str]:
    items = list(mapping.items())
    rng.shuffle(items)
    return dict(items)


@FUZZ
@given(
    objects=st.lists(
        st.tuples(
            st.dictionaries(LABEL_KEYS, LABEL_VALUES), st.dictionaries(LABEL_KEYS, LABEL_VALUES)
        ),
        min_size=1,
        max_size=6,
    ),
    shuffle=st.randoms(use_true_random=False),
)
def test_hostile_labels_render_the_same_bytes_in_any_order(
    objects: list[tuple[dict[str, str], dict[str, str]]], shuffle: random.Random
) -> None:
    rules = (
        RelabelRule(action="labelmap", regex="__meta_kubernetes_pod_label_(.+)"),
        RelabelRule(
            action="labelmap", regex="__meta_kubernetes_pod_annotation_(.+)", replacement="an_$1"
        ),
    )
    target = Target(
        "hostile ✓/..",
        TargetType.POD_MONITOR,
        (Endpoint(port="m", relabelings=rules),),
        True,
        NamespaceSelector(any=True),
        LabelSelector(match_labels=(("app", "x"),)),
    )
    pods = [pod(f"p{i}", labels, notes) for i, (labels, notes) in enumerate(objects)]
    again = [
        pod(p.metadata.name, shuffled(ls, shuffle), shuffled(ns, shuffle))
        for p, (ls, ns) in zip(pods, objects, strict=True)
    ]
    shuffle.shuffle(again)

    def rendered(pods: list[Pod], keep_meta: bool) -> dict[str, bytes]:
        namespace = msgspec.convert({"metadata": {"name": "ns"}}, Namespace)
        cluster = StaticCluster.from_objects(pods=pods, namespaces=[namespace])
        resolution = resolve(
            Config(targets=(target,)), cluster, default_namespace="ns", keep_meta_labels=keep_meta
        )
        assert not resolution.errors, resolution.errors
        return render.render(resolution.endpoints)

    for keep_meta in (False, True):
        first = bounded(lambda keep=keep_meta: rendered(pods, keep), objects)
        assert first == rendered(again, keep_meta)
        assert all(path.startswith(("targets/", "relabel/", "scrape/")) for path in first)
