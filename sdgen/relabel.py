"""Prometheus relabelling, exactly: validation once, then a pure switch on the action.

Users paste relabel rules written for Prometheus, so every observable detail follows
Prometheus 3.x (`model/relabel/relabel.go`): the actions and defaults, regexes anchored as
`^(?s:<regex>)$` and run by RE2 (Go's regexp dialect), Go `regexp.Expand` templates, UTF-8
label-name validity, and the validation messages `promtool check config` prints.

Deliberate choices and known gaps:
* A label with an empty value is a missing label, as in Prometheus: such input labels are
  dropped, and setting a label to "" deletes it.
* `labelmap` mapping two labels with different values to one name is resolved
  deterministically (source labels in sorted order, the last wins) and reported via `warn`;
  Prometheus's winner depends on Go map order.
* A `RelabelRule` cannot tell a default from the same value written out, so an explicit
  `regex: (.*)` on keepequal/dropequal, or `source_labels: []` on labeldrop/labelkeep (both
  rejected by Prometheus) pass here; the config parser can reject them where it still knows.
* RE2 (C++) and Go's regexp share a parser design; the differences found are closed here
  (`\\C`, non-ASCII group names, error wording). Unicode tables follow Python's and RE2's
  versions, which may lag Go's for characters added in recent Unicode releases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import re2

from sdgen.model import RelabelRule

ACTIONS: tuple[str, ...] = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)

_DEFAULT = RelabelRule()
_NEEDS_TARGET = frozenset(
    {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}
)
_NO_REPLACEMENT = frozenset({"lowercase", "uppercase", "keepequal", "dropequal"})
_MEMO_LIMIT = 1024  # label names and many values repeat across targets; bound the memory

Groups = tuple[str | None, ...]  # group 0 (the whole match), then each capture group
Warn = Callable[[int, str], None]  # (rule index, message)


class RelabelError(ValueError):
    """One rule failed validation; `message` is Prometheus's wording, `field` the key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- regexes -------------------------------------------------------------------------------

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as RelabelError, not on stderr
# RE2's default 8 MiB budget rejects programs Go compiles (e.g. `\pL{1000}`); Go's own cap
# is ~3M instructions. Memory beyond the program is only taken as a regex needs it.
_OPTIONS.max_mem = 64 << 20
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED  # the public wrapper costs ~4x per match

# RE2's error texts → Go regexp/syntax's, so messages read like promtool's.
_GO_ERROR = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "trailing \\": "trailing backslash at end of expression",
}


class _Regex:
    """A compiled relabel regex. `groups` and `matches` remember recent texts: label names
    and most values repeat across targets, and a cache hit is ~20x cheaper than RE2."""

    groups: Callable[[str], Groups | None]
    matches: Callable[[str], bool]

    def __init__(self, pattern: str) -> None:
        anchored = f"^(?s:{pattern})$"  # concatenated like Prometheus, not parsed
        try:
            self._re = re2._re2.RE2(anchored.encode(), _OPTIONS)
        except UnicodeEncodeError:
            raise RelabelError(
                "regex", f"error parsing regexp: invalid UTF-8: `{anchored}`"
            ) from None
        if not self._re.ok():
            raise RelabelError("regex", _go_regex_error(self._re.error(), anchored))
        names, go_error = _scan_groups(pattern)
        if go_error:
            raise RelabelError("regex", f"error parsing regexp: {go_error}")
        self.names = self._check_names(names)
        if pattern == _DEFAULT.regex:  # `(.*)` matches anything; group 1 is the text
            self.groups, self.matches = (lambda text: (text, text)), (lambda text: True)
        else:
            self.groups = lru_cache(maxsize=_MEMO_LIMIT)(self._match)
            self.matches = lru_cache(maxsize=_MEMO_LIMIT)(
                lambda text: self._match(text) is not None
            )

    def _check_names(self, names: list[str]) -> tuple[str, ...]:
        """Group names by index (0 = whole match), trusting the scan only if RE2 agrees."""
        by_re2 = {name.decode(): i for name, i in self._re.NamedCapturingGroups()}
        count = self._re.NumberOfCapturingGroups()
        if len(names) == count and all(names[i - 1] == n for n, i in by_re2.items()):
            return ("", *names)
        fallback = [""] * (count + 1)
        for name, i in by_re2.items():
            fallback[i] = name
        return tuple(fallback)

    def _match(self, text: str) -> Groups | None:
        data = text.encode("utf-8", "surrogatepass")  # Go strings may hold any bytes
        spans = self._re.Match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        if len(data) == len(text):  # ASCII: byte offsets are character offsets
            return tuple(None if s < 0 else text[s:e] for s, e in spans)
        return tuple(None if s < 0 else data[s:e].decode(errors="replace") for s, e in spans)


def _go_regex_error(re2_error: bytes | str, anchored: str) -> str:
    text = re2_error.decode(errors="replace") if isinstance(re2_error, bytes) else re2_error
    if text.startswith("pattern too large"):
        return f"error parsing regexp: expression too large: `{anchored}`"
    code, _, arg = text.partition(": ")
    return f"error parsing regexp: {_GO_ERROR.get(code, code)}: `{arg}`"


def _scan_groups(pattern: str) -> tuple[list[str], str | None]:
    """Capture-group names in order ("" = unnamed) and the first error Go has but RE2 lacks.

    Only called on patterns RE2 accepted, so the syntax is known to be well formed. RE2
    names only the first group of a repeated name; Go's Expand uses the first that matched.
    """
    names: list[str] = []
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped == "C":  # RE2's "any byte"; Go rejects it
                return names, "invalid escape sequence: `\\C`"
            if escaped == "Q":
                quote_end = pattern.find("\\E", i + 2)
                i = end if quote_end < 0 else quote_end + 2
                continue
            i += 2
        elif char == "[":
            i = _skip_class(pattern, i + 1)
        elif char == "(" and pattern.startswith(("(?P<", "(?<"), i):
            start = pattern.index("<", i) + 1
            close = pattern.index(">", start)
            name = pattern[start:close]
            if not name.isascii():  # RE2 allows Unicode word characters, Go only ASCII
                return names, f"invalid named capture: `{pattern[i : close + 1]}`"
            names.append(name)
            i = close + 1
        else:
            if char == "(" and not pattern.startswith("(?", i):
                names.append("")
            i += 1
    return names, None


def _skip_class(pattern: str, i: int) -> int:
    """The index just past the character class whose body starts at `i`."""
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a leading ] is a literal
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            i += 2
        elif pattern.startswith("[:", i) and (named_end := pattern.find(":]", i + 2)) >= 0:
            i = named_end + 2
        else:
            i += 1
    return i + 1


# --- templates (Go regexp.Expand) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """A parsed `$1`/`${name}`/`$$` template: literals and group references.

    A reference is the tuple of group indexes it may name; the first that took part in
    the match is used, as Go does for repeated group names.
    """

    parts: tuple[str | tuple[int, ...], ...]
    literal: str | None  # the whole template when it references no group

    @staticmethod
    def parse(template: str, names: Sequence[str]) -> _Template:
        parts: list[str | tuple[int, ...]] = []
        literal: list[str] = []
        rest = template
        while (dollar := rest.find("$")) >= 0:
            literal.append(rest[:dollar])
            rest = rest[dollar + 1 :]
            if rest.startswith("$"):
                literal.append("$")
                rest = rest[1:]
                continue
            name, after = _reference(rest)
            if name is None:  # malformed: the $ is plain text
                literal.append("$")
                continue
            parts.extend(("".join(literal), _indexes(name, names)))
            literal, rest = [], after
        literal.append(rest)
        parts.append("".join(literal))
        kept = tuple(p for p in parts if p != "")
        strings = [p for p in kept if isinstance(p, str)]
        return _Template(kept, "".join(strings) if len(strings) == len(kept) else None)

    def expand(self, groups: Groups) -> str:
        if self.literal is not None:
            return self.literal
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            for i in part:
                if i < len(groups) and (value := groups[i]) is not None:
                    out.append(value)
                    break
        return "".join(out)


def _reference(text: str) -> tuple[str | None, str]:
    """The group name after a `$` (`name` or `{name}`) and the text after it."""
    braced = text.startswith("{")
    start = 1 if braced else 0
    stop = start
    while stop < len(text) and _is_name_char(text[stop]):
        stop += 1
    if stop == start or (braced and not text.startswith("}", stop)):
        return None, text
    return text[start:stop], text[stop + braced :]


def _is_name_char(char: str) -> bool:
    # Go's unicode.IsLetter / unicode.IsDigit are Python's isalpha / isdecimal.
    return char.isalpha() or char.isdecimal() or char == "_"


def _indexes(name: str, names: Sequence[str]) -> tuple[int, ...]:
    number_like = name.isascii() and name.isdigit()
    if number_like and len(name) <= 9 and (name == "0" or name[0] != "0"):
        return (int(name),)
    return tuple(i for i, group in enumerate(names) if i and group == name)


# --- validation ----------------------------------------------------------------------------


def _valid_name(name: str) -> bool:
    """Prometheus 3's (UTF-8) label-name rule: non-empty, valid UTF-8."""
    if name.isascii():
        return name != ""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


_GO_ESCAPES = dict(zip("\a\b\f\n\r\t\v", ("\\" + c for c in "abfnrtv"), strict=True))


def _go_quote(text: str) -> str:
    """Go's %q, so names in messages read exactly as Prometheus prints them."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7F or 0xD800 <= code < 0xE000:  # surrogate: not UTF-8
            out.extend(f"\\x{b:02x}" for b in char.encode("utf-8", "surrogatepass"))
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


def _validate(rule: RelabelRule, action: str) -> None:
    """Prometheus's checks, in Prometheus's order (relabel.go Config.Validate)."""
    target = rule.target_label
    if not 0 <= rule.modulus < 1 << 64:
        raise RelabelError("modulus", f"cannot unmarshal !!int `{rule.modulus}` into uint64")
    if action == "hashmod" and rule.modulus == 0:
        raise RelabelError("modulus", "relabel configuration for hashmod requires non-zero modulus")
    if action in _NEEDS_TARGET and target == "":
        raise RelabelError(
            "target_label",
            f"relabel configuration for {action} action requires 'target_label' value",
        )
    if action in _NEEDS_TARGET and not _valid_name(target):
        message = f"{_go_quote(target)} is invalid 'target_label' for {action} action"
        raise RelabelError("target_label", message)
    if action in _NO_REPLACEMENT and rule.replacement != _DEFAULT.replacement:
        raise RelabelError("replacement", f"'replacement' can not be set for {action} action")
    if action == "labelmap" and not _valid_name(rule.replacement):
        raise RelabelError(
            "replacement",
            f"{_go_quote(rule.replacement)} is invalid 'replacement' for {action} action",
        )
    if action in ("keepequal", "dropequal"):
        _only(rule, action, ("regex", "modulus", "separator", "replacement"))
    if action in ("labeldrop", "labelkeep"):
        _only(
            rule, action, ("source_labels", "target_label", "modulus", "separator", "replacement")
        )


def _only(rule: RelabelRule, action: str, forbidden: tuple[str, ...]) -> None:
    allowed = "'source_labels' and `target_label`" if action.endswith("equal") else "'regex'"
    for key in forbidden:
        if getattr(rule, key) != getattr(_DEFAULT, key):
            raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")


# --- compiled rules and the switch ---------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule with its regex compiled and its templates parsed once."""

    rule: RelabelRule
    action: str = field(compare=False)
    regex: _Regex = field(compare=False, repr=False)
    target: _Template = field(compare=False, repr=False)
    replacement: _Template = field(compare=False, repr=False)
    # labelmap/labeldrop/labelkeep: what to do for a set of label names (see _name_plan)
    plan: Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]] = field(
        compare=False, repr=False
    )


def compile_rule(rule: RelabelRule) -> CompiledRule:
    """Validate `rule` as Prometheus does when loading a config; raise RelabelError."""
    action = rule.action.lower()  # Prometheus accepts any case
    if action not in ACTIONS:
        raise RelabelError("action", f"unknown relabel action {_go_quote(rule.action)}")
    for name in rule.source_labels:
        if not _valid_name(name):
            raise RelabelError("source_labels", f"{_go_quote(name)} is not a valid label name")
    regex = _Regex(rule.regex)
    _validate(rule, action)
    replacement = _Template.parse(rule.replacement, regex.names)
    return CompiledRule(
        rule=rule,
        action=action,
        regex=regex,
        target=_Template.parse(rule.target_label, regex.names),
        replacement=replacement,
        plan=_name_plan(action, regex, replacement),
    )


def _name_plan(
    action: str, regex: _Regex, replacement: _Template
) -> Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]]:
    """The (label, new name) pairs a label-name action acts on, given all label names.

    labelmap: the matching labels and their new names, sorted by label (so the last of
    colliding sources wins deterministically); labeldrop/labelkeep: the labels to delete.
    Targets of one job share their label names, so the answer is remembered per name set.
    """

    @lru_cache(maxsize=_MEMO_LIMIT)
    def plan(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        if action == "labelmap":
            found = ((n, regex.groups(n)) for n in names)
            return tuple(sorted((n, replacement.expand(g)) for n, g in found if g is not None))
        drop = action == "labeldrop"
        return tuple((n, "") for n in names if regex.matches(n) is drop)

    return plan


def compile_rules(rules: Iterable[RelabelRule]) -> tuple[CompiledRule, ...]:
    return tuple(compile_rule(rule) for rule in rules)


def apply(
    labels: Mapping[str, str], rules: Sequence[CompiledRule], warn: Warn | None = None
) -> dict[str, str] | None:
    """Relabel a copy of `labels` with `rules` in order; None when a rule drops the target.

    `warn(rule_index, message)` hears about labelmap collisions (see the module docstring).
    """
    result = dict(labels)
    if "" in result.values():  # rare; a scan is far cheaper than filtering every copy
        result = {name: value for name, value in result.items() if value != ""}
    for index, rule in enumerate(rules):
        if not _relabel(rule, result, index, warn):
            return None
    return result


def hashmod(value: str, modulus: int) -> int:
    """The last 8 bytes of md5(value) as a big-endian integer, modulo `modulus`."""
    digest = hashlib.md5(value.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def _relabel(rule: CompiledRule, labels: dict[str, str], index: int, warn: Warn | None) -> bool:
    """One rule, as Prometheus's relabel(); False drops the target."""
    sources = rule.rule.source_labels
    if not sources:
        value = ""
    elif len(sources) == 1:
        value = labels.get(sources[0], "")
    else:
        value = rule.rule.separator.join([labels.get(name, "") for name in sources])
    target = rule.rule.target_label
    match rule.action:
        case "replace":
            groups = rule.regex.groups(value)
            if groups is not None:
                name = rule.target.expand(groups)
                if _valid_name(name):
                    _set(labels, name, rule.replacement.expand(groups))
        case "keep":
            return rule.regex.matches(value)
        case "drop":
            return not rule.regex.matches(value)
        case "keepequal":
            return labels.get(target, "") == value
        case "dropequal":
            return labels.get(target, "") != value
        case "hashmod":
            labels[target] = str(hashmod(value, rule.rule.modulus))
        case "labelmap":
            _labelmap(rule, labels, index, warn)
        case "labeldrop" | "labelkeep":
            for name, _ in rule.plan(tuple(labels)):
                del labels[name]
        case "lowercase":
            _set(labels, target, _go_lower(value))
        case "uppercase":
            _set(labels, target, _go_upper(value))
        case _:  # unreachable: compile_rule admits only ACTIONS
            raise AssertionError(f"relabel: unknown relabel action type {rule.action!r}")
    return True


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)  # an empty value is a missing label


def _labelmap(rule: CompiledRule, labels: dict[str, str], index: int, warn: Warn | None) -> None:
    # Prometheus maps from a snapshot taken before the rule, so collect first, then set.
    mapped: dict[str, tuple[str, str]] = {}  # new name -> (source name, value)
    for name, new_name in rule.plan(tuple(labels)):
        value, previous = labels[name], mapped.get(new_name)
        if warn is not None and previous is not None and previous[1] != value:
            warn(
                index,
                f"labelmap maps {previous[0]!r} and {name!r} with different values to "
                f"{new_name!r}; {name!r} wins",
            )
        mapped[new_name] = (name, value)
    for new_name, (_, value) in mapped.items():
        labels[new_name] = value


# --- Go's strings.ToLower / ToUpper --------------------------------------------------------
# Go maps rune by rune with Unicode's *simple* case mappings; Python's str.lower/upper use
# the full ones ("ß" -> "SS", final sigma). Per character, a full mapping longer than one
# character means "use the simple mapping": for uppercase that is the single-character
# titlecase when there is one (e.g. U+1F80 -> U+1F88), and U+0130 is the only such lowercase.


def _go_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(_lower_char(char) for char in text)


def _go_upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    return "".join(_upper_char(char) for char in text)


def _lower_char(char: str) -> str:
    lower = char.lower()
    if len(lower) == 1:
        return lower
    return "i" if char == "\u0130" else char


def _upper_char(char: str) -> str:
    upper = char.upper()
    if len(upper) == 1:
        return upper
    title = char.title()
    return title if len(title) == 1 else char
