"""The config model's closed sets and defaults: one definition each, used by every reader."""

from __future__ import annotations

import ast

import pytest

from sdgen.config.document import parse_config
from sdgen.config.model import (
    DEFAULT_INTERVAL_MS,
    DEFAULT_KEY,
    DEFAULT_PATH,
    Config,
    Endpoint,
    Issue,
    Scheme,
    Severity,
    printable,
)
from tests.support.helpers import REPO


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (Issue("a.b", "bad", 3), "f:3: a.b: bad"),
        (Issue("a.b", "meh", 3, Severity.WARNING), "f:3: a.b: warning: meh"),
        (Issue("", "bad"), "f: bad"),
        (Issue("", "meh", None, Severity.WARNING), "f: warning: meh"),
    ],
)
def test_issue_format(issue: Issue, text: str) -> None:
    assert issue.format("f") == text


def test_config_errors_leave_out_warnings() -> None:
    error, warning = Issue("a", "bad"), Issue("b", "meh", severity=Severity.WARNING)
    assert Config(issues=(warning, error, warning)).errors == (error,)


@pytest.mark.parametrize(("https_port", "scheme"), [(True, "https"), (False, "http")])
def test_default_scheme_follows_the_port_name(https_port: bool, scheme: str) -> None:
    assert Scheme.default(https_port) == scheme


def test_an_endpoint_that_says_nothing_gets_the_defaults() -> None:
    config = parse_config(
        "targets: [{targetName: t, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}]"
    )
    assert config.targets[0].endpoints == (Endpoint(addresses=("h:1",)),)
    assert (Endpoint().interval_ms, Endpoint().path) == (DEFAULT_INTERVAL_MS, DEFAULT_PATH)


@pytest.mark.parametrize("value", [DEFAULT_KEY, DEFAULT_INTERVAL_MS])
def test_each_default_is_written_once(value: object) -> None:
    """Other modules (the CLI's --key flag, the manifest reader) import the constant instead
    of repeating its value."""
    found = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "sdgen").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and node.value == value
        and type(node.value) is type(value)
    ]
    assert found == ["sdgen/config/model.py"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, é and ☃", "plain text, é and ☃"),
        ("two\nlines", "two\\nlines"),
        ("cr\rtab\t", "cr\\rtab\\t"),
        ("esc \x1b[31mred", "esc \\u001b[31mred"),
        ("del \x7f c1 \x85", "del \\u007f c1 \\u0085"),
        ("line sep \u2028 para \u2029", "line sep \\u2028 para \\u2029"),
    ],
)
def test_printable_escapes_control_characters(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert "\n" not in printable(text) and "\r" not in printable(text)


def test_a_newline_in_a_target_name_cannot_forge_a_second_issue_line() -> None:
    forged = "web\nfile.yaml:1: targets[0]: all good"
    issue = Issue("targets[0].targetName", f"duplicate targetName {forged!s}", 3)
    line = issue.format("config.yaml")
    assert line.splitlines() == [line]
    assert "web\\nfile.yaml:1" in line
