"""Convex value order (compare_values) and the order-preserving index key encoding (encode_key)."""

from __future__ import annotations

import functools
import itertools
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.values import MISSING, Int64, compare_values, encode_key, prefix_successor

from .test_wire import (
    INF,
    INT64_MAX,
    INT64_MIN,
    NAN,
    convex_floats,
    field_names,
    float_from_bits,
    int64s,
    same_value,
    values,
)

key_elements = st.one_of(st.just(MISSING), values)
key_tuples = st.lists(key_elements, max_size=3).map(tuple)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def bytes_cmp(x: bytes, y: bytes) -> int:
    return (x > y) - (x < y)


def compare_tuples(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    for x, y in zip(a, b, strict=False):
        c = compare_values(x, y)
        if c:
            return c
    return (len(a) > len(b)) - (len(a) < len(b))


def same_element(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return same_value(a, b)


# A hand-written list in strictly increasing Convex order, independent of the implementation.
ORDERED: list[Any] = [
    MISSING,
    None,
    Int64(INT64_MIN),
    Int64(INT64_MIN + 1),
    Int64(-(2**53) - 1),
    Int64(-1),
    Int64(0),
    Int64(1),
    Int64(2**53 + 1),
    Int64(INT64_MAX),
    float_from_bits(0xFFFF_FFFF_FFFF_FFFF),  # -NaN, largest payload
    float_from_bits(0xFFF8_0000_0000_0000),  # -NaN (quiet, canonical)
    float_from_bits(0xFFF0_0000_0000_0001),  # -NaN, smallest payload (signalling)
    -INF,
    -1.7976931348623157e308,
    -(2**53),  # a Python int is a float64 number, ordered among the floats
    -1.0,
    -5e-324,
    -0.0,
    0.0,
    5e-324,
    2.2250738585072014e-308,
    0.5,
    1.0,
    2,
    2**53,
    9007199254740994.0,
    1.7976931348623157e308,
    INF,
    float_from_bits(0x7FF0_0000_0000_0001),  # NaN, smallest payload (signalling)
    NAN,
    float_from_bits(0x7FFF_FFFF_FFFF_FFFF),  # NaN, largest payload
    False,
    True,
    "",
    "\x00",
    "\x00\x00",
    "\x00\x01",
    "\x01",
    " ",
    "A",
    "Z",
    "a",
    "a\x00",
    "a\x00b",
    "ab",
    "b",
    "\x7f",
    "\x80",
    "é",
    "\uffff",
    "😀",
    "\U0010ffff",
    b"",
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"\x01",
    b"a",
    b"\xfe",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    [],
    [None],
    [None, None],
    [Int64(0)],
    [Int64(0), None],
    [Int64(1)],
    [-0.0],
    [0.0],
    [1],
    [False],
    [""],
    ["a"],
    [b""],
    [[]],
    [[None]],
    [{}],
    {},
    {" ": 1},
    {"a": None},
    {"a": None, "b": 1},
    {"a": None, "c": None},
    {"a": Int64(1)},
    {"a": Int64(1), "b": 0},
    {"a": Int64(2)},
    {"b": None, "a": 0.5},  # pairs [("a", 0.5), ("b", null)]: 0.5 > int64 2, < float64 1
    {"a": 1},
    {"a": 1.5, "b": 0},
    {"a": []},
    {"a": {}},
    {"aa": None},
    {"b": None},
]


def test_hand_ordered_values_compare_in_order() -> None:
    for (i, x), (j, y) in itertools.product(enumerate(ORDERED), repeat=2):
        assert compare_values(x, y) == sign(i - j), (x, y)


def test_hand_ordered_values_encode_in_order() -> None:
    keys = [encode_key((x,)) for x in ORDERED]
    for (i, kx), (j, ky) in itertools.product(enumerate(keys), repeat=2):
        assert bytes_cmp(kx, ky) == sign(i - j), (ORDERED[i], ORDERED[j])


def test_sorting_shuffled_values_restores_order() -> None:
    rng = random.Random(1234)
    for _ in range(20):
        shuffled = ORDERED[:]
        rng.shuffle(shuffled)
        by_compare = sorted(shuffled, key=functools.cmp_to_key(compare_values))
        by_key = sorted(shuffled, key=lambda x: encode_key((x,)))
        assert all(a is b for a, b in zip(by_compare, ORDERED, strict=True))
        assert all(a is b for a, b in zip(by_key, ORDERED, strict=True))


def test_type_order() -> None:
    # One representative per type, chosen so that naive numeric comparison would disagree.
    chain = [MISSING, None, Int64(INT64_MAX), -INF, False, "", b"", [], {}]
    for i in range(len(chain) - 1):
        assert compare_values(chain[i], chain[i + 1]) == -1
        assert compare_values(chain[i + 1], chain[i]) == 1
        assert encode_key((chain[i],)) < encode_key((chain[i + 1],))


def test_int64_float64_bool_are_distinct() -> None:
    assert compare_values(Int64(1), 1.0) == -1
    assert compare_values(1.0, Int64(1)) == 1
    assert compare_values(Int64(1), 1) == -1
    assert compare_values(Int64(10**18), -1e300) == -1  # every int64 < every float64
    assert compare_values(True, 1) == 1
    assert compare_values(True, Int64(1)) == 1
    assert compare_values(False, 1.0) == 1
    assert compare_values(True, False) == 1
    assert compare_values(False, False) == 0
    assert encode_key((Int64(1),)) != encode_key((1.0,)) != encode_key((True,))


def test_a_python_int_is_the_float64_of_the_same_value() -> None:
    """``2`` and ``2.0`` are one float64 number: equal, and one index key (so ``q.eq("n", 2)``
    finds a document stored from JavaScript as ``2``)."""
    assert compare_values(2, 2.0) == 0
    assert encode_key((2,)) == encode_key((2.0,))
    assert encode_key((0,)) == encode_key((0.0,)) != encode_key((-0.0,))
    assert compare_values(1, 1.5) == -1 and compare_values(NAN, 1) == 1


def test_zero_signs_and_nans() -> None:
    assert compare_values(-0.0, 0.0) == -1
    assert compare_values(0.0, -0.0) == 1
    assert compare_values(-0.0, -0.0) == 0
    assert compare_values(NAN, NAN) == 0
    assert compare_values(NAN, INF) == 1
    assert compare_values(-NAN, -INF) == -1
    assert compare_values(-NAN, NAN) == -1


def test_missing_and_null() -> None:
    assert compare_values(MISSING, MISSING) == 0
    assert compare_values(None, None) == 0
    assert compare_values(MISSING, None) == -1
    assert compare_values(None, MISSING) == 1
    assert compare_values([MISSING], [None]) == -1
    assert encode_key((MISSING,)) < encode_key((None,))
    assert encode_key((MISSING, 5)) < encode_key((None,))


def test_object_key_order_does_not_matter() -> None:
    a = {"x": 1, "y": [2.0, "z"], "a": None}
    b = {"a": None, "y": [2.0, "z"], "x": 1}
    assert compare_values(a, b) == 0
    assert encode_key((a,)) == encode_key((b,))


def test_empty_tuple_and_successor() -> None:
    assert encode_key(()) == b""
    assert encode_key([]) == b""  # any sequence
    assert prefix_successor(b"") == b"\xff"
    assert prefix_successor(b"ab") == b"ab\xff"
    for x in ORDERED:
        assert encode_key((x,)) < prefix_successor(b"")


@pytest.mark.parametrize("bad", [{1, 2}, (1,), object(), 1j, bytearray(b"x")])
def test_encode_key_rejects_non_values(bad: Any) -> None:
    with pytest.raises(TypeError):
        encode_key((bad,))
    with pytest.raises(TypeError):
        encode_key(([bad],))


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(key_tuples, key_tuples)
def test_encode_key_preserves_tuple_order(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert bytes_cmp(encode_key(a), encode_key(b)) == compare_tuples(a, b)


@settings(max_examples=300)
@given(values, values)
def test_encode_key_preserves_value_order(a: Any, b: Any) -> None:
    assert bytes_cmp(encode_key((a,)), encode_key((b,))) == compare_values(a, b)


@settings(max_examples=300)
@given(key_tuples)
def test_encode_key_order_on_near_neighbours(a: tuple[Any, ...]) -> None:
    # Random pairs rarely share long prefixes; compare a tuple with small edits of itself.
    variants = [(*a, MISSING), (*a, None), a[:-1], (*a[:-1], [a[-1]]) if a else (None,)]
    for b in variants:
        assert bytes_cmp(encode_key(a), encode_key(b)) == compare_tuples(a, b)


@settings(max_examples=300)
@given(values, values)
def test_encode_key_is_prefix_free(a: Any, b: Any) -> None:
    ka, kb = encode_key((a,)), encode_key((b,))
    if same_value(a, b):
        assert ka == kb
    else:
        assert ka != kb
        assert not ka.startswith(kb)
        assert not kb.startswith(ka)


@settings(max_examples=300)
@given(values)
def test_encode_key_is_prefix_free_against_extensions(a: Any) -> None:
    # Values built from a by appending content must never encode to an extension of a's key.
    ka = encode_key((a,))
    extended: list[Any] = []
    if isinstance(a, str):
        extended = [a + "\x00", a + "x"]
    elif isinstance(a, bytes):
        extended = [a + b"\x00", a + b"\xff"]
    elif isinstance(a, list):
        extended = [[*a, MISSING], [*a, None], [*a, []]]
    elif isinstance(a, dict):
        # A key a already has would give back a itself (Hypothesis found {" ": None}).
        extended = [{**a, key: None} for key in ("~~~~", " ", "  ~") if key not in a]
    for b in extended:
        kb = encode_key((b,))
        assert not kb.startswith(ka)
        assert bytes_cmp(ka, kb) == compare_values(a, b)


@settings(max_examples=300)
@given(values, values)
def test_compare_values_is_consistent(a: Any, b: Any) -> None:
    assert compare_values(a, a) == 0
    assert compare_values(a, b) in (-1, 0, 1)
    assert compare_values(a, b) == -compare_values(b, a)
    assert (compare_values(a, b) == 0) == same_value(a, b)


@settings(max_examples=200)
@given(values, values, values)
def test_compare_values_is_transitive(a: Any, b: Any, c: Any) -> None:
    x, y, z = sorted([a, b, c], key=functools.cmp_to_key(compare_values))
    assert compare_values(x, y) <= 0
    assert compare_values(y, z) <= 0
    assert compare_values(x, z) <= 0


@settings(max_examples=300)
@given(key_tuples, st.lists(key_elements, min_size=1, max_size=3).map(tuple))
def test_prefix_successor_bounds_extensions(a: tuple[Any, ...], more: tuple[Any, ...]) -> None:
    prefix = encode_key(a)
    longer = encode_key(a + more)
    assert longer.startswith(prefix)
    assert prefix < longer < prefix_successor(prefix)


@settings(max_examples=300)
@given(key_tuples, key_tuples)
def test_prefix_range_is_exactly_the_tuple_prefix(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    # An index range scan [encode_key(a), prefix_successor(encode_key(a))) finds b iff a is a
    # value-wise prefix of b.
    prefix, kb = encode_key(a), encode_key(b)
    in_range = prefix <= kb < prefix_successor(prefix)
    is_prefix = len(b) >= len(a) and all(
        same_element(x, y) for x, y in zip(a, b[: len(a)], strict=True)
    )
    assert in_range == is_prefix
    assert kb.startswith(prefix) == is_prefix


@settings(max_examples=300)
@given(key_tuples, key_tuples)
def test_prefix_range_with_shared_prefix(a: tuple[Any, ...], rest: tuple[Any, ...]) -> None:
    # Same as above, but b always extends a, so the positive case is exercised as often.
    b = a + rest
    prefix = encode_key(a)
    assert prefix <= encode_key(b) < prefix_successor(prefix)


@settings(max_examples=300)
@given(int64s, int64s)
def test_int_order_is_numeric(a: int, b: int) -> None:
    assert compare_values(a, b) == sign(a - b)
    assert bytes_cmp(encode_key((a,)), encode_key((b,))) == sign(a - b)


@settings(max_examples=300)
@given(convex_floats, convex_floats)
def test_float_order_is_ieee_total_order(a: float, b: float) -> None:
    c = compare_values(a, b)
    assert bytes_cmp(encode_key((a,)), encode_key((b,))) == c
    if a != b and a == a and b == b:  # both non-NaN and numerically different
        assert c == (1 if a > b else -1)
    if a == 0.0 and b == 0.0:  # -0.0 < 0.0
        assert c == sign(int(_negative(b)) - int(_negative(a)))
    for x, y in ((a, b), (b, a)):
        # A NaN sorts above every non-NaN if positive, below every non-NaN if negative.
        if math.isnan(x) and not math.isnan(y):
            assert compare_values(x, y) == (-1 if _negative(x) else 1)


def _negative(x: float) -> bool:
    return math.copysign(1.0, x) < 0


@settings(max_examples=200)
@given(st.dictionaries(field_names, values, max_size=5), st.randoms())
def test_object_encoding_ignores_insertion_order(d: dict[str, Any], rng: random.Random) -> None:
    items = list(d.items())
    rng.shuffle(items)
    shuffled = dict(items)
    assert encode_key((d,)) == encode_key((shuffled,))
    assert compare_values(d, shuffled) == 0


@settings(max_examples=200)
@given(st.lists(values, max_size=8))
def test_sort_by_key_equals_sort_by_compare(xs: list[Any]) -> None:
    by_compare = sorted(xs, key=functools.cmp_to_key(compare_values))
    by_key = sorted(xs, key=lambda x: encode_key((x,)))
    assert all(same_value(a, b) for a, b in zip(by_compare, by_key, strict=True))
