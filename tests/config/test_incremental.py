"""IncrementalParser: after any edit, exactly what a full parse gives (targets, issues, paths,
lines), while reading anew only the targets whose text changed (issue 17, item 8)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdgen.config.document import parse_config
from sdgen.config.incremental import IncrementalParser
from tests.support.helpers import REPO


def target(name: str, extra: str = "", address: str = "192.0.2.1:9100") -> str:
    return f"""\
  - targetName: {name}
    type: StaticEndpoints
    endpoints:
      - address: "{address}"{extra}
"""


def config(*targets: str, head: str = "scrapingInterval: 30s\n") -> str:
    return f"{head}targets:\n{''.join(targets)}"


BAD_RULE = '\n        relabelings: [{regex: "(unclosed", action: keep}]'
DUP_KEY = "\n        interval: 10s\n        interval: 20s"
WARNED = "\n    metricRelabelConfigs: [{action: labeldrop, regex: tmp}]"
A, B, C = target("a"), target("b", BAD_RULE), target("c", DUP_KEY)
D, E = target("d", WARNED), target("e")
BASE = config(A, B, C, D, E)


def layout_a(body: str) -> str:
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
    return f"features:\n  openAgent:\n{indented}"


# (name, first text, edited text, targets read anew by the edited parse: None = any)
EDITS: list[tuple[str, str, str, int | None]] = [
    ("unchanged", BASE, BASE, 0),
    ("one address", BASE, config(A, B, C, D, target("e", address="192.0.2.9:9100")), 1),
    # c's duplicate key names a line: it is read again wherever it moves, the others never.
    ("comment above shifts every line", BASE, "# hello\n# there\n" + BASE, 1),
    ("a target inserted first", config(A, B, D, E), config(target("z"), A, B, D, E), 1),
    ("a target removed", BASE, config(A, C, D, E), 1),
    ("a target removed after the duplicate key", BASE, config(A, B, C, E), 0),
    ("targets reordered", BASE, config(E, D, C, B, A), None),
    ("a duplicate key moves: read again", BASE, config(target("z"), A, B, C, D, E), 2),
    ("an error fixed", BASE, config(A, target("b"), C, D, E), 2),
    ("an error made", BASE, config(A, B, C, D, target("e", BAD_RULE)), 1),
    ("a duplicate targetName made", BASE, config(A, B, C, D, target("a")), None),
    ("defaults change: all read anew", BASE, config(A, B, C, D, E, head="globalPath: /m\n"), 5),
    ("to layout A", BASE, layout_a(BASE), 5),
    ("layout A edited", layout_a(BASE), layout_a(config(target("z"), A, B, C, D, E)), 2),
    ("broken YAML", BASE, BASE + "  - [unclosed\n", None),
    ("and back from broken YAML", BASE + "  - [unclosed\n", BASE, None),
    ("anchors: the plain parse", BASE, BASE + "  - &x {targetName: x}\n  - *x\n", None),
    (
        "flow list",
        "targets: [{targetName: a, type: StaticEndpoints}]",
        "targets: [{targetName: a, type: StaticEndpoints}, {targetName: b}]",
        None,
    ),
    (
        "indentless list",
        BASE.replace("\n  - ", "\n- "),
        BASE.replace("\n  - ", "\n- ") + "# end\n",
        None,
    ),
    ("same text, deeper list", config(A), "targets:\n" + A.replace("  - ", "      - "), None),
    ("empty", BASE, "", None),
    ("not a mapping", BASE, "- a\n- b\n", None),
    ("two documents", BASE, BASE + "---\n" + BASE, None),
    ("targets not a list", BASE, "targets: {a: 1}\n", None),
    ("a scalar item", BASE, config(A, "  - just text\n", E), None),
    ("a tab", BASE, BASE.replace("scrapingInterval", "\tscrapingInterval"), None),
    ("directive", BASE, "%YAML 1.1\n---\n" + BASE, None),
    (
        "unicode before the edit",
        config(target("ü-日本"), A, E),
        config(target("ü-日本"), A, target("e", address="192.0.2.7:1")),
        1,
    ),
]


@pytest.mark.parametrize(
    ("first", "edited", "reread"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS]
)
def test_an_incremental_parse_equals_a_full_parse(
    first: str, edited: str, reread: int | None
) -> None:
    parser = IncrementalParser()
    assert parser.parse(first, source="f") == parse_config(first, source="f")
    assert parser.parse(edited, source="f") == parse_config(edited, source="f")
    if reread is not None:
        assert parser.reread == reread
    assert parser.parse(first, source="f") == parse_config(first, source="f")


def test_unchanged_targets_are_the_same_objects() -> None:
    """The resolver and renderer compare by identity first: reuse hands back the same Target."""
    parser = IncrementalParser()
    before = parser.parse(BASE)
    after = parser.parse("# moved\n" + BASE)
    assert [t for t in after.targets] == list(before.targets)
    assert all(a is b for a, b in zip(after.targets, before.targets, strict=True))


def test_secret_references_follow_the_parsers_permission() -> None:
    text = config(target("s", "\n        bearerTokenSecret: {name: n, key: k}"))
    for allow in (False, True):
        parser = IncrementalParser(allow_secrets=allow)
        parser.parse(text)
        assert parser.parse("#\n" + text) == parse_config("#\n" + text, allow_secrets=allow)


@pytest.mark.parametrize("path", sorted((REPO / "tests/data/config").glob("*.yaml")), ids=str)
def test_the_sample_configs_parse_the_same(path: object) -> None:
    text = path.read_text()  # type: ignore[attr-defined]
    parser = IncrementalParser()
    parser.parse(text)
    assert parser.parse("# first line\n" + text) == parse_config("# first line\n" + text)


def test_file_name_clashes_are_checked_after_every_edit() -> None:
    def prefix(name: str) -> str:
        return "same" if name in ("a", "z") else name

    parser = IncrementalParser(file_prefix=prefix)
    parser.parse(BASE)
    edited = config(A, B, C, D, target("z"))
    assert parser.parse(edited) == parse_config(edited, file_prefix=prefix)
    assert parser.parse(edited).rejected == {"b", "c", "z"}


FLOW = (
    "targets: [{targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1'}]},\n"
    "  {targetName: b, type: StaticEndpoints, endpoints: [{address: 'h:2', interval: 0s}]},\n"
    "  {targetName: c, type: StaticEndpoints, endpoints: [{address: 'h:3'}]}]\n"
)
_EDIT_CHARS = " -:\n\t{}[],'\"#ab1|>!?.\\"  # what changes YAML's structure, and plain text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([BASE, layout_a(BASE), FLOW, BASE.replace("\n  - ", "\n- ")]),
    st.lists(
        st.tuples(st.integers(0, len(BASE)), st.integers(0, 6), st.text(_EDIT_CHARS, max_size=8)),
        min_size=1,
        max_size=3,
    ),
)
def test_random_edits_parse_as_a_full_parse_does(
    base: str, edits: list[tuple[int, int, str]]
) -> None:
    """Whatever an edit does to the YAML (splits an item, opens a quote or a flow list that
    swallows the next items, changes indentation), the result is a full parse's."""
    parser = IncrementalParser()
    text = base
    parser.parse(text)
    for at, removed, inserted in edits:
        at = min(at, len(text))
        text = text[:at] + inserted + text[at + removed :]
        assert parser.parse(text) == parse_config(text)
