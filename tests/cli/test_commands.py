"""The wiring's own rules: the --on-missing-config strings, the fragment dialect flags, and
exceptions → exit codes."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdgen.cache.snapshot import SnapshotError
from sdgen.cli.commands import (
    GaveUp,
    UsageError,
    central_of,
    consumer_of,
    exit_codes,
    on_missing_config,
)
from sdgen.cli.settings import LOOP, OUTPUT
from sdgen.output.outputdir import OutputError
from sdgen.output.render import PROMETHEUS, Consumer, FragmentFormat
from sdgen.runtime.cycle import OnMissingConfig


def test_the_flag_offers_exactly_the_modes() -> None:
    [flag] = [f for f in LOOP if f.name == "on-missing-config"]
    assert flag.choices == tuple(OnMissingConfig)
    assert on_missing_config(str(flag.default)) is OnMissingConfig.KEEP
    assert on_missing_config("clear") is OnMissingConfig.CLEAR
    with pytest.raises(UsageError, match="'wipe': expected one of keep, clear"):
        on_missing_config("wipe")  # an SDGEN_ON_MISSING_CONFIG value argparse does not check


def test_the_fragment_format_flag_offers_exactly_the_dialects() -> None:
    [flag] = [f for f in OUTPUT if f.name == "fragment-format"]
    assert flag.choices == tuple(FragmentFormat) and flag.default == FragmentFormat.PROMETHEUS


VMAGENT = FragmentFormat.VMAGENT


@pytest.mark.parametrize(
    ("fragment_format", "prefix", "expected"),
    [
        ("prometheus", None, PROMETHEUS),
        ("vmagent", None, Consumer(VMAGENT, "/data/out")),  # the output dir
        ("vmagent", "/etc/vmagent/sdgen/", Consumer(VMAGENT, "/etc/vmagent/sdgen")),
        ("vmagent", "/", Consumer(VMAGENT, "/")),
        ("prometheus", "/etc/vmagent/sdgen", "applies to --fragment-format vmagent only"),
        ("vmagent", "etc/vmagent", "'etc/vmagent': must be an absolute path"),
    ],
)
def test_the_consumer_from_the_flags(
    fragment_format: str, prefix: str | None, expected: Consumer | str
) -> None:
    args = argparse.Namespace(
        fragment_format=fragment_format, consumer_path_prefix=prefix, output_dir="/data/out"
    )
    if isinstance(expected, str):
        with pytest.raises(UsageError, match=expected):
            consumer_of(args)
    else:
        assert consumer_of(args) == expected


def test_the_default_prefix_is_the_output_dir_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(
        fragment_format="vmagent", consumer_path_prefix=None, output_dir="out"
    )
    assert consumer_of(args) == Consumer(VMAGENT, str(tmp_path / "out"))


@pytest.fixture
def root_logging() -> Iterator[None]:
    """exit_codes sets up logging for the message; give the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("--shards 2: shard index 3 is out of range"), 2),
        (OutputError("output dir ./out does not exist"), 2),
        (SnapshotError("dump.yaml: not a YAML dump"), 2),
        (GaveUp("gave up: informers not synced yet"), 1),
    ],
)
def test_exceptions_become_exit_codes_with_their_message(
    error: Exception, code: int, root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    @exit_codes
    def command(args: argparse.Namespace) -> int:
        raise error

    assert command(argparse.Namespace(log_format="text", log_level="info")) == code
    assert f"error   {error}" in capsys.readouterr().err


def test_a_bug_is_not_turned_into_an_exit_code() -> None:
    @exit_codes
    def command(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        command(argparse.Namespace(log_format="text", log_level="info"))


def test_a_configmap_selector_with_a_config_file_is_a_usage_error(tmp_path: Path) -> None:
    """In a child process: the command sets up logging for the whole process."""
    config = tmp_path / "c.yaml"
    config.write_text("targets: []\n")
    args = ["once", "--output-dir", str(tmp_path), "--config-file", str(config)]
    run = subprocess.run(
        [sys.executable, "-m", "sdgen", *args, "--configmap-selector", "team=a"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--configmap-selector follows ConfigMaps: drop --config-file" in run.stderr


@pytest.mark.parametrize(
    ("shards", "url", "refresh", "expected"),
    [
        (0, "http://sdgen-central:8080", 15.0, "needs --shards N"),
        (2, "sdgen-central:8080", 15.0, "expected the http\\(s\\):// URL"),
        (2, "http://sdgen-central:8080", 0.5, "at least 1s"),
    ],
)
def test_serve_refuses_flags_that_cannot_work(
    shards: int, url: str, refresh: float, expected: str
) -> None:
    args = argparse.Namespace(
        shards=shards, sd_url=url, sd_refresh_interval=refresh, part_size=3000
    )
    with pytest.raises(UsageError, match=expected):
        central_of(args)


def test_serve_publishes_every_shard() -> None:
    args = argparse.Namespace(
        shards=3, sd_url="http://sdgen-central:8080/", sd_refresh_interval=15.0, part_size=3000
    )
    published, renderer = central_of(args)
    assert published.paths() == [
        *(f"/scrape/{i}" for i in range(3)),
        *(f"/sd/{i}" for i in range(3)),
    ]
    assert len(renderer.shards) == 3
