"""The wiring's own rules: the --on-missing-config strings, and exceptions → exit codes."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

import pytest

from sdgen.cache.snapshot import SnapshotError
from sdgen.cli.commands import GaveUp, UsageError, exit_codes, on_missing_config
from sdgen.cli.settings import LOOP
from sdgen.output.outputdir import OutputError
from sdgen.runtime.cycle import OnMissingConfig


def test_the_flag_offers_exactly_the_modes() -> None:
    [flag] = [f for f in LOOP if f.name == "on-missing-config"]
    assert flag.choices == tuple(OnMissingConfig)
    assert on_missing_config(str(flag.default)) is OnMissingConfig.KEEP
    assert on_missing_config("clear") is OnMissingConfig.CLEAR
    with pytest.raises(UsageError, match="'wipe': expected one of keep, clear"):
        on_missing_config("wipe")  # an SDGEN_ON_MISSING_CONFIG value argparse does not check


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
