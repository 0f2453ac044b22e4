"""Big endpoints split into parts: scrape jobs of bounded size, so a change re-reads little.

Prometheus's file_sd re-reads a job's whole file when anything in its directory changes. An
endpoint with 100k targets in one file makes every pod change cost Prometheus seconds of CPU,
so an endpoint is split into a power of two of parts, each its own scrape job reading its own
file in its own directory (docs/architecture.md, "Output"). A change then re-reads one part.

* A target's part is a stable function of its address (the low bits of its CRC-32), so it
  stays put while the number of parts stays put, and when the number doubles each part splits
  in two (part i of n becomes i or i + n of 2n).
* The number of parts changes the fragments, which costs a Prometheus reload, so it changes
  only with hysteresis around the part size N: it doubles while the largest part holds more
  than 2 * N targets, and halves while all parts together hold fewer than N / 2 per part.
  Between the two, pod churn moves no boundary and never reloads.

Pure: encoded file_sd lines in, lists of lines out.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Sequence

# A part holds at most 2 * N targets before it splits; this N keeps every re-read of a part
# within the budget the README's "Decisions" section gives, measured with a real Prometheus.
DEFAULT_PART_SIZE = 3000
_PREFIX = b'{"targets":["'  # every encoded group starts so (resolve/pipeline.py encodes them)


def address_hash(line: bytes) -> int:
    """The CRC-32 of a line's address as encoded (stable across runs and machines)."""
    end = line.find(b'"', len(_PREFIX))
    return zlib.crc32(line[len(_PREFIX) : end] if line.startswith(_PREFIX) else line)


def address_of(line: bytes) -> str:
    """A line's `__address__`, decoded (JSON-unescaped when the encoder escaped it)."""
    raw = _encoded_address(line)
    return json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")


def _encoded_address(line: bytes) -> bytes:
    """The address's bytes as encoded; a quote inside it is escaped, so the first unescaped
    quote ends it."""
    if not line.startswith(_PREFIX):
        return line
    end = line.find(b'"', len(_PREFIX))
    while end > 0 and _escaped(line, end):
        end = line.find(b'"', end + 1)
    return line[len(_PREFIX) : end]


def _escaped(line: bytes, quote: int) -> bool:
    if line[quote - 1] != 0x5C:  # no backslash before it: the common case, no copy
        return False
    before = line[:quote]
    return (len(before) - len(before.rstrip(b"\\"))) % 2 == 1


def part_count(hashes: Sequence[int], current: int, part_size: int) -> int:
    """The number of parts for targets with these address hashes, given the current number.

    Doubles while the largest part would exceed 2 * part_size (and doubling makes it smaller),
    halves while the parts would average fewer than part_size / 2; otherwise keeps `current`.
    Always a power of two ≥ 1."""
    if part_size < 1:
        raise ValueError(f"part size must be at least 1, got {part_size}")
    parts = current if current >= 1 and current & (current - 1) == 0 else 1
    while parts > 1 and len(hashes) * 2 < parts * part_size:
        parts //= 2
    largest = _largest(hashes, parts)
    while largest > 2 * part_size:
        doubled = _largest(hashes, 2 * parts)
        if doubled >= largest:  # equal addresses hash alike: more parts cannot split them
            break
        parts, largest = 2 * parts, doubled
    return parts


def split(lines: Sequence[bytes], hashes: Sequence[int], parts: int) -> list[list[bytes]]:
    """The lines of each part, in their original order (so sorted lines stay sorted)."""
    if parts == 1:
        return [list(lines)]
    mask = parts - 1
    out: list[list[bytes]] = [[] for _ in range(parts)]
    for line, digest in zip(lines, hashes, strict=True):
        out[digest & mask].append(line)
    return out


def _largest(hashes: Sequence[int], parts: int) -> int:
    if parts == 1 or not hashes:
        return len(hashes)
    mask = parts - 1
    return max(Counter(h & mask for h in hashes).values())
