"""Flags and their SDGEN_* environment variables, parsed once at start."""

from __future__ import annotations

import argparse

import pytest

from sdgen.cli.check import TENANT
from sdgen.cli.settings import (
    LOOP,
    OPS,
    OUTPUT,
    SNAPSHOT,
    SOURCE,
    TENANTS,
    add_flags,
    configmap_ref,
)
from tests.support.helpers import REPO

ALL_FLAGS = (*SOURCE, *OUTPUT, *LOOP, *OPS, *SNAPSHOT, *TENANTS, TENANT)
README = REPO / "README.md"


def parse(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for title, flags in (("s", SOURCE), ("o", OUTPUT), ("l", LOOP), ("p", OPS)):
        add_flags(parser, title, flags, environ)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "environ", "field", "expected"),
    [
        ([], {}, "interval", 15.0),
        ([], {}, "debounce", 0.2),
        ([], {}, "file_mode", 0o644),
        ([], {}, "output_dir", "./out"),
        ([], {"SDGEN_INTERVAL": "1m30s"}, "interval", 90.0),
        ([], {"SDGEN_INTERVAL": "2.5"}, "interval", 2.5),
        (["--interval", "500ms"], {"SDGEN_INTERVAL": "1m"}, "interval", 0.5),  # flag wins
        ([], {"SDGEN_FILE_MODE": "0600"}, "file_mode", 0o600),
        ([], {"SDGEN_KEEP_META_LABELS": "true"}, "keep_meta_labels", True),
        ([], {"SDGEN_KEEP_META_LABELS": "0"}, "keep_meta_labels", False),
        ([], {"SDGEN_SHARDS": "3"}, "shards", 3),
        ([], {"SDGEN_ON_MISSING_CONFIG": "clear"}, "on_missing_config", "clear"),
        ([], {"SDGEN_CONFIGMAP": "mon/cfg"}, "configmap", "mon/cfg"),
    ],
)
def test_flag_values_and_env(
    argv: list[str], environ: dict[str, str], field: str, expected: object
) -> None:
    assert getattr(parse(argv, environ), field) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SDGEN_INTERVAL": "soon"}, 'SDGEN_INTERVAL: not a valid duration string: "soon"'),
        ({"SDGEN_FILE_MODE": "rw"}, "SDGEN_FILE_MODE: not an octal file mode: 'rw'"),
        ({"SDGEN_SHARDS": "-1"}, "SDGEN_SHARDS: must not be negative: '-1'"),
        ({"SDGEN_KEEP_META_LABELS": "maybe"}, "SDGEN_KEEP_META_LABELS: not a boolean"),
    ],
)
def test_bad_env_values_are_usage_errors(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse([], environ)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        (None, {"POD_NAMESPACE": "monitoring"}, ("monitoring", "sdgen-config")),
        ("team/cfg", {}, ("team", "cfg")),
        ("cfg", {"POD_NAMESPACE": "ns1"}, ("ns1", "cfg")),
    ],
)
def test_configmap_ref(
    value: str | None, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    assert configmap_ref(value, environ) == expected


def test_configmap_ref_rejects_extra_slashes() -> None:
    with pytest.raises(ValueError, match="expected NAMESPACE/NAME"):
        configmap_ref("a/b/c", {})


def test_every_flag_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    missing = [f"--{flag.name}" for flag in ALL_FLAGS if f"--{flag.name}" not in readme]
    missing += [flag.env for flag in ALL_FLAGS if flag.env not in readme]
    assert missing == [], f"README lacks {missing}"


@pytest.mark.parametrize("value", ["bad-label", "__name__", "1x", ""])
def test_the_tenant_label_must_be_a_label_name(value: str) -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, "t", TENANTS, {})
    with pytest.raises(SystemExit):
        parser.parse_args(["--tenant-label", value])


def test_tenant_lists_and_limits_parse() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, "t", TENANTS, {"SDGEN_TRUSTED_NAMESPACES": "ops, ops,infra"})
    args = parser.parse_args(["--tenant-max-targets", "0", "--tenant-sample-limit", "100"])
    assert args.trusted_namespaces == ("ops", "infra")
    assert (args.tenant_max_targets, args.tenant_sample_limit) == (None, 100)
    assert args.tenant_static_endpoints == "deny" and args.tenant_label == "namespace"
