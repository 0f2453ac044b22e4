"""encode_group: the line a target is written as, with and without a reused buffer."""

from __future__ import annotations

import json
import sys
import tracemalloc

import pytest

from sdgen.resolve.pipeline import encode_group

CASES = [
    ("10.0.0.1:8080", {"job": "a", "long": "x" * 300}),
    ("10.0.0.2:80", {"job": "b"}),  # shorter than the one before: no tail of it is left
    ("[fd00::1]:9090", {"note": "50%{HOME}", "job": "c"}),  # `%{` escaped for vmagent
    ("10.0.0.3:80", {"bad": "\ud800"}),  # a lone surrogate: the escaping encoder's path
    ("10.0.0.4:80", {}),
]


@pytest.mark.parametrize(("address", "labels"), CASES)
def test_encode_group_is_the_file_sd_group(address: str, labels: dict[str, str]) -> None:
    line = encode_group(address, labels)
    assert json.loads(line) == {"targets": [address], "labels": labels}
    assert b"%{" not in line


def test_a_reused_buffer_gives_the_same_lines() -> None:
    buffer = bytearray()
    for address, labels in CASES * 2:
        assert encode_group(address, labels, buffer) == encode_group(address, labels)


def test_a_line_holds_no_slack() -> None:
    """A sidecar keeps one line per target: each takes its length, not a growing buffer's."""
    labels = {f"label_{i}": f"value-{i:05d}-" * 3 for i in range(14)}
    buffer = bytearray()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        lines = [encode_group(f"10.0.{i // 256}.{i % 256}:80", labels, buffer) for i in range(200)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    exact = sum(sys.getsizeof(line) for line in lines)
    assert traced <= exact * 1.05 + 4096, (traced, exact)
