"""Go's strings.ToLower / ToUpper, which Prometheus's lowercase/uppercase actions use.

Go maps rune by rune with Unicode's *simple* case mappings; Python's str.lower/upper use
the full ones ("ß" -> "SS", final sigma), so label values would differ from Prometheus's.
Per character, a full mapping longer than one character means "use the simple mapping": for
uppercase that is the single-character titlecase when there is one (e.g. U+1F80 -> U+1F88),
and U+0130 is the only such lowercase.
"""

from __future__ import annotations


def go_lower(text: str) -> str:
    """`text` as Go's strings.ToLower returns it."""
    if text.isascii():
        return text.lower()
    return "".join(_lower_char(char) for char in text)


def go_upper(text: str) -> str:
    """`text` as Go's strings.ToUpper returns it."""
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
