"""render: slugs (properties), golden bytes, and the real consumers — promtool and Prometheus.

Golden files live in tests/data/render/<case>/ (the three files of each endpoint, as written
to an output dir). After an intended change to the output format, regenerate them with

    SDGEN_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/output/test_render.py

and review the diff: those bytes are what users' Prometheus reads.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sdgen.config.model import (
    Authorization,
    BasicAuth,
    Endpoint,
    SecretRef,
    Target,
    TargetType,
    TLSConfig,
)
from sdgen.output import naming, render
from sdgen.output.naming import slug, target_prefix
from sdgen.prom.relabel import RelabelRule
from sdgen.resolve.pipeline import ScrapeTarget
from sdgen.resolve.resolver import EndpointTargets
from tests.support.helpers import REPO

GOLDEN = REPO / "tests/data/render"
SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
CREDENTIALS = "/etc/sdgen-test"  # rewritten to a temp dir before promtool checks files


def binary(name: str) -> str:
    path = os.environ.get(name.upper()) or str(REPO / ".cache/bin" / name)
    assert Path(path).exists(), (
        f"{name} not found at {path}; run `make tools` or set {name.upper()}"
    )
    return path


# Slugs ----------------------------------------------------------------------------------

names = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["/", "..", "../../etc/passwd", "\x00", ".hidden", "-rf", "", "a" * 300]),
)


@given(names, st.integers(min_value=0, max_value=10_000), st.integers(0, 2**20))
def test_slug_is_a_safe_bounded_file_stem(name: str, index: int, part: int) -> None:
    stem = slug(name, index)
    assert set(stem) <= SAFE
    assert not stem.startswith((".", "-")) and ".." not in stem
    assert len(stem) <= 120
    assert stem == slug(name, index)
    root = Path("/srv/out")
    job_dir = (root / naming.targets_path(stem, part)).resolve().parent
    assert job_dir.parent == root / "targets" and job_dir.name == naming.job_name(stem, part)
    assert set(job_dir.name) <= SAFE and len(job_dir.name.encode()) <= 255
    for rel in (naming.relabel_path(stem), naming.scrape_path(stem)):
        assert (root / rel).resolve().parent.parent == root


@given(names, names, st.integers(0, 50), st.integers(0, 50))
def test_distinct_endpoints_get_distinct_slugs_and_prefixes_do_not_overlap(
    a: str, b: str, i: int, j: int
) -> None:
    assert slug(a, i).startswith(target_prefix(a))
    if (a, i) != (b, j):
        assert slug(a, i) != slug(b, j)
    if a != b:
        assert not slug(b, j).startswith(target_prefix(a))


@given(names, st.integers(0, 50), st.integers(0, 64))
def test_every_written_file_maps_back_to_its_target_prefix(
    name: str, index: int, part: int
) -> None:
    stem = slug(name, index)
    for path in (
        naming.targets_path(stem, part),
        naming.relabel_path(stem),
        naming.scrape_path(stem),
        naming.secret_path(stem, "ca"),
    ):
        assert naming.prefix_of(path) == target_prefix(name)
    assert naming.prefix_of("targets/users-own-file.json") == ""
    assert naming.prefix_of("targets/users-own-dir/targets.json") == ""


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    [
        ("node-exporter", 0, "node-exporter.2303824a4e3dc61fe3195d1a6e978029.0"),
        ("node-exporter", 12, "node-exporter.2303824a4e3dc61fe3195d1a6e978029.12"),
        ("team/app", 0, "team_app.e46f7d74783804faa2021a16921c53e9.0"),
        # reads the same as team/app, differs by its hash
        ("team_app", 0, "team_app.f0a51a88f7305863177bbbcbb56b217d.0"),
        ("..", 1, "__.5ec1f7e700f37c3d0b2981d04855fc34.1"),
        ("-rf", 0, "_-rf.686c39acd6327bbd2c7c3aeea382e60f.0"),
        ("", 0, "_.e3b0c44298fc1c149afbf4c8996fb924.0"),
        ("café ☃", 0, "caf___.ce335642bab85530c756f72c1afb3bfc.0"),
    ],
)
def test_slug_examples(name: str, index: int, expected: str) -> None:
    assert slug(name, index) == expected


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError):
        slug("a", -1)


# Golden output --------------------------------------------------------------------------

TRICKY_RULES = (
    RelabelRule(source_labels=("__name__",), regex="go_.*|process_.*", action="drop"),
    RelabelRule(
        source_labels=("verb", "code"),
        separator="|",
        regex=r'(\w+)\|(\d)\d\d "quoted" \\ it\'s',
        target_label="http_${1}_class",
        replacement="${1}-${2}xx $$ '\"",
    ),
    RelabelRule(source_labels=("city",), regex="Zürich|東京 ☃", target_label="cc", replacement=""),
    RelabelRule(regex="line\nbreak\ttab", target_label="x", replacement="a\u2028b"),
    RelabelRule(source_labels=("instance",), modulus=4, target_label="shard", action="hashmod"),
    RelabelRule(regex="tmp_(.+)", action="labeldrop"),
    RelabelRule(regex="true", action="labelkeep"),  # a YAML-looking string stays a string
)


def endpoint_targets(
    name: str, endpoint: Endpoint, targets: list[tuple[str, dict[str, str]]], index: int = 0
) -> EndpointTargets:
    target = Target(name=name, type=TargetType.STATIC_ENDPOINTS, endpoints=(endpoint,))
    scrape = tuple(
        ScrapeTarget(address, labels, {"__address__": address}) for address, labels in targets
    )
    return EndpointTargets.of(target, index, endpoint, scrape)


def labels(job: str, address: str, **extra: str) -> dict[str, str]:
    return {
        "job": job,
        "instance": address,
        "__scheme__": "http",
        "__metrics_path__": "/metrics",
        "__scrape_interval__": "30s",
        "__scrape_timeout__": "10s",
        **extra,
    }


CASES: dict[str, list[EndpointTargets]] = {
    "minimal": [
        endpoint_targets(
            "legacy-db",
            Endpoint(addresses=("192.0.2.100:9100",)),
            [("192.0.2.100:9100", labels("legacy-db", "192.0.2.100:9100"))],
        ),
    ],
    "empty": [endpoint_targets("nothing-yet", Endpoint(port="metrics", interval_ms=15_000), [])],
    "tls-authorization-relabel": [
        endpoint_targets(
            "kube-apiserver",
            Endpoint(
                port="https",
                scheme="https",
                path="/metrics",
                interval_ms=30_000,
                timeout_ms=2_500,
                tls=TLSConfig(
                    insecure_skip_verify=True,
                    server_name="kubernetes.default.svc",
                    ca_file=f"{CREDENTIALS}/ca.crt",
                    cert_file=f"{CREDENTIALS}/tls.crt",
                    key_file=f"{CREDENTIALS}/tls.key",
                ),
                authorization=Authorization(credentials_file=f"{CREDENTIALS}/token"),
                metric_relabelings=TRICKY_RULES,
                honor_labels=True,
                sample_limit=5000,
            ),
            [  # unsorted on purpose, with a duplicate and non-ASCII values
                ("10.0.0.2:6443", labels("kube-apiserver", "10.0.0.2:6443", zone="Zürich ☃")),
                ("10.0.0.1:6443", labels("kube-apiserver", "10.0.0.1:6443", note='a "b" \\ c')),
                ("10.0.0.2:6443", labels("kube-apiserver", "10.0.0.2:6443", zone="Zürich ☃")),
            ],
        ),
    ],
    "basic-auth-params-two-endpoints": [
        endpoint_targets(
            "team/probe ../x",
            Endpoint(
                addresses=("blackbox:9115",),
                path="/probe",
                scheme="http",
                params=(("module", ("http_2xx",)), ("target", ("https://example.com/?a=1&b=2",))),
                basic_auth=BasicAuth(username="prober", password_file=f"{CREDENTIALS}/password"),
                honor_labels=False,
            ),
            [
                (
                    "blackbox:9115",
                    labels("team/probe ../x", "blackbox:9115", __param_module="http_2xx"),
                )
            ],
            index=index,
        )
        for index in (0, 1)
    ],
}


def rendered(case: str) -> dict[str, bytes]:
    return render.render(CASES[case])


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_bytes(case: str) -> None:
    files = rendered(case)
    directory = GOLDEN / case
    if os.environ.get("SDGEN_REGENERATE_GOLDEN"):
        for stale in [p for p in directory.rglob("*") if p.is_file()]:
            if str(stale.relative_to(directory)) not in files:  # renamed or gone
                stale.unlink()
        for rel, data in files.items():
            (directory / rel).parent.mkdir(parents=True, exist_ok=True)
            (directory / rel).write_bytes(data)
        for empty in sorted(directory.rglob("*"), reverse=True):  # deepest first
            if empty.is_dir() and not any(empty.iterdir()):
                empty.rmdir()
    on_disk = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
    assert on_disk == set(files)
    for rel, data in files.items():
        assert data == (directory / rel).read_bytes(), rel


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_file_ends_with_a_newline_and_parses(case: str) -> None:
    for rel, data in rendered(case).items():
        assert data.endswith(b"\n")
        parsed = json.loads(data) if rel.endswith(".json") else yaml.safe_load(data)
        assert isinstance(parsed, list if rel.endswith(".json") else dict)


def test_file_sd_has_one_sorted_group_per_distinct_target() -> None:
    [et] = CASES["tls-authorization-relabel"]
    groups = json.loads(only_file_sd(render.render_endpoint(et), et))
    assert [g["targets"] for g in groups] == [["10.0.0.1:6443"], ["10.0.0.2:6443"]]
    assert groups[1]["labels"]["zone"] == "Zürich ☃"


@pytest.mark.parametrize("value", ["", "\x00", "\u2028", '"\\', "Zürich ☃", "\ud800"])
def test_file_sd_writes_any_label_value_losslessly(value: str) -> None:
    [et] = CASES["minimal"]
    [group] = json.loads(only_file_sd(render.render_endpoint(et_with_label(et, value)), et))
    assert group["labels"]["v"] == value


def et_with_label(et: EndpointTargets, value: str) -> EndpointTargets:
    targets = tuple(ScrapeTarget(t.address, {**t.labels, "v": value}, {}) for t in et.targets)
    return EndpointTargets.of(et.target, et.index, et.endpoint, targets)


def targets_files(files: dict[str, bytes], et: EndpointTargets) -> list[str]:
    """The endpoint's targets files, one per part, in part order (checked to be all of
    `targets/<slug>.p<part>/targets.json` for parts 0..n-1, and nothing else of it)."""
    stem = slug(et.target.name, et.index)
    found = sorted(
        (rel for rel in files if rel.startswith(f"targets/{stem}.")),
        key=lambda rel: int(rel.split("/")[1].rpartition(".p")[2]),
    )
    assert found == [f"targets/{stem}.p{part}/targets.json" for part in range(len(found))]
    return found


def only_file_sd(files: dict[str, bytes], et: EndpointTargets) -> bytes:
    """The targets file of an endpoint small enough to be one part."""
    [rel] = targets_files(files, et)
    return files[rel]


def test_relabel_file_and_fragment_carry_the_same_rules_losslessly() -> None:
    [et] = CASES["tls-authorization-relabel"]
    files = render.render_endpoint(et)
    stem = slug(et.target.name, 0)
    relabel = yaml.safe_load(files[f"relabel/{stem}.yml"])["metric_relabel_configs"]
    [job] = yaml.safe_load(files[f"scrape/{stem}.yml"])["scrape_configs"]
    assert job["metric_relabel_configs"] == relabel
    assert [as_rule(r) for r in relabel] == list(TRICKY_RULES)


strings = st.text() | st.sampled_from(["${1}", "$$", "'", '"', "\\", "\n", "\ud800", "null"])


@given(strings, strings, strings)
def test_any_rule_strings_survive_yaml_and_both_emitters_agree(
    regex: str, replacement: str, label: str
) -> None:
    rule = RelabelRule(
        source_labels=(label,), regex=regex, target_label=label, replacement=replacement
    )
    document = {"metric_relabel_configs": [render._relabel_rule(rule)]}
    rendered = render._yaml(document)
    assert yaml.safe_load(rendered) == document
    if "\ud800" not in regex + replacement + label:  # only the pure emitter writes these
        quoted = render._quote(document)
        assert render._dump(quoted, render._PURE_DUMPER) == rendered


def as_rule(raw: dict[str, Any]) -> RelabelRule:
    return RelabelRule(**{**raw, "source_labels": tuple(raw.get("source_labels", ()))})


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (Endpoint(), {"scrape_interval": "30s", "metrics_path": "/metrics"}),
        (
            Endpoint(interval_ms=90_000, timeout_ms=1_500, path="/m", scheme="https"),
            {
                "scrape_interval": "1m30s",
                "scrape_timeout": "1s500ms",
                "metrics_path": "/m",
                "scheme": "https",
            },
        ),
        (Endpoint(tls=TLSConfig()), {"scrape_interval": "30s", "metrics_path": "/metrics"}),
        (
            Endpoint(honor_labels=False, sample_limit=0),
            {
                "scrape_interval": "30s",
                "metrics_path": "/metrics",
                "honor_labels": False,
                "sample_limit": 0,
            },
        ),
        (
            Endpoint(authorization=Authorization(type="Bearer", credentials_file="/t")),
            {
                "scrape_interval": "30s",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials_file": "/t"},
            },
        ),
        (
            Endpoint(params=(("a", ("1", "2")),), tls=TLSConfig(server_name="s")),
            {
                "scrape_interval": "30s",
                "metrics_path": "/metrics",
                "params": {"a": ["1", "2"]},
                "tls_config": {"server_name": "s"},
            },
        ),
    ],
)
def test_fragment_job_fields(endpoint: Endpoint, expected: dict[str, Any]) -> None:
    et = endpoint_targets("t", endpoint, [])
    stem = slug("t", 0)
    [job] = yaml.safe_load(render.render_endpoint(et)[f"scrape/{stem}.yml"])["scrape_configs"]
    files = {"file_sd_configs": [{"files": [f"../targets/{stem}.p0/targets.json"]}]}
    assert job == {"job_name": f"{stem}.p0", **expected, **files}


def test_rendering_is_deterministic_whatever_the_input_order() -> None:
    [et] = CASES["tls-authorization-relabel"]
    shuffled = EndpointTargets.of(et.target, et.index, et.endpoint, reversed(et.targets))
    assert render.render_endpoint(shuffled) == render.render_endpoint(et)


def test_an_endpoint_rendering_an_earlier_ones_file_is_left_out_alone() -> None:
    """Issue 17, item 7: a clash failed the whole render, every cycle; now the later target
    is left out and named, and the others render."""
    [et] = CASES["minimal"]
    other = endpoint_targets("other", Endpoint(addresses=("192.0.2.5:1",)), [("192.0.2.5:1", {})])
    clashing = EndpointTargets.of(
        Target("clone", TargetType.STATIC_ENDPOINTS, (et.endpoint,)), 0, et.endpoint, et.targets
    )
    renderer = render.Renderer()
    files = renderer.render([et, other])
    with pytest.MonkeyPatch.context() as patch:  # as if "clone" hashed like et's name
        patch.setattr(
            render, "slug", lambda name, i: slug(et.target.name if name == "clone" else name, i)
        )
        assert renderer.render([et, clashing, other]) == files
    assert list(renderer.clashes) == ["clone"]
    assert "endpoints[0] would write relabel/" in renderer.clashes["clone"]
    renderer.render([et, other])
    assert renderer.clashes == {}


# Parts of a big endpoint ------------------------------------------------------------------

BIG = "big"
BIG_STEM = slug(BIG, 0)
PART_SIZE = 10  # N: an endpoint doubles its parts past 2N in one, halves below N/2 per part


def big_targets(count: int) -> list[tuple[str, dict[str, str]]]:
    addresses = [f"10.0.{i // 250}.{i % 250}:9100" for i in range(count)]
    return [(address, labels(BIG, address)) for address in addresses]


def big(
    targets: list[tuple[str, dict[str, str]]], endpoint: Endpoint | None = None
) -> EndpointTargets:
    return endpoint_targets(BIG, endpoint or Endpoint(port="metrics"), targets)


def file_lines(data: bytes) -> list[bytes]:
    """The groups of a targets file, as the lines it holds them in."""
    if data == b"[]\n":
        return []
    assert data.startswith(b"[\n") and data.endswith(b"\n]\n")
    lines = data[2:-3].split(b",\n")
    assert json.loads(data) == [json.loads(line) for line in lines]
    return lines


def fragment_jobs(files: dict[str, bytes], stem: str = BIG_STEM) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = yaml.safe_load(files[naming.scrape_path(stem)])["scrape_configs"]
    return jobs


def test_a_big_endpoint_is_split_into_sorted_parts_that_hold_every_target_once() -> None:
    et = big(big_targets(100))
    files = render.render([et], part_size=PART_SIZE)
    paths = targets_files(files, et)
    parts = len(paths)
    assert parts >= 8 and parts & (parts - 1) == 0  # 100 targets, at most 2N per part
    seen: list[bytes] = []
    for part, rel in enumerate(paths):
        lines = file_lines(files[rel])
        assert lines == sorted(lines), rel
        assert len(lines) <= 2 * PART_SIZE, rel
        for line in lines:  # a target's part is a stable function of its address
            [address] = json.loads(line)["targets"]
            assert zlib.crc32(address.encode()) % parts == part, (address, rel)
        seen += lines
    assert sorted(seen) == list(et.lines)  # the union is all targets, each once


def test_the_fragment_has_one_job_per_part_with_the_endpoints_settings_and_its_own_file() -> None:
    endpoint = Endpoint(
        port="https",
        scheme="https",
        path="/m",
        interval_ms=15_000,
        timeout_ms=5_000,
        params=(("module", ("a", "b")),),
        tls=TLSConfig(server_name="s", ca_file="/ca"),
        authorization=Authorization(credentials_file="/token"),
        metric_relabelings=TRICKY_RULES[:2],
        honor_labels=True,
        sample_limit=7,
    )
    et = big(big_targets(100), endpoint)
    files = render.render([et], part_size=PART_SIZE)
    paths = targets_files(files, et)
    assert len(paths) > 1
    jobs = fragment_jobs(files)
    assert [job["job_name"] for job in jobs] == [f"{BIG_STEM}.p{i}" for i in range(len(paths))]
    assert [job["file_sd_configs"] for job in jobs] == [[{"files": [f"../{p}"]}] for p in paths]
    [whole] = fragment_jobs(render.render([et]))  # the same endpoint as one part
    settings = {k: v for k, v in whole.items() if k not in ("job_name", "file_sd_configs")}
    assert {"scheme", "params", "tls_config", "authorization", "sample_limit"} <= set(settings)
    assert "metric_relabel_configs" in settings
    for job in jobs:
        assert list(job) == list(whole)  # the same fields in the same order
        assert {k: v for k, v in job.items() if k in settings} == settings
    others = sorted(rel for rel in files if not rel.startswith("targets/"))
    assert others == [naming.relabel_path(BIG_STEM), naming.scrape_path(BIG_STEM)]


def test_a_changed_target_rewrites_only_its_parts_file() -> None:
    renderer = render.Renderer(PART_SIZE)
    targets = big_targets(100)
    et = big(targets)
    before = renderer.render([et])
    again = renderer.render([et])  # the same lines object: the very same bytes objects
    assert again.keys() == before.keys() and all(again[rel] is before[rel] for rel in before)
    address, old_labels = targets[37]
    targets[37] = (address, {**old_labels, "zone": "b"})
    after = renderer.render([big(targets)])
    assert after.keys() == before.keys()
    parts = len(targets_files(after, et))
    changed = naming.targets_path(BIG_STEM, zlib.crc32(address.encode()) % parts)
    assert b'"zone":"b"' in after[changed] and b'"zone"' not in before[changed]
    for rel in targets_files(after, et):
        if rel != changed:
            assert after[rel] is before[rel], rel  # the very same object: nothing re-joined
    for rel in (naming.relabel_path(BIG_STEM), naming.scrape_path(BIG_STEM)):
        assert after[rel] == before[rel]  # same parts, same fragment: no reload


def parts_after(renderer: render.Renderer, count: int) -> int:
    """Render `count` targets of the big endpoint; how many parts it has now (checked to agree
    between the targets files, the fragment's jobs and the renderer)."""
    et = big(big_targets(count))
    files = renderer.render([et])
    parts = len(targets_files(files, et))
    assert len(fragment_jobs(files)) == parts == renderer.parts(BIG, 0)
    return parts


def test_the_number_of_parts_keeps_hysteresis_across_renders() -> None:
    renderer = render.Renderer(PART_SIZE)
    steps = [  # (targets, parts after rendering them, why)
        (20, 1, "2N targets fit in one part"),
        (21, 2, "past 2N in a part: doubles"),
        (10, 2, "N/2 per part: in between, unchanged"),
        (9, 1, "just under N/2 per part: halves"),
        (20, 1, "in between: unchanged"),
        (21, 2, "past 2N: doubles"),
        (60, 4, "a part past 2N: doubles"),
        (20, 4, "N/2 per part: unchanged"),
        (19, 2, "just under N/2 per part: halves, and 19 in 2 parts is not under N/2"),
        (10, 2, "N/2 per part: unchanged"),
        (9, 1, "just under N/2 per part: halves"),
    ]
    for count, parts, why in steps:
        assert parts_after(renderer, count) == parts, (count, why)
    for count in (10, 20):  # in between, the count is history: a fresh start has one part
        assert parts_after(render.Renderer(PART_SIZE), count) == 1


def test_a_fresh_renderer_starts_with_the_parts_found_on_disk() -> None:
    first = render.Renderer(PART_SIZE)
    assert parts_after(first, 21) == 2
    et = big(big_targets(12))  # in between: keeps 2 parts, where a fresh start makes 1
    on_disk = first.render([et])
    hint = naming.parts_on_disk(on_disk)
    assert hint == {BIG_STEM: 2}
    restarted = render.Renderer(PART_SIZE, parts_hint=hint)
    assert restarted.render([et]) == on_disk  # the same files and jobs: no reload
    assert restarted.parts(BIG, 0) == 2
    assert render.Renderer(PART_SIZE).render([et]) != on_disk
    assert parts_after(render.Renderer(PART_SIZE, {slug("other", 0): 2}), 12) == 1
    assert parts_after(render.Renderer(PART_SIZE, hint), 9) == 1  # a start, not a pin


# The consumers ------------------------------------------------------------------------

SPLIT = big(big_targets(100))  # rendered with PART_SIZE for the consumers: many jobs


def split_parts() -> int:
    return len(targets_files(render.render([SPLIT], part_size=PART_SIZE), SPLIT))


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """Every case rendered into one output dir, and an endpoint split into parts, credentials
    pointing at real files."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("ca.crt", "tls.crt", "tls.key"):  # a self-signed pair made for these tests
        (secrets / name).write_bytes((GOLDEN / "tls" / name).read_bytes())
    for name in ("token", "password"):
        (secrets / name).write_text("not really a secret\n")
    out = tmp_path / "out"
    everything = [rendered(case) for case in CASES] + [render.render([SPLIT], PART_SIZE)]
    for files in everything:
        for rel, data in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data.replace(CREDENTIALS.encode(), str(secrets).encode()))
    (tmp_path / "prometheus.yml").write_text(f"scrape_config_files: ['{out}/scrape/*.yml']\n")
    return tmp_path


def test_promtool_accepts_fragments_relabels_and_file_sd(output: Path) -> None:
    check = subprocess.run(
        [binary("promtool"), "check", "config", str(output / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    report = check.stdout + check.stderr
    assert check.returncode == 0, report
    assert "SUCCESS" in report and "WARNING" not in report, report  # every file_sd file found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prometheus(output: Path) -> Iterator[str]:
    """Prometheus over the fragments pasted as text into one config file, because
    /api/v1/status/config shows only the main file; it sits beside scrape/, so the fragments'
    relative file_sd paths still resolve."""
    fragments = sorted((output / "out/scrape").glob("*.yml"))
    jobs = [f.read_text().partition("\nscrape_configs:\n")[2] for f in fragments]
    config = output / "out/combined/prometheus.yml"
    config.parent.mkdir()
    config.write_text("scrape_configs:\n" + "".join(jobs))
    port = free_port()
    process = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={output / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=30)


def api(base: str, path: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return json.load(response)["data"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_prometheus_reads_back_exactly_what_was_rendered(output: Path, prometheus: str) -> None:
    everything = [et for ets in CASES.values() for et in ets]
    parts = split_parts()
    assert parts > 1
    loaded = yaml.safe_load(api(prometheus, "/api/v1/status/config")["yaml"])
    jobs = {job["job_name"]: job for job in loaded["scrape_configs"]}
    assert set(jobs) == {f"{slug(et.target.name, et.index)}.p0" for et in everything} | {
        f"{BIG_STEM}.p{part}" for part in range(parts)
    }
    for name, job in jobs.items():  # each job reads its own part's file, resolved
        files = [str(output / "out/targets" / name / "targets.json")]
        assert [sd["files"] for sd in job["file_sd_configs"]] == [files]
    tricky = jobs[f"{slug('kube-apiserver', 0)}.p0"]["metric_relabel_configs"]
    # Prometheus prints the loaded values, leaving out empty and default ones.
    assert [(r.get("regex", "(.*)"), r.get("replacement", "")) for r in tricky] == [
        (r.regex, r.replacement) for r in TRICKY_RULES
    ]
    expected = {
        (f"{slug(et.target.name, et.index)}.p0", t.address): dict(t.labels)
        for et in everything
        for t in et.targets
    }
    for t in SPLIT.targets:  # each in the job of its part
        job = f"{BIG_STEM}.p{zlib.crc32(t.address.encode()) % parts}"
        expected[(job, t.address)] = dict(t.labels)
    deadline = time.monotonic() + 60
    while (seen := discovered(prometheus)).keys() != expected.keys():
        assert time.monotonic() < deadline, (sorted(seen), sorted(expected))
        time.sleep(0.2)
    for key, labels in expected.items():  # Prometheus adds __meta_filepath and params
        assert labels.items() <= seen[key].items()


def discovered(base: str) -> dict[tuple[str, str], dict[str, str]]:
    targets = api(base, "/api/v1/targets?state=active")["activeTargets"]
    return {
        (t["scrapePool"], t["discoveredLabels"]["__address__"]): t["discoveredLabels"]
        for t in targets
    }


def test_an_unchanged_rerender_dumps_no_yaml_at_any_endpoint_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17, item 8: a cache of 4,096 entries got no hits at all above that many endpoints
    (each render evicted what the next needed), so an unchanged re-render of 5,000 endpoints
    dumped every fragment's YAML again."""
    endpoint = Endpoint(addresses=("192.0.2.1:9100",), metric_relabelings=TRICKY_RULES[:2])
    ets = [endpoint_targets(f"t{i}", endpoint, [("192.0.2.1:9100", {})]) for i in range(5000)]
    renderer = render.Renderer()
    first = renderer.render(ets)
    dumps: list[object] = []
    real = render._yaml
    monkeypatch.setattr(render, "_yaml", lambda doc: dumps.append(doc) or real(doc))
    assert renderer.render(ets) == first
    assert dumps == []
    changed = Endpoint(addresses=("192.0.2.1:9100",), metric_relabelings=TRICKY_RULES[:3])
    ets[7] = endpoint_targets("t7", changed, [("192.0.2.1:9100", {})])
    again = renderer.render(ets)
    assert len(dumps) == 2  # the one changed endpoint's relabel file and fragment
    assert [p for p in again if again[p] != first[p]] == [
        naming.relabel_path(slug("t7", 0)),
        naming.scrape_path(slug("t7", 0)),
    ]


# The vmagent dialect (--fragment-format vmagent) ----------------------------------------

VMAGENT = render.Consumer(render.FragmentFormat.VMAGENT, "/etc/vmagent/sdgen")
SREF = SecretRef("auth", "pass")
ENV_RE = re.compile(r"%\{[A-Za-z_][A-Za-z0-9_.-]*\}")  # vmagent's lib/envtemplate name rule


def vmagent_expand(data: bytes) -> bytes:
    """What vmagent does to a file's raw bytes before parsing it: `%{NAME}` → a value."""
    return ENV_RE.sub("EXPANDED", data.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape"
    )


def test_vmagent_fragments_are_bare_job_lists_with_absolute_paths() -> None:
    """The same jobs as the Prometheus fragment, as vmagent's scrape_config_files wants them:
    a list, and every file named by its absolute path under the consumer's prefix."""
    for et in (*CASES["tls-authorization-relabel"], *CASES["basic-auth-params-two-endpoints"]):
        stem = slug(et.target.name, et.index)
        prom = render.render_endpoint(et)
        vm = render.render_endpoint(et, consumer=VMAGENT)
        assert vm.keys() == prom.keys()
        assert {k: v for k, v in vm.items() if k.startswith("targets/")} == {
            k: v for k, v in prom.items() if k.startswith("targets/")
        }
        jobs = yaml.safe_load(vm[f"scrape/{stem}.yml"])
        [prom_job] = yaml.safe_load(prom[f"scrape/{stem}.yml"])["scrape_configs"]
        assert isinstance(jobs, list) and len(jobs) == 1
        paths = json.dumps(jobs)
        assert "../" not in paths and f'"{VMAGENT.path_prefix}/targets/{stem}.p0/' in paths
        assert json.loads(paths.replace(f"{VMAGENT.path_prefix}/", "../")) == [prom_job]


def test_vmagent_secret_paths_are_absolute() -> None:
    ep = Endpoint(addresses=("h:1",), basic_auth=BasicAuth(username="u", password_secret=SREF))
    et = endpoint_targets("s", ep, [("h:1", labels("s", "h:1"))])
    [job] = yaml.safe_load(
        render.render_endpoint(et, consumer=VMAGENT)[f"scrape/{slug('s', 0)}.yml"]
    )
    assert (
        job["basic_auth"]["password_file"] == f"/etc/vmagent/sdgen/secrets/{slug('s', 0)}.password"
    )


@pytest.mark.parametrize(
    "text",
    ["%{HOME}", "a%{B}c%{", "%{", "%%{X}", "\\%{X}", "'%{X}'", 'Zürich %{X} "q"', "%{\ud800}"],
)
def test_vmagent_expansion_finds_nothing_and_yaml_restores_the_text(text: str) -> None:
    """In every place user text reaches a fragment: a rule's strings, a param, a header."""
    rule = RelabelRule(
        source_labels=("a",), regex=text, target_label="t", replacement=text, separator=text
    )
    ep = Endpoint(addresses=("h:1",), params=((text, (text,)),), metric_relabelings=(rule,))
    et = endpoint_targets(text, ep, [("h:1", labels(text, "h:1", note=text))])
    stem = slug(text, 0)
    vm = render.render_endpoint(et, consumer=VMAGENT)
    prom = render.render_endpoint(et)
    for name in (f"scrape/{stem}.yml", f"relabel/{stem}.yml", f"targets/{stem}.p0/targets.json"):
        assert b"%{" not in vm[name], name
        assert vmagent_expand(vm[name]) == vm[name]
    [job] = yaml.safe_load(vm[f"scrape/{stem}.yml"])
    [prom_job] = yaml.safe_load(prom[f"scrape/{stem}.yml"])["scrape_configs"]
    assert job["metric_relabel_configs"] == prom_job["metric_relabel_configs"]
    assert job["params"] == {text: [text]}
    assert yaml.safe_load(vm[f"relabel/{stem}.yml"]) == yaml.safe_load(prom[f"relabel/{stem}.yml"])
    [group] = json.loads(vm[f"targets/{stem}.p0/targets.json"])
    assert group["labels"]["note"] == text


def test_prometheus_fragments_keep_relative_paths() -> None:
    [et] = CASES["minimal"]
    [job] = yaml.safe_load(render.render_endpoint(et)[f"scrape/{slug('legacy-db', 0)}.yml"])[
        "scrape_configs"
    ]
    assert job["file_sd_configs"] == [
        {"files": [f"../targets/{slug('legacy-db', 0)}.p0/targets.json"]}
    ]


def test_the_vmagent_dialect_needs_an_absolute_prefix() -> None:
    with pytest.raises(ValueError, match="absolute"):
        render.Consumer(render.FragmentFormat.VMAGENT, "out")
