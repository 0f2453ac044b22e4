"""Typed values out of YAML nodes, with located issues instead of exceptions.

The config parser reads every field through a `Reader`: it checks each mapping against a
`Schema` (unknown keys get a hint, aliases of one field given twice are an error, `<<` merges
apply), turns scalars into text, booleans, integers and durations, and records a problem as an
`Issue` carrying the field path and line, so one bad field never stops the rest being read.

One Reader serves a whole parse: the section modules (document, target, endpoint, auth, rules,
selectors) are functions that take it, so the issues and the target they belong to live in one
place instead of in a chain of parser classes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen.config.model import Issue, Severity
from sdgen.config.yamlnode import (
    TAG,
    TEXT_TAGS,
    ComposeError,
    Field,
    compose,
    is_null,
    join_path,
    kind_of,
    line_of,
)
from sdgen.prom.duration import DurationError, parse_duration

_UINT64_MAX = (1 << 64) - 1
# The constructor's per-type functions keep no state (construct_object would cache nodes).
_CONSTRUCT = {
    "int": SafeConstructor().construct_yaml_int,
    "bool": SafeConstructor().construct_yaml_bool,
}


@dataclass(frozen=True)
class Schema:
    """The keys one kind of mapping takes. `fields` maps every accepted spelling to its
    canonical name (the first spelling); `ignored` keys get the warning `ignored_why` (or,
    with `ignore_unknown`, every unknown key does); `refused` keys get their own error."""

    fields: Mapping[str, str]
    ignored: frozenset[str] = frozenset()
    ignored_why: str = "ignored"
    ignore_unknown: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)


def schema(
    names: str,
    ignored: str = "",
    refused: Mapping[str, str] | None = None,
    ignored_why: str = "ignored",
    ignore_unknown: bool = False,
) -> Schema:
    """`names`: whitespace-separated keys, aliases joined by "|" (the first is canonical)."""
    spellings = {s: name.split("|")[0] for name in names.split() for s in name.split("|")}
    ignored_keys = frozenset(ignored.split())
    return Schema(spellings, ignored_keys, ignored_why, ignore_unknown, dict(refused or {}))


def _hint(key: str, known: list[str]) -> str:
    lowered = {k.lower(): k for k in known}
    close = lowered.get(key.lower()) or next(
        iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None
    )
    return f'; did you mean "{close}"?' if close else ""


class Reader:
    """Reads typed values out of YAML nodes and records located issues instead of raising.

    Each issue names the target being read (see `target`); an error outside any named target
    makes the whole config unusable, so those are counted apart in `document_errors`."""

    def __init__(self, allowed_files: tuple[str, ...] | None = None) -> None:
        # The directories whose files a config may name (--allowed-file-prefixes); None:
        # any, with a warning per path (sdgen.config.filepaths).
        self.allowed_files = allowed_files
        self.issues: list[Issue] = []
        self.errors = 0
        self.document_errors = 0
        # Issues whose message names another line (a duplicate key's first line): they hold
        # only where they were found (sdgen.config.incremental moves the others).
        self.positional = 0
        self._target: str | None = None
        # every field read, by its path as written and as its canonical name spells it
        # (`relabelConfigs` for `relabelings`): (the path as written, its line); see
        # Config.locate, which places warnings found after parsing
        self.fields: dict[str, tuple[str, int]] = {}

    @contextmanager
    def target(self, name: str | None) -> Iterator[None]:
        """Attribute the issues recorded inside the block to target `name` (None: to no target,
        which makes an error a document error); the outer target is back afterwards, also when
        the block raises."""
        outer, self._target = self._target, name
        try:
            yield
        finally:
            self._target = outer

    def error(self, path: str, line: int | None, message: str) -> None:
        self.issues.append(Issue(path, message, line, Severity.ERROR, self._target))
        self.errors += 1
        self.document_errors += self._target is None

    def warn(self, path: str, line: int | None, message: str) -> None:
        self.issues.append(Issue(path, message, line, Severity.WARNING, self._target))

    def add(self, issue: Issue) -> None:
        """An issue found before (by an earlier parse of the same text), counted as it was."""
        self.issues.append(issue)
        error = issue.severity is Severity.ERROR
        self.errors += error
        self.document_errors += error and issue.target is None

    def compose(self, text: str) -> Node | None:
        try:
            return compose(text)
        except ComposeError as exc:
            self.error("", exc.line, exc.message)
            return None

    def pairs(self, node: MappingNode, path: str) -> list[tuple[ScalarNode, Node]]:
        """The mapping's entries with `<<` merges applied (own keys win, then earlier merges)."""
        own: dict[str, tuple[ScalarNode, Node]] = {}
        merged: dict[str, tuple[ScalarNode, Node]] = {}
        for key, value in node.value:
            if key.tag == TAG + "merge":
                for source in value.value if isinstance(value, SequenceNode) else [value]:
                    if not isinstance(source, MappingNode):
                        self.error(path, line_of(source), "<< merges only mappings")
                        continue
                    for pair in self.pairs(source, path):
                        merged.setdefault(pair[0].value, pair)
            elif not isinstance(key, ScalarNode):
                self.error(path, line_of(key), f"keys must be strings, got {kind_of(key)}")
            elif key.value in own:
                first = line_of(own[key.value][0])
                self.positional += 1
                self.error(
                    join_path(path, key.value),
                    line_of(key),
                    f'duplicate key "{key.value}" (first at line {first})',
                )
            else:
                own[key.value] = (key, value)
        return list(own.values()) + [p for k, p in merged.items() if k not in own]

    def mapping(self, node: Node, path: str, schema: Schema) -> dict[str, Field] | None:
        if not isinstance(node, MappingNode):
            self.error(path, line_of(node), f"expected a mapping, got {kind_of(node)}")
            return None
        out: dict[str, Field] = {}
        for key, value in self.pairs(node, path):
            item = Field(key.value, join_path(path, key.value), line_of(key), value)
            name = schema.fields.get(item.key)
            if name is None:
                self.unknown(schema, item)
            elif is_null(value):
                continue
            elif name in out:
                self.error(
                    item.path,
                    item.line,
                    f'"{item.key}" and "{out[name].key}" are the same field; give only one',
                )
            else:
                out[name] = item
                self.fields[item.path] = self.fields[join_path(path, name)] = item.path, item.line
        return out

    def unknown(self, schema: Schema, item: Field) -> None:
        if item.key in schema.ignored or schema.ignore_unknown:
            self.warn(item.path, item.line, schema.ignored_why)
        elif item.key in schema.refused:
            self.error(item.path, item.line, schema.refused[item.key])
        else:
            hint = _hint(item.key, list(schema.fields))
            self.error(item.path, item.line, f'unknown field "{item.key}"{hint}')

    def entries(self, f: Field | None) -> list[Field]:
        """A free-form mapping (labels, params) as fields."""
        if f is None:
            return []
        if not isinstance(f.node, MappingNode):
            self.error(f.path, line_of(f.node), f"expected a mapping, got {kind_of(f.node)}")
            return []
        return [
            Field(k.value, join_path(f.path, k.value), line_of(k), v)
            for k, v in self.pairs(f.node, f.path)
        ]

    def items(self, f: Field | None) -> list[Field]:
        if f is None:
            return []
        if not isinstance(f.node, SequenceNode):
            self.error(f.path, line_of(f.node), f"expected a list, got {kind_of(f.node)}")
            return []
        found = [Field(f.key, f"{f.path}[{i}]", line_of(n), n) for i, n in enumerate(f.node.value)]
        self.fields.update((item.path, (item.path, item.line)) for item in found)
        return found

    def text(self, f: Field | None, *, required: bool = False) -> str | None:
        if f is None:
            return None
        if isinstance(f.node, ScalarNode) and f.node.tag in TEXT_TAGS:
            value = str(f.node.value)
            if required and not value:
                self.error(f.path, line_of(f.node), "must not be empty")
            return value
        self.error(f.path, line_of(f.node), f"expected a string, got {kind_of(f.node)}")
        return None

    def texts(self, f: Field | None) -> tuple[str, ...]:
        return tuple(t for item in self.items(f) if (t := self.text(item)) is not None)

    def text_map(self, f: Field | None) -> tuple[tuple[str, str], ...]:
        return tuple((e.key, t) for e in self.entries(f) if (t := self.text(e)) is not None)

    def choice(self, f: Field | None, options: tuple[str, ...]) -> str | None:
        value = self.text(f)
        if f is None or value is None or value in options:
            return value
        listed = ", ".join(options)
        self.error(
            f.path,
            line_of(f.node),
            f'"{value}" is not one of {listed}{_hint(value, list(options))}',
        )
        return None

    def scalar(self, f: Field | None, tag: str, expected: str) -> object:
        if f is None:
            return None
        node = f.node
        if not (isinstance(node, ScalarNode) and node.tag == TAG + tag):
            self.error(f.path, line_of(node), f"expected {expected}, got {kind_of(node)}")
            return None
        try:
            return _CONSTRUCT[tag](node)
        except (ValueError, KeyError):  # an explicit tag on a value that is not of its type
            self.error(f.path, line_of(node), f'"{node.value}" is not {expected}')
            return None

    def boolean(self, f: Field | None) -> bool | None:
        value = self.scalar(f, "bool", "a boolean")
        return value if isinstance(value, bool) else None

    def integer(self, f: Field | None, low: int = 0, high: int = _UINT64_MAX) -> int | None:
        value = self.scalar(f, "int", "an integer")
        if f is None or not isinstance(value, int):
            return None
        if not low <= value <= high:
            self.error(f.path, line_of(f.node), f"must be between {low} and {high}")
            return None
        return value

    def duration(self, f: Field | None, what: str) -> int | None:
        text = self.text(f)
        if f is None or text is None:
            return None
        try:
            ms = parse_duration(text)
        except DurationError as exc:
            self.error(f.path, line_of(f.node), str(exc))
            return None
        if ms == 0:
            self.error(f.path, line_of(f.node), f"{what} cannot be 0")
            return None
        return ms
