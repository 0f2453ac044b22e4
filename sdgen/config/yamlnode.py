"""Facts about YAML nodes that the config parser and the manifest reader both need.

Configs are read as a node graph (`yaml.compose` with the safe loader; nothing is ever
constructed from tags) because only nodes keep their line numbers, and every problem must
point at the line the user wrote. This module composes a document within safe limits (no
alias bombs, no cycles, nesting capped by libyaml) and names nodes the way messages do: their
line, their kind in words, and the field path as the user spelled it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen import SdgenError

MAX_ALIAS_NODES = 100_000
TAG = "tag:yaml.org,2002:"
TEXT_TAGS = frozenset(TAG + t for t in ("str", "int", "float", "timestamp"))
_KINDS = dict(str="a string", int="an integer", float="a number", bool="a boolean",
              null="null", timestamp="a timestamp", binary="binary data")  # fmt: skip
# libyaml's safe loader: compiled, so large manifests load quickly, and it caps nesting at 1000
# levels instead of recursing until Python's limit. PyYAML wheels ship it.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Field:
    """A key of a mapping as the user wrote it, with its path, line and value node."""

    key: str
    path: str
    line: int
    node: Node


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def join_path(path: str, key: str) -> str:
    step = key if _IDENTIFIER.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    return f"{path}.{step}" if path and not step.startswith("[") else path + step


def kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = str(node.tag)
    return _KINDS.get(tag.removeprefix(TAG), f"a value tagged {tag}")


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == TAG + "null"


def yaml_error(exc: yaml.YAMLError, text: str = "") -> tuple[int | None, str]:
    """The line (when known) and message of a YAML error; `text` is the document, which
    locates reader errors (control characters), as they carry only a character position."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(str(p) for p in (exc.context, exc.problem) if p)
        return (int(mark.line) + 1 if mark else None), f"invalid YAML: {problem}"
    if isinstance(exc, yaml.reader.ReaderError) and text:
        first = str(exc).split("\n", 1)[0]  # the rest names "<unicode string>" and a position
        return text.count("\n", 0, exc.position) + 1, f"invalid YAML: {first}"
    return None, f"invalid YAML: {exc}"


class ComposeError(SdgenError):
    """A document that cannot be read as a config at all, with the line to blame if any."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def compose(text: str) -> Node:
    """The document's root node; raise ComposeError when it is not YAML, is empty, or has
    aliases that contain themselves or would expand too far (billion laughs)."""
    try:
        root: Node | None = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        raise ComposeError(*yaml_error(exc, text)) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from undecodable bytes
        line = text.count("\n", 0, exc.start) + 1
        raise ComposeError(
            line, "invalid text: a lone surrogate is not a Unicode character"
        ) from None
    if root is None:
        raise ComposeError(None, "the document is empty; expected a mapping with targets")
    if "&" not in text:  # no anchor, so no alias: skip the walk
        return root
    try:
        growth = _alias_growth(root)
    except _Recursive as exc:
        raise ComposeError(
            line_of(exc.node), "a YAML alias refers to a node that contains it"
        ) from None
    if growth > MAX_ALIAS_NODES:
        raise ComposeError(
            None,
            f"YAML aliases expand to more than {MAX_ALIAS_NODES} extra "
            "nodes; refusing to expand them",
        )
    return root


def _alias_growth(root: Node) -> int:
    """Nodes the aliases add when the document is expanded; raise _Recursive on a cycle."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _Recursive(node)
        active.add(id(node))
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        sizes[id(node)] = 1 + sum(size(child) for child in children)
        active.discard(id(node))
        return sizes[id(node)]

    return size(root) - len(sizes)


class _Recursive(Exception):
    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
