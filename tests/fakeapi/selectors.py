"""Label and field selector query strings, parsed with the apiserver's grammar and errors.

Label selectors follow k8s.io/apimachinery/pkg/labels: comma-separated requirements
`k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>1`, `k<1`, with key and
value syntax checked. Field selectors support `metadata.name` and `metadata.namespace` with
`=`, `==`, `!=`, like the fields every resource indexes; any other field is a 400, as for a
resource that does not index it. Parsing errors raise a 400 BadRequest Status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ApiError, bad_request

_SPECIAL = "!=(),<>"
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_OPERATORS = ("==", "!=", "=", "in", "notin", ">", "<")

LabelMatcher = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        if self.op in ("!=", "notin"):
            return value not in self.values
        if value is None or not _is_int(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.op == ">" else int(value) < bound


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[-+]?\d+", text) is not None


def _tokens(text: str) -> list[str]:
    """Splits into identifiers and operator symbols, like the apiserver's lexer."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text[i : i + 2] in ("==", "!="):
            tokens.append(text[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            tokens.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    ok = bool(_NAME.match(name)) and (not prefix or (len(prefix) <= 253 and _PREFIX.match(prefix)))
    if not ok:
        raise bad_request(f'unable to parse requirement: invalid label key "{key}"')


def _check_value(value: str) -> None:
    if value and not _NAME.match(value):
        raise bad_request(f'unable to parse requirement: invalid label value: "{value}"')


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    def identifier(self, what: str) -> str:
        token = self.take()
        if token is None or token in _SPECIAL or token in ("==", "!="):
            raise bad_request(f"found '{token or ''}', expected: {what}")
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while self.peek() is not None:
            requirements.append(self.requirement())
            separator = self.take()
            if separator is None:
                break
            if separator != "," or self.peek() is None:
                raise bad_request(f"found '{separator}', expected: ',' or 'end of string'")
        return requirements

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            key = self.identifier("identifier after '!'")
            _check_key(key)
            return Requirement(key, "!")
        key = self.identifier("identifier")
        _check_key(key)
        if self.peek() in (None, ","):
            return Requirement(key, "exists")
        op = self.take()
        if op not in _OPERATORS:
            raise bad_request(f"found '{op}', expected: {', '.join(_OPERATORS)}")
        if op in ("in", "notin"):
            return Requirement(key, op, self.value_set())
        value = "" if self.peek() in (None, ",") else self.identifier("value")
        _check_value(value)
        if op in (">", "<") and not _is_int(value):
            raise bad_request(
                f"unable to parse requirement: for '{op}' operator, the value must be an integer"
            )
        return Requirement(key, "=" if op == "==" else op, (value,))

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise bad_request("found '', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take()
            if token is None:
                raise bad_request("found '', expected: ')'")
            if token == ")":
                if expect_value and values:
                    values.append("")
                break
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value or token in _SPECIAL:
                raise bad_request(f"found '{token}', expected: ',' or ')'")
            _check_value(token)
            values.append(token)
            expect_value = False
        if not values:
            raise bad_request(
                "unable to parse requirement: for 'in', 'notin' operators, "
                "values set can't be empty"
            )
        return tuple(values)


def parse_labels(text: str) -> LabelMatcher:
    """A predicate over a label map; the empty selector matches everything."""
    requirements = _LabelParser(text).parse()
    return lambda labels: all(r.matches(labels) for r in requirements)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...]  # (field, wants_equal, value)

    def matches(self, name: str, namespace: str, field: Callable[[str], str] | None = None) -> bool:
        """`field`: the value of any other selectable field (Events' involvedObject.*)."""
        fields = {"metadata.name": name, "metadata.namespace": namespace}
        for f, eq, v in self.terms:
            value = fields[f] if f in fields else field(f) if field is not None else ""
            if (value == v) != eq:
                return False
        return True


def parse_fields(text: str, extra: frozenset[str] = frozenset()) -> FieldSelector:
    """`extra`: the fields this resource indexes besides metadata.name and namespace."""
    terms: list[tuple[str, bool, str]] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        match = re.fullmatch(r"([^=!]+)(==|!=|=)(.*)", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if field not in ("metadata.name", "metadata.namespace") and field not in extra:
            raise ApiError(400, f"field label not supported: {field}", "BadRequest")
        terms.append((field, op != "!=", value))
    return FieldSelector(tuple(terms))
