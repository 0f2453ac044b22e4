"""Prometheus duration syntax (`1h30m`, `15s`, `500ms`), parsed and printed as Prometheus does.

Intervals and timeouts end up in `__scrape_interval__` / `__scrape_timeout__` labels and in
scrape-config fragments, where Prometheus parses them again; printing them in Prometheus's own
canonical form keeps the output stable and comparable with what Prometheus reports.
"""

from __future__ import annotations

import re

from sdgen import SdgenError

_MS = 1
_S = 1000 * _MS
_M = 60 * _S
_H = 60 * _M
_D = 24 * _H
_W = 7 * _D
_Y = 365 * _D

# Unit -> (position, milliseconds). Units must appear from biggest to smallest, each once.
_UNITS = {
    "y": (1, _Y),
    "w": (2, _W),
    "d": (3, _D),
    "h": (4, _H),
    "m": (5, _M),
    "s": (6, _S),
    "ms": (7, _MS),
}
_TOKEN = re.compile(r"([0-9]*)([^0-9]*)")
# Prometheus keeps durations as int64 nanoseconds and refuses anything larger.
_MAX_NS = (1 << 63) - 1
_NS_PER_MS = 1_000_000
# (unit, size, exact): years and weeks only when they divide evenly, as Prometheus prints.
_FORMAT = (
    ("y", _Y, True),
    ("w", _W, True),
    ("d", _D, False),
    ("h", _H, False),
    ("m", _M, False),
    ("s", _S, False),
    ("ms", _MS, False),
)
_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


class DurationError(SdgenError, ValueError):
    """A string that is not a Prometheus duration."""


def parse_duration(text: str) -> int:
    """Return the duration in milliseconds; raise DurationError with Prometheus's wording.

    Mirrors common/model.ParseDuration token by token (ASCII digits only, units in order,
    int64-nanosecond range), so what passes here also passes in Prometheus.
    """
    if text == "":
        raise DurationError("empty duration string")
    if text == "0":
        return 0
    invalid = DurationError(f"not a valid duration string: {go_quote(text)}")
    total_ns, last_position = 0, 0
    for digits, unit in _TOKEN.findall(text)[:-1]:  # findall ends with one empty match
        if not digits or not unit or int(digits) > (1 << 64) - 1:  # as Go's ParseUint
            raise invalid
        if unit not in _UNITS:
            raise DurationError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        position, size = _UNITS[unit]
        if position <= last_position:
            raise invalid
        last_position = position
        total_ns += int(digits) * size * _NS_PER_MS
        if total_ns > _MAX_NS:
            raise DurationError("duration out of range")
    return total_ns // _NS_PER_MS


def go_quote(text: str) -> str:
    """Quote like Go's %q, which Prometheus uses in its messages."""
    out = []
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x80 or 0xD800 <= code < 0xE000:
            # Go prints ASCII controls, and invalid UTF-8 such as a lone surrogate, as bytes.
            out.extend(f"\\x{b:02x}" for b in char.encode("utf-8", "surrogatepass"))
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def format_duration(ms: int) -> str:
    """Print milliseconds the way Prometheus's model.Duration.String does."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size, exact in _FORMAT:
        if exact and ms % size:
            continue
        if count := ms // size:
            out.append(f"{count}{unit}")
            ms -= count * size
    return "".join(out)
