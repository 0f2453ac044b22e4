"""Go's regexp package on RE2: what Go accepts, Go's error messages, and Go's Expand.

Prometheus compiles relabel regexes with Go's regexp, so users paste Go-dialect regexes and
read Go's messages in `promtool`. RE2 (C++) shares Go's parser design but not all of it: it
accepts `\\C` and non-ASCII group names, which Go rejects, and words its errors differently.
This module closes those gaps so callers can treat a pattern exactly as Go would. Unicode
tables follow Python's and RE2's versions, which may lag Go's for characters added in recent
Unicode releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import re2

from sdgen import SdgenError

Groups = tuple[str | None, ...]  # group 0 (the whole match), then each capture group

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as RegexError, not on stderr
# RE2's default 8 MiB budget rejects programs Go compiles (e.g. `\pL{1000}`); Go's own cap
# is ~3M instructions. Memory beyond the program is only taken as a regex needs it.
_OPTIONS.max_mem = 64 << 20
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED  # the public wrapper costs several times more

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


class RegexError(SdgenError, ValueError):
    """A pattern Go's regexp.Compile rejects; the message is Go's."""


class GoRegexp:
    """`expr` compiled as Go's regexp.Compile would; raises RegexError with Go's message.

    `names` holds the capture-group names by index (0 = the whole match, "" = unnamed).
    """

    def __init__(self, expr: str) -> None:
        try:
            self._re = re2._re2.RE2(expr.encode(), _OPTIONS)
        except UnicodeEncodeError:
            raise RegexError(f"error parsing regexp: invalid UTF-8: `{expr}`") from None
        if not self._re.ok():
            raise RegexError(_go_error(self._re.error(), expr))
        names, go_error = _scan_groups(expr)
        if go_error:
            raise RegexError(f"error parsing regexp: {go_error}")
        self.names = self._check_names(names)

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

    def match(self, text: str) -> Groups | None:
        """The groups of the leftmost match in `text`, or None."""
        data = text.encode("utf-8", "surrogatepass")  # Go strings may hold any bytes
        spans = self._re.Match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        if len(data) == len(text):  # ASCII: byte offsets are character offsets
            return tuple(None if s < 0 else text[s:e] for s, e in spans)
        return tuple(None if s < 0 else data[s:e].decode(errors="replace") for s, e in spans)


def _go_error(re2_error: bytes | str, expr: str) -> str:
    text = re2_error.decode(errors="replace") if isinstance(re2_error, bytes) else re2_error
    if text.startswith("pattern too large"):
        return f"error parsing regexp: expression too large: `{expr}`"
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


# --- templates (Go's Regexp.Expand) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed `$1`/`${name}`/`$$` template: literals and group references.

    A reference is the tuple of group indexes it may name; the first that took part in
    the match is used, as Go does for repeated group names.
    """

    parts: tuple[str | tuple[int, ...], ...]
    literal: str | None  # the whole template when it references no group

    @staticmethod
    def parse(template: str, names: Sequence[str]) -> Template:
        """Parse `template` against the group `names` of a GoRegexp."""
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
        return Template(kept, "".join(strings) if len(strings) == len(kept) else None)

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
