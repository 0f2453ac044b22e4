"""Log lines: text for people (one event per line, whatever the values hold), JSON for
pipelines."""

from __future__ import annotations

import json
import logging
import os

import pytest

from sdgen.runtime.logs import JSONFormatter, TextFormatter, last_words, setup


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"msg": message, "args": args, "levelno": 30})
    made.levelname = "WARNING"
    made.__dict__.update(extra)
    return made


@pytest.mark.parametrize(
    ("message", "args", "extra"),
    [
        ("config: %s", ("t.yaml:3: targets[0]: bad\n2026-01-01T00:00:00Z info    forged",), {}),
        ("files updated", (), {"files": "targets/x\r\ny"}),
        ("target %s", ("a\x1b[2Kb",), {"target": "evil\u2028name"}),
    ],
)
def test_text_lines_stay_one_line_whatever_the_values_hold(
    message: str, args: tuple[object, ...], extra: dict[str, object]
) -> None:
    line = TextFormatter().format(record(message, *args, **extra))
    assert len(line.splitlines()) == 1, line
    assert "\x1b" not in line and "\u2028" not in line


def test_json_lines_keep_the_values_as_they_are() -> None:
    line = JSONFormatter().format(record("target %s", "a\nb", target="x\ny"))
    entry = json.loads(line)
    assert (entry["msg"], entry["target"]) == ("target a\nb", "x\ny")
    assert len(line.splitlines()) == 1


def test_last_words_are_one_line_in_the_configured_format(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Written to fd 2 directly, without the handler's lock, which a thread blocked in a
    log write may hold."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup("json", "info")
        last_words("SIGTERM: exiting\nnow")
        setup("text", "info")
        last_words("SIGTERM: again")
    finally:
        os.set_blocking(2, True)
        root.handlers[:] = handlers
        root.setLevel(level)
    first, second = capfd.readouterr().err.splitlines()
    assert json.loads(first)["msg"] == "SIGTERM: exiting\nnow"
    assert json.loads(first)["level"] == "error"
    assert second.endswith("error   SIGTERM: again")
