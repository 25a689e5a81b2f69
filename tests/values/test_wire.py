"""The Convex value model (types.py) and its encoded-JSON wire format (wire.py).

Also home of the shared hypothesis strategy for arbitrary Convex values and the ``same_value``
identity helper, which test_ordering.py imports.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.errors import BadRequestError, InvalidJsonError, InvalidValueError
from livebase.values import (
    Int64,
    check_value,
    decode_ts,
    dumps,
    encode_ts,
    from_wire,
    loads,
    to_clean_json,
    to_wire,
    type_name,
    value_size,
)
from livebase.values.types import as_number

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NAN = float("nan")
INF = float("inf")

# --------------------------------------------------------------------------- strategies & helpers


def float_from_bits(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def bits_of(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


# NaNs with arbitrary payloads and either sign (quiet and signalling), so that NaN handling is
# exercised beyond Python's one canonical float("nan").
nan_floats = st.builds(
    lambda sign, payload: float_from_bits(sign << 63 | 0x7FF << 52 | payload),
    st.integers(0, 1),
    st.integers(1, 2**52 - 1),
)
raw_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, INF, -INF, NAN, -NAN, 1.0, -1.0, 5e-324, 1.7976931348623157e308]),
    nan_floats,
)
# float64 numbers in the form Python holds them once read back: whole ones within 2**53 as int.
convex_floats = st.one_of(
    raw_floats.map(as_number),
    st.integers(-(2**53), 2**53),
    st.sampled_from([-(2**53), 2**53, 2**53 + 2.0, -0.0, 0]),
)
int64s = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.sampled_from([INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX]),
).map(Int64)
field_names = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20
).filter(lambda s: not s.startswith("$"))
# Any code point except lone surrogates (category Cs); includes NUL and astral characters.
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
leaves = st.one_of(st.none(), st.booleans(), int64s, convex_floats, texts, st.binary(max_size=12))


def convex_values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Arbitrary Convex values nested at most ``depth`` containers deep."""
    if depth == 0:
        return leaves
    child = convex_values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(child, max_size=4),
        st.dictionaries(field_names, child, max_size=4),
    )


values = convex_values()


def same_value(a: Any, b: Any) -> bool:
    """Identity of Convex values: Int64 != int != float != bool, -0.0 != 0.0, NaN == NaN (same
    bits)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bits_of(a) == bits_of(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


def test_same_value_helper_is_strict() -> None:
    assert same_value(NAN, NAN)
    assert not same_value(0.0, -0.0)
    assert not same_value(1, 1.0)
    assert not same_value(Int64(1), 1)
    assert not same_value(True, 1)
    assert not same_value(False, 0)
    assert not same_value([1], [1, 2])
    assert not same_value({"a": 1}, {"a": 1.0})
    assert same_value({"a": [NAN, b"x"]}, {"a": [NAN, b"x"]})


def b64_of(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def roundtrip(x: Any) -> Any:
    return from_wire(json.loads(dumps(to_wire(x))))


# --------------------------------------------------------------------------- round-trip properties


@settings(max_examples=300)
@given(values)
def test_wire_roundtrip_is_identity(x: Any) -> None:
    assert same_value(roundtrip(x), x)


@settings(max_examples=300)
@given(values)
def test_wire_roundtrip_through_loads(x: Any) -> None:
    assert same_value(from_wire(loads(dumps(to_wire(x)))), x)
    assert same_value(from_wire(loads(dumps(to_wire(x)).encode("utf-8"))), x)


@settings(max_examples=300)
@given(values)
def test_generated_values_are_valid_convex_values(x: Any) -> None:
    check_value(x)


@settings(max_examples=300)
@given(values)
def test_wire_output_is_strict_json(x: Any) -> None:
    text = dumps(to_wire(x))
    # No NaN/Infinity literals, and every JSON number parses back as a float.
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    for number in _json_numbers(json.loads(text)):
        assert isinstance(number, float)


def _json_numbers(data: Any) -> list[Any]:
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return []
    if isinstance(data, (int, float)):
        return [data]
    if isinstance(data, list):
        return [n for item in data for n in _json_numbers(item)]
    return [n for item in data.values() for n in _json_numbers(item)]


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: bits_of(f) != 1 << 63))
def test_normal_floats_are_plain_json_numbers(x: float) -> None:
    wire = to_wire(x)
    assert type(wire) is float and bits_of(wire) == bits_of(x)
    text = dumps(wire)
    assert re.search(r"[.eE]", text), text
    assert bits_of(json.loads(text)) == bits_of(x)


@settings(max_examples=300)
@given(int64s)
def test_int64_wire_form(n: int) -> None:
    wire = to_wire(n)
    assert list(wire) == ["$integer"]
    raw = base64.b64decode(wire["$integer"], validate=True)
    assert len(raw) == 8
    assert int.from_bytes(raw, "little", signed=True) == n
    back = from_wire(wire)
    assert type(back) is Int64 and back == n


@settings(max_examples=300)
@given(st.integers(-(2**53), 2**53))
def test_a_python_int_is_a_float64_number(n: int) -> None:
    """What JavaScript and the official Python client do: an ``int`` travels as a JSON number
    (a JS ``number``) and comes back as the same ``int``."""
    wire = to_wire(n)
    assert type(wire) is float and wire == n
    assert re.search(r"[.eE]", dumps(wire))
    back = from_wire(json.loads(dumps(wire)))
    assert type(back) is int and back == n


@pytest.mark.parametrize("n", [2**53 + 1, -(2**53) - 1, 2**63, 10**30])
def test_an_int_beyond_2_53_is_an_error_that_names_the_fix(n: int) -> None:
    for attempt in (lambda: to_wire(n), lambda: to_wire({"a": [n]}), lambda: check_value(n)):
        with pytest.raises(InvalidValueError, match=r"beyond 2\*\*53.*v\.int64\(\).*Int64"):
            attempt()
    if abs(n) < 2**63:
        assert to_wire(Int64(n)) == {"$integer": b64_of(struct.pack("<q", n))}


@pytest.mark.parametrize(
    ("x", "back"),
    [(2.0, 2), (-7.0, -7), (0.0, 0), (2.5, 2.5), (2.0**53, 2**53), (2.0**53 + 2, 2.0**53 + 2)],
)
def test_whole_float64_numbers_read_back_as_int(x: float, back: Any) -> None:
    assert same_value(from_wire(x), back)
    assert same_value(from_wire(to_wire(x)), back)


def test_negative_zero_stays_a_float() -> None:
    back = from_wire(to_wire(-0.0))
    assert type(back) is float and bits_of(back) == bits_of(-0.0)


def test_int64_is_an_int_that_says_so() -> None:
    n = Int64(5)
    assert isinstance(n, int) and n == 5 and n + 1 == 6 and type(n + 1) is int
    assert repr(n) == "Int64(5)" and str(n) == "5" and f"{n}" == "5"
    assert type_name(n) == "int64" and type_name(5) == "float64"
    with pytest.raises(InvalidValueError, match="int64"):
        Int64(2**63)
    with pytest.raises(InvalidValueError, match="whole number"):
        Int64(1.5)
    import pickle

    assert type(pickle.loads(pickle.dumps(n))) is Int64


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_bytes_wire_form(raw: bytes) -> None:
    wire = to_wire(raw)
    assert wire == {"$bytes": b64_of(raw)}
    back = from_wire(wire)
    assert type(back) is bytes and back == raw


# --------------------------------------------------------------------------- exact wire facts


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "AAAAAAAAAAA="),
        (3, "AwAAAAAAAAA="),
        (5, "BQAAAAAAAAA="),
        (-1, "//////////8="),
        (INT64_MAX, "/////////38="),
        (INT64_MIN, "AAAAAAAAAIA="),
    ],
)
def test_integer_encodings(n: int, encoded: str) -> None:
    assert to_wire(Int64(n)) == {"$integer": encoded}
    assert same_value(from_wire({"$integer": encoded}), Int64(n))


def test_dumps_of_integer_is_exact() -> None:
    assert dumps(to_wire(Int64(3))) == '{"$integer":"AwAAAAAAAAA="}'
    assert dumps(to_wire(3)) == "3.0"


@pytest.mark.parametrize(
    ("x", "encoded"),
    [
        (NAN, "AAAAAAAA+H8="),
        (INF, "AAAAAAAA8H8="),
        (-INF, "AAAAAAAA8P8="),
        (-0.0, "AAAAAAAAAIA="),
    ],
)
def test_special_float_encodings(x: float, encoded: str) -> None:
    assert to_wire(x) == {"$float": encoded}
    back = from_wire({"$float": encoded})
    assert type(back) is float and bits_of(back) == bits_of(x)


def test_positive_zero_is_a_plain_number() -> None:
    wire = to_wire(0.0)
    assert type(wire) is float and bits_of(wire) == 0
    assert dumps(wire) == "0.0"
    assert dumps(to_wire(-0.0)) == '{"$float":"AAAAAAAAAIA="}'


@pytest.mark.parametrize("x", [1.5, 0.0, -2.0, 1e300, 5e-324])
def test_float_for_a_normal_number_is_rejected(x: float) -> None:
    with pytest.raises(InvalidValueError):
        from_wire({"$float": b64_of(struct.pack("<d", x))})


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.5, "0.5"),
        (1e16, "1e+16"),
        (1e-7, "1e-7"),
        (100.0, "100.0"),
    ],
)
def test_dumps_keeps_floats_floats(x: float, text: str) -> None:
    assert dumps(x) == text
    assert dumps(to_wire(x)) == text


def test_dumps_is_compact_and_not_ascii_escaped() -> None:
    assert dumps({"a": [1.0, None, True], "b": "é😀"}) == '{"a":[1.0,null,true],"b":"é😀"}'


def test_non_finite_floats_never_reach_dumps_raw() -> None:
    # dumps takes to_wire output, where NaN and the infinities are {"$float": ...} objects.
    for x in (NAN, INF, -INF, -0.0):
        assert dumps(to_wire(x)).startswith('{"$float":')


@pytest.mark.parametrize(
    ("text", "back"),
    [("3", 3), ("0", 0), ("-7", -7), ("12345678901234567890", 12345678901234567890.0),
     ("1e2", 100), ("2.0", 2), ("2.5", 2.5)],
)  # fmt: skip
def test_json_numbers_decode_as_float64(text: str, back: Any) -> None:
    assert same_value(from_wire(json.loads(text)), back)


def test_json_integer_in_structure_decodes_as_float64() -> None:
    back = from_wire(loads('{"a":[1,2.5,{"$integer":"AwAAAAAAAAA="}]}'))
    assert same_value(back, {"a": [1, 2.5, Int64(3)]})


def test_plain_values_pass_through() -> None:
    assert to_wire(None) is None and from_wire(None) is None
    assert to_wire(True) is True and from_wire(True) is True
    assert to_wire(False) is False and from_wire(False) is False
    assert to_wire("hi") == "hi" and from_wire("hi") == "hi"
    assert to_wire("") == "" and from_wire("") == ""


def test_bool_is_not_an_integer_on_the_wire() -> None:
    assert dumps(to_wire([True, 1, Int64(1)])) == '[true,1.0,{"$integer":"AQAAAAAAAAA="}]'


def test_nested_structure_encoding() -> None:
    x = {"a": [Int64(1), 2.5, b"x", None, 3], "b": {"c": -0.0, "d": "s"}}
    assert to_wire(x) == {
        "a": [{"$integer": "AQAAAAAAAAA="}, 2.5, {"$bytes": "eA=="}, None, 3.0],
        "b": {"c": {"$float": "AAAAAAAAAIA="}, "d": "s"},
    }
    assert same_value(roundtrip(x), x)


def test_empty_bytes_and_containers() -> None:
    assert to_wire(b"") == {"$bytes": ""}
    assert from_wire({"$bytes": ""}) == b""
    assert from_wire([]) == [] and from_wire({}) == {}
    assert to_wire([]) == [] and to_wire({}) == {}


# --------------------------------------------------------------------------- wire errors


@pytest.mark.parametrize(
    "data",
    [
        {"$integer": "AAAA"},  # 3 bytes
        {"$integer": "AAAAAAAAAAAAAA=="},  # 10 bytes
        {"$integer": ""},  # 0 bytes
        {"$integer": "AwAAAAAAAAA"},  # missing padding
        {"$integer": "AwAA AAAAAAA="},  # whitespace
        {"$integer": "A*AAAAAAAAA="},  # not base64 alphabet
        {"$integer": "AwAAAAAAAAé="},  # non-ASCII
        {"$integer": 3},  # not a string
        {"$integer": None},
        {"$float": "AAAA"},
        {"$float": "AAAAAAAA+H8"},
        {"$float": 1.5},
        {"$bytes": "A"},
        {"$bytes": "A==="},
        {"$bytes": "!!!!"},
        {"$bytes": ["AA=="]},
    ],
)
def test_malformed_special_objects_are_rejected(data: Any) -> None:
    with pytest.raises(InvalidValueError):
        from_wire(data)
    with pytest.raises(InvalidValueError):
        from_wire({"outer": [data]})


@pytest.mark.parametrize(
    "data",
    [
        {"$foo": "x"},
        {"$id": "abc"},
        {"$": 1},
        {"$integer": "AwAAAAAAAAA=", "x": 1},  # a $-key is only special when alone
        {"x": 1, "$bytes": ""},
        {"a": {"$unknown": 1}},
        {"": 1},
        {"a\n": 1},
        {"é": 1},
        {"x" * 1025: 1},
    ],
)
def test_invalid_field_names_are_rejected(data: Any) -> None:
    with pytest.raises(InvalidValueError):
        from_wire(data)


def test_long_but_allowed_field_name() -> None:
    assert from_wire({"x" * 1024: 1.0}) == {"x" * 1024: 1.0}


@pytest.mark.parametrize(
    "data", [10**400, -(10**400), INF, -INF, NAN], ids=["huge", "-huge", "inf", "-inf", "nan"]
)
def test_out_of_range_plain_numbers_are_rejected(data: Any) -> None:
    with pytest.raises(InvalidValueError):
        from_wire(data)


def test_non_json_python_objects_are_rejected_by_from_wire() -> None:
    for data in [(1, 2), {1, 2}, object(), b"raw"]:
        with pytest.raises(InvalidValueError):
            from_wire(data)


@pytest.mark.parametrize("x", [2**63, -(2**63) - 1, 10**30, {1, 2}, (1,), object(), 1j], ids=repr)
def test_to_wire_rejects_non_values(x: Any) -> None:
    with pytest.raises(InvalidValueError):
        to_wire(x)
    with pytest.raises(InvalidValueError):
        to_wire({"nested": [x]})


def test_error_path_is_reported() -> None:
    with pytest.raises(InvalidValueError, match=r"a\.b\[1\]"):
        from_wire({"a": {"b": [1, {"$integer": "AAAA"}]}})


# --------------------------------------------------------------------------- loads


def test_loads_parses_str_and_bytes() -> None:
    assert loads('{"a":[1,2.5,null]}') == {"a": [1, 2.5, None]}
    assert loads(b'{"a":"\xc3\xa9"}') == {"a": "é"}


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1,", "{'a':1}", "nul", "NaN", "Infinity", "-Infinity", "[NaN]", b"\xff\xfe\x00"],
)
def test_loads_rejects_malformed_json(text: str | bytes) -> None:
    with pytest.raises(InvalidJsonError) as info:
        loads(text)
    assert isinstance(info.value, BadRequestError)
    assert info.value.code == "BadJsonBody"


# --------------------------------------------------------------------------- clean JSON export


def test_to_clean_json() -> None:
    x = {
        "i": Int64(5),
        "n5": 5,
        "big": Int64(INT64_MIN),
        "f": 1.5,
        "b": b"\x00\x01",
        "n": None,
        "t": True,
        "s": "x",
        "l": [NAN, INF, -INF],
    }
    assert to_clean_json(x) == {
        "i": "5",
        "n5": 5,
        "big": "-9223372036854775808",
        "f": 1.5,
        "b": "AAE=",
        "n": None,
        "t": True,
        "s": "x",
        "l": ["NaN", "Infinity", "-Infinity"],
    }


@settings(max_examples=200)
@given(values)
def test_to_clean_json_is_plain_json(x: Any) -> None:
    clean = to_clean_json(x)
    text = json.dumps(clean, allow_nan=False)  # raises if a NaN/inf slipped through
    _assert_int64_as_text(x, json.loads(text))


def _assert_int64_as_text(x: Any, clean: Any) -> None:
    """int64 is a decimal string in clean JSON; a float64 number stays a number."""
    if isinstance(x, Int64):
        assert clean == str(int(x))
    elif isinstance(x, int | float) and not isinstance(x, bool):
        assert isinstance(clean, (int, float, str))  # NaN and the infinities are text
    elif isinstance(x, list):
        for item, out in zip(x, clean, strict=True):
            _assert_int64_as_text(item, out)
    elif isinstance(x, dict):
        for key, item in x.items():
            _assert_int64_as_text(item, clean[key])


# --------------------------------------------------------------------------- timestamps


def test_timestamp_encodings() -> None:
    assert encode_ts(0) == "AAAAAAAAAAA="
    assert encode_ts(5) == "BQAAAAAAAAA="
    assert decode_ts("AAAAAAAAAAA=") == 0
    assert decode_ts("BQAAAAAAAAA=") == 5
    assert encode_ts(INT64_MAX) == "/////////38="


@settings(max_examples=200)
@given(st.integers(0, INT64_MAX))
def test_timestamp_roundtrip(ts: int) -> None:
    text = encode_ts(ts)
    assert base64.b64decode(text) == ts.to_bytes(8, "little")
    assert decode_ts(text) == ts


@pytest.mark.parametrize("ts", [-1, 2**63, 2**64])
def test_encode_ts_range(ts: int) -> None:
    with pytest.raises(InvalidValueError):
        encode_ts(ts)


@pytest.mark.parametrize(
    "text", ["AAAA", "", "AAAAAAAAAAA", "//////////8=", "AAAAAAAAAIA=", "!!", 5, None, b"x"]
)
def test_decode_ts_rejects_bad_input(text: Any) -> None:
    with pytest.raises(InvalidValueError):
        decode_ts(text)


# --------------------------------------------------------------------------- check_value


def nested_lists(levels: int) -> Any:
    x: Any = 1.0
    for _ in range(levels):
        x = [x]
    return x


def nested_objects(levels: int) -> Any:
    x: Any = "leaf"
    for _ in range(levels):
        x = {"k": x}
    return x


@pytest.mark.parametrize("make", [nested_lists, nested_objects])
def test_depth_limit_is_16(make: Any) -> None:
    check_value(make(16))
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        check_value(make(17))
    with pytest.raises(InvalidValueError):
        check_value({"a": make(16)})


def test_depth_limit_mixed_and_custom() -> None:
    x: Any = None
    for i in range(16):
        x = [x] if i % 2 else {"f": x}
    check_value(x)
    with pytest.raises(InvalidValueError):
        check_value([x])
    check_value(nested_lists(3), max_depth=3)
    with pytest.raises(InvalidValueError):
        check_value(nested_lists(4), max_depth=3)
    # Empty containers count too.
    with pytest.raises(InvalidValueError):
        check_value([[]], max_depth=1)


def test_wire_nesting_limit_counts_like_check_value() -> None:
    """``from_wire(..., max_depth=n)`` accepts exactly what ``check_value(max_depth=n)`` does;
    ``$integer`` and the other special forms are scalars, not levels."""
    for levels in (1, 3, 16):
        assert from_wire(nested_lists(levels), max_depth=levels) == nested_lists(levels)
        assert from_wire(nested_objects(levels), max_depth=levels) == nested_objects(levels)
        with pytest.raises(InvalidValueError, match=f"nested deeper than {levels} levels"):
            from_wire(nested_lists(levels + 1), max_depth=levels)
        with pytest.raises(InvalidValueError, match=f"nested deeper than {levels} levels"):
            from_wire(nested_objects(levels + 1), max_depth=levels)
    special = [[{"$integer": base64.b64encode(struct.pack("<q", 5)).decode()}]]
    assert same_value(from_wire(special, max_depth=2), [[Int64(5)]])
    with pytest.raises(InvalidValueError, match=r"arguments: a\.b is nested deeper than 2 levels"):
        from_wire({"a": {"b": {}}}, max_depth=2, what="arguments")


@pytest.mark.parametrize("make", [nested_lists, nested_objects])
def test_no_depth_is_a_recursion_error(make: Any) -> None:
    """The contract the HTTP API and the sync protocol rely on: a value of any depth is an
    ``InvalidValueError`` naming the limit, from decoding and from both encoders."""
    deep = make(100_000)
    with pytest.raises(InvalidValueError, match="nested deeper than 64 levels"):
        from_wire(deep)
    with pytest.raises(InvalidValueError, match="nested deeper than 16 levels"):
        from_wire(deep, max_depth=16)
    with pytest.raises(InvalidValueError, match="nested deeper than 64 levels"):
        to_wire(deep)
    with pytest.raises(InvalidValueError, match="nested deeper than 64 levels"):
        to_clean_json(deep)
    with pytest.raises(InvalidValueError, match="nested deeper than 16 levels"):
        check_value(deep)
    # The ceiling itself round-trips.
    assert from_wire(to_wire(make(64))) == make(64)


def test_nesting_setting_is_bounded_by_the_wire_ceiling() -> None:
    from livebase.config import Limits

    assert Limits(max_nesting=64).max_nesting == 64
    for bad in (0, 65, 1000):
        with pytest.raises(ValueError, match="LIVEBASE_MAX_NESTING"):
            Limits(max_nesting=bad)


def test_int64_range() -> None:
    for n in [INT64_MIN, INT64_MAX, 0, -1]:
        check_value(Int64(n))
    for n in [INT64_MAX + 1, INT64_MIN - 1, 10**40]:
        with pytest.raises(InvalidValueError, match="int64"):
            Int64(n)
        with pytest.raises(InvalidValueError, match=r"v\.int64"):
            check_value(n)
    with pytest.raises(InvalidValueError, match=r"a\.b\[1\]"):
        check_value({"a": {"b": [0, 2**64]}})


def test_lone_surrogates_are_rejected() -> None:
    check_value("ok 😀 \x00")
    check_value("\U0010ffff")
    for s in ["\ud800", "a\udfffb", "\udc00\ud800"]:
        with pytest.raises(InvalidValueError, match="surrogate"):
            check_value(s)
        with pytest.raises(InvalidValueError):
            check_value({"a": [s]})


@pytest.mark.parametrize(
    "key", ["", "$a", "$", "a\n", "tab\t", "é", "\ud800", "x" * 1025, 1, None, b"k"]
)
def test_bad_field_names(key: Any) -> None:
    with pytest.raises(InvalidValueError):
        check_value({key: 1})
    with pytest.raises(InvalidValueError):
        check_value([{"ok": {key: 1}}])


@pytest.mark.parametrize("key", ["a", "a b", "a$", "_id", "~!@#%^&*()", "x" * 1024, " "])
def test_good_field_names(key: str) -> None:
    check_value({key: 1})


@pytest.mark.parametrize("x", [{1, 2}, (1, 2), object(), 1j, bytearray(b"x"), range(3)])
def test_non_values_are_rejected(x: Any) -> None:
    with pytest.raises(InvalidValueError):
        check_value(x)
    with pytest.raises(InvalidValueError):
        check_value({"a": [x]})


def test_type_names() -> None:
    assert type_name(None) == "null"
    assert type_name(True) == "boolean"
    assert type_name(False) == "boolean"
    assert type_name(Int64(1)) == "int64"
    assert type_name(1) == "float64"
    assert type_name(1.0) == "float64"
    assert type_name("s") == "string"
    assert type_name(b"b") == "bytes"
    assert type_name([]) == "array"
    assert type_name({}) == "object"
    assert "set" in type_name(set()) and "not a Convex value" in type_name(set())


def test_value_size() -> None:
    assert value_size(None) == 1
    assert value_size(True) == 1
    assert value_size(5) == 9
    assert value_size(1.0) == 9
    assert value_size("ab") == 4
    assert value_size("é") == 4  # UTF-8 bytes, not characters
    assert value_size(b"abc") == 5
    assert value_size([1, None]) == 12
    assert value_size({"ab": 1}) == 14
    assert value_size({"a": [{"b": "c"}]}) == 2 + (1 + 1) + (2 + (2 + 1 + 1 + 3))


@settings(max_examples=200)
@given(values, values)
def test_value_size_grows_with_content(x: Any, y: Any) -> None:
    assert value_size(x) >= 1
    assert value_size([x, y]) == 2 + value_size(x) + value_size(y)
    assert value_size({"k": x}) == 2 + 2 + value_size(x)
