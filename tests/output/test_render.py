"""render: slugs (properties), golden bytes, and the real consumers — promtool and Prometheus.

Golden files live in tests/data/render/<case>/ (the three files of each endpoint, as written
to an output dir). After an intended change to the output format, regenerate them with

    SDGEN_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/output/test_render.py

and review the diff: those bytes are what users' Prometheus reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sdgen.config.model import Authorization, BasicAuth, Endpoint, Target, TargetType, TLSConfig
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


@given(names, st.integers(min_value=0, max_value=10_000))
def test_slug_is_a_safe_bounded_file_stem(name: str, index: int) -> None:
    stem = slug(name, index)
    assert set(stem) <= SAFE
    assert not stem.startswith((".", "-")) and ".." not in stem
    assert len(stem) <= 100
    assert stem == slug(name, index)
    root = Path("/srv/out")
    assert (root / "targets" / f"{stem}.json").resolve().parent == root / "targets"


@given(names, names, st.integers(0, 50), st.integers(0, 50))
def test_distinct_endpoints_get_distinct_slugs_and_prefixes_do_not_overlap(
    a: str, b: str, i: int, j: int
) -> None:
    assert slug(a, i).startswith(target_prefix(a))
    if (a, i) != (b, j):
        assert slug(a, i) != slug(b, j)
    if a != b:
        assert not slug(b, j).startswith(target_prefix(a))


@given(names, st.integers(0, 50))
def test_every_written_file_maps_back_to_its_target_prefix(name: str, index: int) -> None:
    stem = slug(name, index)
    for path in (f"targets/{stem}.json", f"scrape/{stem}.yml", naming.secret_path(stem, "ca")):
        assert naming.prefix_of(path) == target_prefix(name)
    assert naming.prefix_of("targets/users-own-file.json") == ""


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    [
        ("node-exporter", 0, "node-exporter.2303824a4e.0"),
        ("node-exporter", 12, "node-exporter.2303824a4e.12"),
        ("team/app", 0, "team_app.e46f7d7478.0"),
        ("team_app", 0, "team_app.f0a51a88f7.0"),  # reads the same, differs by its hash
        ("..", 1, "__.5ec1f7e700.1"),
        ("-rf", 0, "_-rf.686c39acd6.0"),
        ("", 0, "_.e3b0c44298.0"),
        ("café ☃", 0, "caf___.ce335642ba.0"),
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
        for rel, data in files.items():
            (directory / rel).parent.mkdir(parents=True, exist_ok=True)
            (directory / rel).write_bytes(data)
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
    groups = json.loads(render.render_endpoint(et)[file_sd_path(et)])
    assert [g["targets"] for g in groups] == [["10.0.0.1:6443"], ["10.0.0.2:6443"]]
    assert groups[1]["labels"]["zone"] == "Zürich ☃"


@pytest.mark.parametrize("value", ["", "\x00", "\u2028", '"\\', "Zürich ☃", "\ud800"])
def test_file_sd_writes_any_label_value_losslessly(value: str) -> None:
    [et] = CASES["minimal"]
    [group] = json.loads(render.render_endpoint(et_with_label(et, value))[file_sd_path(et)])
    assert group["labels"]["v"] == value


def et_with_label(et: EndpointTargets, value: str) -> EndpointTargets:
    targets = tuple(ScrapeTarget(t.address, {**t.labels, "v": value}, {}) for t in et.targets)
    return EndpointTargets.of(et.target, et.index, et.endpoint, targets)


def file_sd_path(et: EndpointTargets) -> str:
    return f"targets/{slug(et.target.name, et.index)}.json"


def test_relabel_file_and_fragment_carry_the_same_rules_losslessly() -> None:
    [et] = CASES["tls-authorization-relabel"]
    files = render.render_endpoint(et)
    stem = slug(et.target.name, 0)
    relabel = yaml.safe_load(files[f"relabel/{stem}.yml"])["metric_relabel_configs"]
    job = yaml.safe_load(files[f"scrape/{stem}.yml"])["scrape_configs"][0]
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
    files = {"file_sd_configs": [{"files": [f"../targets/{stem}.json"]}]}
    assert job == {"job_name": stem, **expected, **files}


def test_rendering_is_deterministic_whatever_the_input_order() -> None:
    [et] = CASES["tls-authorization-relabel"]
    shuffled = EndpointTargets.of(et.target, et.index, et.endpoint, reversed(et.targets))
    assert render.render_endpoint(shuffled) == render.render_endpoint(et)


def test_two_endpoints_rendering_the_same_file_is_an_error() -> None:
    [et] = CASES["minimal"]
    with pytest.raises(ValueError, match="same file"):
        render.render([et, et])


# The consumers ------------------------------------------------------------------------


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """Every case rendered into one output dir, credentials pointing at real files."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("ca.crt", "tls.crt", "tls.key"):  # a self-signed pair made for these tests
        (secrets / name).write_bytes((GOLDEN / "tls" / name).read_bytes())
    for name in ("token", "password"):
        (secrets / name).write_text("not really a secret\n")
    out = tmp_path / "out"
    for case in CASES:
        for rel, data in rendered(case).items():
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


def test_prometheus_reads_back_exactly_what_was_rendered(prometheus: str) -> None:
    everything = [et for ets in CASES.values() for et in ets]
    loaded = yaml.safe_load(api(prometheus, "/api/v1/status/config")["yaml"])
    jobs = {job["job_name"]: job for job in loaded["scrape_configs"]}
    assert set(jobs) == {slug(et.target.name, et.index) for et in everything}
    tricky = jobs[slug("kube-apiserver", 0)]["metric_relabel_configs"]
    # Prometheus prints the loaded values, leaving out empty and default ones.
    assert [(r.get("regex", "(.*)"), r.get("replacement", "")) for r in tricky] == [
        (r.regex, r.replacement) for r in TRICKY_RULES
    ]
    expected = {
        (slug(et.target.name, et.index), t.address): dict(t.labels)
        for et in everything
        for t in et.targets
    }
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
