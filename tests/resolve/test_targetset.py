"""TargetSet: patched source by source, always equal to a rebuild from all contributions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from sdgen.resolve.funnel import Tally
from sdgen.resolve.targetset import TargetSet


@dataclass(frozen=True)
class Given:
    lines: tuple[bytes, ...]
    dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    candidates: int = 0
    relabel_drops: tuple[int, ...] = ()
    shard_drops: int = 0


def test_lines_are_sorted_unique_and_patched_per_source() -> None:
    ts = TargetSet()
    ts.update({f"s{i}": Given((f"{i:03d}".encode(),)) for i in range(20)})
    assert ts.lines == [f"{i:03d}".encode() for i in range(20)]
    first = ts.lines
    ts.update({"s3": Given((b"003",))})  # the same lines again: nothing changed
    assert ts.lines is first
    ts.update({"extra": Given((b"005", b"100"))})  # 005 repeats; 100 is new
    assert ts.lines[-1] == b"100" and ts.lines.count(b"005") == 1
    assert ts.lines is not first and first == [f"{i:03d}".encode() for i in range(20)]
    second = ts.lines
    ts.update({"s5": None})  # 005 is still given by "extra"
    assert b"005" in ts.lines and ts.lines is second
    ts.update({"extra": None})
    assert b"005" not in ts.lines and b"100" not in ts.lines
    assert len(ts) == 19


def test_problems_are_summed_in_source_key_order() -> None:
    ts = TargetSet()
    ts.update(
        {
            "b": Given((), dropped=("no address",), warnings=("w-b",)),
            "a": Given((b"x",), dropped=("no address", "bad"), warnings=("w-a",)),
            "c": Given((b"y",)),
        }
    )
    dropped, warnings = ts.problems()
    assert dropped == Counter({"no address": 2, "bad": 1})
    assert warnings == ["w-a", "w-b"]
    ts.update({"a": Given((b"x",))})
    assert ts.problems() == (Counter({"no address": 1}), ["w-b"])


_LINES = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"])
_CONTRIBUTION = st.builds(
    Given,
    st.lists(_LINES, max_size=3).map(tuple),
    st.lists(st.sampled_from(["x", "y"]), max_size=1).map(tuple),
    candidates=st.integers(0, 5),
    relabel_drops=st.lists(st.integers(0, 2), max_size=2).map(tuple),
    shard_drops=st.integers(0, 2),
)
_STEP = st.dictionaries(
    st.sampled_from([f"ns{i % 3}/k{i}" for i in range(12)]),
    st.none() | _CONTRIBUTION,
    max_size=4,
)


def _counts(tally: Tally | None) -> tuple[object, ...]:
    assert tally is not None
    return (
        tally.sources,
        tally.candidates,
        tally.invalid,
        tally.shard,
        +tally.by_rule,
        +tally.namespaces,
        set(tally.by_rule.values()) <= set(range(1, 99)),  # no zero or negative count kept
        set(tally.namespaces.values()) <= set(range(1, 99)),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_STEP, max_size=25))
def test_any_sequence_of_updates_equals_a_rebuild(steps: list[dict[str, Given | None]]) -> None:
    ts = TargetSet(by_namespace=True)
    model: dict[str, Given] = {}
    for step in steps:
        handed_out = ts.lines
        before = list(handed_out)
        ts.update(dict(step))  # type: ignore[arg-type]
        for key, value in step.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        expected = sorted({line for c in model.values() for line in c.lines})
        assert ts.lines == expected
        assert handed_out == before, "a list handed out is never changed"
        assert (ts.lines is not handed_out) == (ts.lines != before)
        dropped = Counter(r for key in sorted(model) for r in model[key].dropped)
        assert ts.problems()[0] == dropped
        assert list(ts.contributions()) == [model[key] for key in sorted(model)]
        assert _counts(ts.tally) == _counts(Tally.of(model, by_namespace=True))
