"""The interval index finds exactly the read intervals that contain a written key, by bucket
lookups only; checked against brute force on random index ranges and keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.engine.query import IndexRange
from livebase.engine.reads import Interval
from livebase.subscriptions.intervals import IntervalIndex
from livebase.values.ordering import encode_key, value_boundaries

FIELDS = ("a", "b")
values = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.sampled_from([-1.5, 0.0, 2.5]),
    st.booleans(),
    st.sampled_from(["", "x", "xy", "y\x00"]),
)


def document_key(a: object, b: object, n: int) -> bytes:
    return encode_key([a, b, float(n), f"id{n:04d}"])


@st.composite
def read_interval(draw: st.DrawFn) -> Interval:
    rng = IndexRange("by_ab", FIELDS)
    eqs = draw(st.integers(0, 2))
    for field in FIELDS[:eqs]:
        rng.eq(field, draw(values))
    if eqs < 2 and draw(st.booleans()):
        field = FIELDS[eqs]
        low, high = draw(values), draw(values)
        if draw(st.booleans()):
            rng.gte(field, low) if draw(st.booleans()) else rng.gt(field, low)
        if draw(st.booleans()):
            rng.lte(field, high) if draw(st.booleans()) else rng.lt(field, high)
    lo, hi = rng.bounds()
    return Interval(1, lo, hi, rng.prefix())


@settings(max_examples=150, deadline=None)
@given(
    intervals=st.lists(read_interval(), min_size=1, max_size=30),
    keys=st.lists(st.tuples(values, values, st.integers(0, 50)), min_size=1, max_size=20),
)
def test_touched_by_key_matches_brute_force(intervals: list[Interval], keys: list) -> None:
    index = IntervalIndex()
    for owner, interval in enumerate(intervals):
        index.add(owner, [interval], [])
    for a, b, n in keys:
        key = document_key(a, b, n)
        found: set[object] = set()
        index.touched_by_key(1, key, found)
        expected = {o for o, i in enumerate(intervals) if i.lo <= key < i.hi}
        assert found == expected
        other: set[object] = set()
        index.touched_by_key(2, key, other)  # another index id touches nothing
        assert other == set()


def test_removed_owners_are_not_found_and_buckets_are_freed() -> None:
    index = IntervalIndex()
    rng = IndexRange("by_ab", FIELDS).eq("a", "x")
    lo, hi = rng.bounds()
    index.add("sub", [Interval(1, lo, hi, rng.prefix())], ["later_table"])
    found: set[object] = set()
    index.touched_by_key(1, document_key("x", 1, 1), found)
    index.touched_by_table("later_table", found)
    assert found == {"sub"}
    index.remove("sub")
    found.clear()
    index.touched_by_key(1, document_key("x", 1, 1), found)
    index.touched_by_table("later_table", found)
    assert found == set()
    assert len(index) == 0


def test_value_boundaries_split_a_key_into_its_values() -> None:
    parts = [encode_key([v]) for v in ("a\x00b", 3, 1.5, [1, "x"], {"k": None}, b"\x00", True)]
    key = b"".join(parts)
    ends, total = [], 0
    for part in parts:
        total += len(part)
        ends.append(total)
    assert value_boundaries(key) == ends
