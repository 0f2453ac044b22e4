"""Prometheus duration syntax: parse and print exactly as Prometheus 3.x does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdgen.prom.duration import DurationError, format_duration, go_quote, parse_duration
from tests.support.helpers import REPO

_S, _M, _H, _D = 1000, 60_000, 3_600_000, 86_400_000

GOOD = [
    ("0", 0),
    ("0s", 0),
    ("00s", 0),
    ("1ms", 1),
    ("500ms", 500),
    ("15s", 15 * _S),
    ("1m30s", 90 * _S),
    ("1h30m", 90 * _M),
    ("1d25h", _D + 25 * _H),
    ("1w", 7 * _D),
    ("1y", 365 * _D),
    ("1y1w1d1h1m1s1ms", 365 * _D + 7 * _D + _D + _H + _M + _S + 1),
    ("106751d", 106751 * _D),  # just inside int64 nanoseconds
]

# Messages checked against `promtool check config` (Prometheus 3.5) by test_promtool_agrees.
BAD = [
    ("", "empty duration string"),
    ("5x", 'unknown unit "x" in duration "5x"'),
    ("1.5s", 'unknown unit "." in duration "1.5s"'),
    ("15s ", 'unknown unit "s " in duration "15s "'),
    ("15s\n", 'unknown unit "s\\n" in duration "15s\\n"'),
    ("1h1h", 'not a valid duration string: "1h1h"'),
    ("1m1h", 'not a valid duration string: "1m1h"'),
    ("s", 'not a valid duration string: "s"'),
    ("15", 'not a valid duration string: "15"'),
    ("-1s", 'not a valid duration string: "-1s"'),
    ("+1s", 'not a valid duration string: "+1s"'),
    ("\u0665s", 'not a valid duration string: "\u0665s"'),  # Arabic-Indic 5: Go wants ASCII
    ("99999999999999999999s", 'not a valid duration string: "99999999999999999999s"'),
    ("106752d", "duration out of range"),
    ("99999999999999y", "duration out of range"),
]


@pytest.mark.parametrize(("text", "ms"), GOOD)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(("text", "message"), BAD)
def test_parse_duration_rejects_with_prometheus_message(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (1, "1ms"),
        (1500, "1s500ms"),
        (90 * _M, "1h30m"),
        (14 * _D, "2w"),
        (8 * _D, "8d"),  # weeks only when exact, like Prometheus
        (365 * _D, "1y"),
        (366 * _D, "366d"),
        (_D + _H + 1, "1d1h1ms"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@given(st.integers(min_value=0, max_value=106751 * _D))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("a", '"a"'),
        ('a"b\\', '"a\\"b\\\\"'),
        ("\t\x01\x7f", '"\\t\\x01\\x7f"'),
        ("é\u00a0", '"é\\u00a0"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def _promtool() -> str:
    tool = os.environ.get("PROMTOOL") or str(REPO / ".cache/bin/promtool")
    assert Path(tool).exists(), f"promtool not found at {tool}; run `make tools` or set PROMTOOL"
    return tool


@pytest.mark.prometheus
def test_promtool_agrees(tmp_path: Path) -> None:
    """Every table row, as a global scrape_interval, gets the same verdict from promtool."""
    cases = [(t, None) for t, _ in GOOD] + [(t, m) for t, m in BAD]
    for i, (text, _) in enumerate(cases):
        (tmp_path / f"{i}.yml").write_text(
            f"global:\n  scrape_interval: {go_quote(text)}\n", encoding="utf-8"
        )
    for i, (text, message) in enumerate(cases):
        run = subprocess.run(
            [_promtool(), "check", "config", f"{i}.yml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        verdict = run.stdout + run.stderr
        if message is None:
            assert run.returncode == 0, (text, verdict)
        else:
            assert message in verdict, (text, verdict)
