"""Parse a config again after an edit, reading anew only the targets whose text changed.

A ConfigMap edit usually touches one target of thousands, but `parse_config` reads them all:
a 1.1 MB config of 5,000 targets took about 1.8 s per edit (issue 17). `IncrementalParser`
gives exactly what `parse_config` gives (the same targets, issues, paths and line numbers) and
remembers, per item of the target list, what reading it produced, keyed by its text.

How, and why it is exact:
* The document is read as libyaml's event stream (fast: no nodes, no tag resolution) and only
  the parts outside the target list are composed into nodes, in Python, the way PyYAML's
  composer does. Each item of the target list becomes an `_Item`: where its events are, and
  its key: its text from the start of its first line to its end, the column of the list and
  whether it is a flow list. The same text at the same columns in the same kind of list is
  scanned into the same events, so into the same nodes, lines moved by the same offset.
* An item whose key (with the defaults it was read under, and the list's path) was read last
  time replays that reading: its issues and the fields it recorded for `Config.locations`,
  their lines moved by the item's offset and their paths re-rooted at its index. Otherwise
  its nodes are composed and it is read.
* An issue whose message names another line (a duplicate key) holds only where it was found:
  such an item is reused only at the same line and index.
* Anything unusual takes the whole-document path (`parse_config`): a YAML error, anchors or
  aliases (an alias reads another item's text), `%` directives (they change tags), more or
  fewer than one document, or nesting too deep for the Python composer.
Only the readings the last parse used are kept: memory follows the config, with no bound
that a large config could outgrow (a bounded cache got no hits above its size; issue 17).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from sdgen import without_cycle_collection
from sdgen.config.document import FilePrefix, parse_config, read_config
from sdgen.config.endpoint import Defaults
from sdgen.config.model import Config, Issue
from sdgen.config.reader import Reader
from sdgen.config.target import ParsedTarget, parse_target
from sdgen.config.yamlnode import LOADER, Field

__all__ = ["IncrementalParser"]

# Where the target list is, by the keys leading to it (layouts B and A; docs/configuration.md).
_TARGET_LISTS = frozenset({("targets",), ("features", "openAgent", "targets")})
_DEEPEST = max(len(path) for path in _TARGET_LISTS)

_ItemKey = tuple[str, int, bool | None, int]  # text, list column, flow list, item column
_Key = tuple[_ItemKey, str, Defaults]  # ... the list's path, the defaults read under


@dataclass(frozen=True, slots=True)
class _Reading:
    """What reading one item produced, where it was: the item's line and path."""

    parsed: ParsedTarget
    issues: tuple[Issue, ...]
    fields: dict[str, tuple[str, int]]  # what it added to Reader.fields (where fields are)
    line: int
    path: str
    positional: bool  # an issue names another line: reuse only at this line and path

    def moved(
        self, line: int, path: str
    ) -> tuple[ParsedTarget, list[Issue], dict[str, tuple[str, int]]]:
        shift, cut = line - self.line, len(self.path)
        issues = [
            Issue(
                path + issue.path[cut:],
                issue.message,
                None if issue.line is None else issue.line + shift,
                issue.severity,
                issue.target,
            )
            for issue in self.issues
        ]
        fields = {
            path + key[cut:]: (path + written[cut:], at + shift)
            for key, (written, at) in self.fields.items()
        }
        name, named_at, target = self.parsed
        return ParsedTarget(name, named_at + shift, target), issues, fields


class IncrementalParser:
    """`parse_config` (with the same options) again and again, reading only the targets
    whose text changed since the last call (see the module docstring). `reread`: how many
    items the last call read anew (-1: it parsed the whole document the plain way)."""

    def __init__(
        self,
        *,
        allow_secrets: bool = False,
        file_prefix: FilePrefix | None = None,
        allowed_files: tuple[str, ...] | None = None,
    ) -> None:
        self._secrets = allow_secrets
        self._file_prefix = file_prefix
        self._allowed_files = allowed_files
        self._known: dict[_Key, _Reading] = {}
        self._used: dict[_Key, _Reading] = {}
        self.reread = 0

    def parse(self, text: str, *, source: str = "<config>") -> Config:
        if "&" in text or text.startswith("%") or "\n%" in text:
            self._known, self.reread = {}, -1
            return parse_config(
                text,
                source=source,
                allow_secrets=self._secrets,
                file_prefix=self._file_prefix,
                allowed_files=self._allowed_files,
            )
        reader, self._used, self.reread = Reader(self._allowed_files), {}, 0
        with without_cycle_collection():  # about 37 YAML events and marks per target
            # libyaml's composer when little is known (it is faster than events + the Python
            # composer over a whole document), and for the exact message of a YAML error.
            root = _skeleton(text) if self._known else None
            compose = (lambda: root) if root else (lambda: _wrapped(text, reader.compose(text)))
            config = read_config(reader, compose, source, self._item, self._file_prefix)
        self._known, self._used = self._used, {}
        return config

    def _item(self, reader: Reader, item: Field, defaults: Defaults) -> ParsedTarget:
        node = item.node
        if not isinstance(node, _Item):  # a target list the skeleton did not recognise
            self.reread += 1
            return parse_target(reader, item, defaults, secrets=self._secrets)
        key = (node.key, item.path.rpartition("[")[0], defaults)
        known = self._known.get(key) or self._used.get(key)
        if known is None or (
            known.positional and (known.line, known.path) != (item.line, item.path)
        ):
            known = self._read(
                reader, Field(item.key, item.path, item.line, node.compose()), defaults
            )
            self._used[key] = known
            return known.parsed
        self._used[key] = known
        parsed, issues, fields = known.moved(item.line, item.path)
        for issue in issues:
            reader.add(issue)
        reader.fields.update(fields)
        return parsed

    def _read(self, reader: Reader, item: Field, defaults: Defaults) -> _Reading:
        self.reread += 1
        first, positional, outer = len(reader.issues), reader.positional, reader.fields
        reader.fields = {}  # what this item adds, kept apart to be replayed
        try:
            parsed = parse_target(reader, item, defaults, secrets=self._secrets)
        finally:
            fields, reader.fields = reader.fields, outer
            outer.update(fields)
        issues = tuple(reader.issues[first:])
        outside = any(not _under(issue.path, item.path) for issue in issues) or any(
            not _under(key, item.path) or not _under(written, item.path)
            for key, (written, _) in fields.items()
        )
        pinned = outside or reader.positional != positional
        return _Reading(parsed, issues, fields, item.line, item.path, pinned)


def _under(path: str, item_path: str) -> bool:
    rest = path[len(item_path) :]
    return path.startswith(item_path) and (not rest or rest[0] in ".[")


# PyYAML's implicit tag resolution, as its SafeLoader (and libyaml's CSafeLoader) applies it.
_resolve = cast(Callable[[type[Node], str | None, Any], str], Resolver().resolve)


class _Ineligible(Exception):
    """The document needs the whole-document parse (see the module docstring)."""


def _skeleton(text: str) -> Node | None:
    """The document's root node with each target list item an `_Item`, from libyaml's events;
    None when it takes libyaml's composer (see the module docstring)."""
    try:
        events = list(yaml.parse(text, Loader=LOADER))
        return _Composer(text, events).document()
    except (yaml.YAMLError, UnicodeEncodeError, RecursionError, _Ineligible):
        return None


def _wrapped(text: str, root: Node | None, path: tuple[str, ...] = ()) -> Node | None:
    """`root`, composed by libyaml, with each target list item an `_Item` (keyed like
    `_Composer`'s, from the same marks)."""
    if path in _TARGET_LISTS and isinstance(root, SequenceNode):
        root.value = [
            _Item(n.start_mark, partial(_same, n), _key(text, root, n)) for n in root.value
        ]
    elif isinstance(root, MappingNode) and len(path) < _DEEPEST:
        for key, value in root.value:
            if isinstance(key, ScalarNode):
                _wrapped(text, value, (*path, str(key.value)))
    return root


def _same(node: Node) -> Node:
    return node


def _key(text: str, sequence: Any, item: Any) -> _ItemKey:
    """An item's key: its text from the start of its first line, the columns of its list
    and of itself, and whether the list is a flow list."""
    begin, end = item.start_mark, item.end_mark
    line_start = begin.index - begin.column
    return (
        text[line_start : end.index],
        sequence.start_mark.column,
        sequence.flow_style,
        begin.column,
    )


class _Composer:
    """PyYAML's composer over a list of events, with the target lists' items left as
    `_Item`s. Node for node what `yaml.compose` builds (tags resolved the same way)."""

    def __init__(self, text: str, events: list[Any]) -> None:
        self.text = text
        self.events = events
        self.at = 0

    def document(self) -> Node:
        kinds = [type(e) for e in self.events[:2]] + [type(e) for e in self.events[-2:]]
        if kinds != [StreamStartEvent, DocumentStartEvent, DocumentEndEvent, StreamEndEvent]:
            raise _Ineligible  # empty, or more than one document
        self.at = 2
        root = self.node(())
        if self.at != len(self.events) - 2:
            raise _Ineligible
        return root

    def node(self, path: tuple[str, ...] | None) -> Node:
        event: Any = self.events[self.at]
        self.at += 1
        if isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = _resolve(ScalarNode, event.value, event.implicit)
            start: Any = event.start_mark  # libyaml's marks, which the stubs do not list
            end: Any = event.end_mark
            return ScalarNode(tag, event.value, start, end, event.style)
        if isinstance(event, SequenceStartEvent):
            return self._sequence(event, path in _TARGET_LISTS)
        if isinstance(event, MappingStartEvent):
            return self._mapping(event, path)
        raise _Ineligible  # an alias (without an anchor: an error the plain parse reports)

    def _sequence(self, start: Any, targets: bool) -> SequenceNode:
        tag = start.tag
        if tag is None or tag == "!":
            tag = _resolve(SequenceNode, None, start.implicit)
        node = SequenceNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        while not isinstance(self.events[self.at], SequenceEndEvent):
            node.value.append(self._item(start) if targets else self.node(None))
        node.end_mark = self.events[self.at].end_mark
        self.at += 1
        return node

    def _mapping(self, start: Any, path: tuple[str, ...] | None) -> MappingNode:
        tag = start.tag
        if tag is None or tag == "!":
            tag = _resolve(MappingNode, None, start.implicit)
        node = MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        while not isinstance(self.events[self.at], MappingEndEvent):
            key = self.node(None)
            below = None
            if path is not None and len(path) < _DEEPEST and isinstance(key, ScalarNode):
                below = (*path, str(key.value))
            node.value.append((key, self.node(below)))
        node.end_mark = self.events[self.at].end_mark
        self.at += 1
        return node

    def _item(self, start: Any) -> _Item:
        """Skip one item's events; its key is its text from the start of its first line."""
        first, depth = self.at, 0
        while True:
            event = self.events[self.at]
            self.at += 1
            if isinstance(event, CollectionStartEvent):
                depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, AliasEvent):
                raise _Ineligible
            if depth == 0:
                break
        span = Node("", None, self.events[first].start_mark, self.events[self.at - 1].end_mark)
        return _Item(span.start_mark, partial(self._compose, first), _key(self.text, start, span))

    def _compose(self, first: int) -> Node:
        composer = _Composer(self.text, self.events)
        composer.at = first
        return composer.node(None)


class _Item(Node):
    """An item of a target list, not yet composed: `compose()` builds its nodes."""

    id = "item"

    def __init__(self, start_mark: Any, compose: Any, key: _ItemKey) -> None:
        super().__init__("tag:yaml.org,2002:map", None, start_mark, None)
        self.compose = compose
        self.key = key
