"""The Reader's target scope: which target an issue belongs to, and what counts as an error
of the whole document."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from yaml.nodes import Node

from sdgen.config.model import Severity
from sdgen.config.reader import Reader
from sdgen.config.target import peek_name
from sdgen.config.yamlnode import compose


@pytest.mark.parametrize(
    ("scopes", "inside"),
    [
        ((), None),
        (("a",), "a"),
        (("a", "b"), "b"),
        (("a", None), None),
        ((None, "b"), "b"),
    ],
)
def test_issues_name_the_innermost_target(
    scopes: tuple[str | None, ...], inside: str | None
) -> None:
    reader = Reader()
    with ExitStack() as stack:
        for name in scopes:
            stack.enter_context(reader.target(name))
        reader.error("p", 1, "in the scope")
        reader.warn("p", 1, "in the scope")
    reader.error("p", 2, "after the scope")
    assert [(i.target, i.severity) for i in reader.issues] == [
        (inside, Severity.ERROR),
        (inside, Severity.WARNING),
        (None, Severity.ERROR),
    ]
    assert reader.errors == 2
    # An error outside any target makes the config unusable; a warning never does.
    assert reader.document_errors == (inside is None) + 1


@pytest.mark.parametrize("outer", [None, "outer"])
@pytest.mark.parametrize("raised", [ValueError, RecursionError])
def test_the_outer_target_is_back_after_an_exception(
    outer: str | None, raised: type[Exception]
) -> None:
    reader = Reader()
    with reader.target(outer):
        with pytest.raises(raised), reader.target("inner"):
            reader.error("p", 1, "before the raise")
            raise raised
        reader.error("p", 2, "after the raise")
    assert [i.target for i in reader.issues] == ["inner", outer]
    assert reader.document_errors == (outer is None)


def _node(text: str) -> Node:
    node = compose(text)
    assert node is not None
    return node


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("targetName: web", "web"),
        ("targetName: 8080", "8080"),
        ("{type: PodMonitor, targetName: web}", "web"),
        ('targetName: ""', None),
        ("targetName: true", None),
        ("targetName: [web]", None),
        ("targetName: null", None),
        ("type: PodMonitor", None),
        ("<<: {targetName: web}", None),  # a merged name is known only once the target is read
        ("[targetName, web]", None),
        ("web", None),
    ],
)
def test_peek_name(text: str, name: str | None) -> None:
    assert peek_name(_node(text)) == name
