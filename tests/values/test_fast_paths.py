"""The fast paths of ``from_wire``, ``check_value`` and ``to_wire`` (no paths built, known field
names remembered) agree with the full walks on any input: the same value, or the same error with
the same message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.errors import InvalidValueError
from livebase.values import Int64, check_value, from_wire, to_wire
from livebase.values.types import _check_value
from livebase.values.wire import _from_wire
from tests.values.test_wire import same_value

keys = st.one_of(
    st.sampled_from(["a", "body", "_id", "$integer", "$bytes", "$float", "", "$x", "tab\there"]),
    st.text(max_size=4),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "é", "AAAAAAAAAAA=", "AAAAAAAA"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
python_values = st.recursive(
    st.one_of(scalars, st.binary(max_size=4), st.builds(Int64, st.integers(-(2**63), 2**63 - 1))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(keys, st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=20,
)


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "value", fn(*args, **kwargs)
    except InvalidValueError as exc:
        return "error", str(exc)


@settings(max_examples=400)
@given(json_like, st.integers(1, 5))
def test_from_wire_fast_path_agrees_with_the_full_walk(data: Any, max_depth: int) -> None:
    fast = outcome(from_wire, data, max_depth=max_depth)
    full = outcome(_from_wire, data, "", max_depth, 0, "value")
    assert fast[0] == full[0], (fast, full)
    if fast[0] == "value":
        assert same_value(fast[1], full[1])
    else:
        assert fast[1] == full[1]


@settings(max_examples=400)
@given(python_values, st.integers(1, 5), st.booleans())
def test_check_value_fast_path_agrees_with_the_full_walk(
    value: Any, max_depth: int, big_ints: bool
) -> None:
    fast = outcome(check_value, value, max_depth=max_depth, big_ints=big_ints)
    full = outcome(_check_value, value, max_depth=max_depth, big_ints=big_ints)
    assert fast == full


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0.0, 0.0),
        (-0.0, {"$float": "AAAAAAAAAIA="}),
        (3, 3.0),
        (True, True),
        (Int64(3), {"$integer": "AwAAAAAAAAA="}),
        ({"a": [1, 2.5, None]}, {"a": [1.0, 2.5, None]}),
    ],
)
def test_to_wire_keeps_each_type(value: Any, wire: Any) -> None:
    assert same_value(to_wire(value), wire)


def test_an_invalid_name_is_refused_each_time() -> None:
    for _ in range(2):  # a bad name is never remembered as good
        with pytest.raises(InvalidValueError, match="starts with"):
            check_value({"$bad": 1})
        with pytest.raises(InvalidValueError, match="starts with"):
            from_wire({"$bad": 1.0, "b": 2.0})
