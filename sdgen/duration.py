"""Prometheus duration syntax (`1h30m`, `15s`, `500ms`), parsed and printed as Prometheus does.

Intervals and timeouts end up in `__scrape_interval__` / `__scrape_timeout__` labels and in
scrape-config fragments, where Prometheus parses them again; printing them in Prometheus's own
canonical form keeps the output stable and comparable with what Prometheus reports.
"""

from __future__ import annotations

import re

_MS = 1
_S = 1000 * _MS
_M = 60 * _S
_H = 60 * _M
_D = 24 * _H
_W = 7 * _D
_Y = 365 * _D

_PATTERN = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_SIZES = (_Y, _W, _D, _H, _M, _S, _MS)
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


class DurationError(ValueError):
    """A string that is not a Prometheus duration."""


def parse_duration(text: str) -> int:
    """Return the duration in milliseconds; raise DurationError with Prometheus's wording."""
    if text == "":
        raise DurationError("empty duration string")
    if text == "0":
        return 0
    match = _PATTERN.match(text)
    if match is None or not any(match.groups()):
        raise DurationError(f'not a valid duration string: "{text}"')
    return sum(int(g) * size for g, size in zip(match.groups(), _SIZES, strict=True) if g)


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
