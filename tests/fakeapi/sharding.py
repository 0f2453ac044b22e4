"""Server-side sharded list and watch (KEP-5866, alpha behind `ShardedListAndWatch`).

`shardSelector=shardRange(object.metadata.<uid|namespace>, '<start>', '<end>')` keeps the
objects whose 64-bit FNV-1a hash of that field's value falls in [start, end); several ranges of
one field may be joined with `||`. Bounds are `0x`-prefixed hex, at most 2⁶⁴
(`'0x10000000000000000'`, the last shard's end). A malformed selector is a 400 BadRequest.
With the gate off (the emulator's default, as the real server's) the parameter is ignored and
nothing is echoed; with it on, a list's metadata and a watch's initial-events-end bookmark carry
`shardInfo: {selector: ...}`. Written here from the KEP's text, apart from sdgen's own code,
so each checks the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import bad_request
from .store import Stored

_OFFSET = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_LIMIT = 1 << 64
FIELDS = ("object.metadata.uid", "object.metadata.namespace")
_RANGE = re.compile(r"\s*shardRange\(\s*([\w.]+)\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*\)\s*")


def fnv1a64(data: bytes) -> int:
    value = _OFFSET
    for byte in data:
        value = ((value ^ byte) * _PRIME) % _LIMIT
    return value


def _bound(text: str, selector: str) -> int:
    if not re.fullmatch(r"0x[0-9a-fA-F]{1,17}", text) or int(text, 16) > _LIMIT:
        raise bad_request(
            f"invalid shard selector {selector!r}: bound {text!r} is not a hex value "
            "0x0..0x10000000000000000"
        )
    return int(text, 16)


@dataclass(frozen=True)
class ShardSelector:
    field: str
    ranges: tuple[tuple[int, int], ...]

    def matches(self, obj: Stored) -> bool:
        if self.field == "object.metadata.namespace":
            value = obj.key[0]
        else:
            value = str(obj.decode()["metadata"].get("uid", ""))
        hashed = fnv1a64(value.encode())
        return any(start <= hashed < end for start, end in self.ranges)


def parse_shard_selector(text: str) -> ShardSelector | None:
    """None for no selector; a 400 for one the server would refuse."""
    if not text.strip():
        return None
    fields: set[str] = set()
    ranges: list[tuple[int, int]] = []
    for term in text.split("||"):
        match = _RANGE.fullmatch(term)
        if match is None:
            raise bad_request(
                f"invalid shard selector {text!r}: expected shardRange(<field>, '<hex start>', "
                "'<hex end>')"
            )
        field, start, end = (
            match.group(1),
            _bound(match.group(2), text),
            _bound(match.group(3), text),
        )
        if field not in FIELDS:
            raise bad_request(
                f"invalid shard selector {text!r}: unsupported field {field!r}, supported: "
                + ", ".join(FIELDS)
            )
        if start >= end:
            raise bad_request(f"invalid shard selector {text!r}: start must be below end")
        fields.add(field)
        ranges.append((start, end))
    if len(fields) > 1:
        raise bad_request(f"invalid shard selector {text!r}: all ranges must use one field")
    return ShardSelector(fields.pop(), tuple(ranges))
