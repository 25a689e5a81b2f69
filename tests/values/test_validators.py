"""Validators (v.*) and their derivation from type hints."""

from __future__ import annotations

import struct
import typing
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.errors import BadRequestError, InvalidValueError, ValidationError
from livebase.values import Int64, make_id
from livebase.values.validators import Validator, from_type_hint, v

USERS = 10001
POSTS = 7
USER_ID = make_id(USERS, lambda n: b"\x11" * n)
POST_ID = make_id(POSTS, lambda n: b"\x22" * n)
TABLES = {USERS: "users", POSTS: "posts"}


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def fails(validator: Validator, value: Any, path: str = "") -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validator.validate(value, path)
    return info.value


# --------------------------------------------------------------------------- scalars


@pytest.mark.parametrize("value", ["", "hello", "é😀", "\x00"])
def test_string_accepts(value: str) -> None:
    assert v.string().validate(value) == value


@pytest.mark.parametrize("value", [None, 1, 1.0, True, b"s", ["s"], {"s": "s"}])
def test_string_rejects(value: Any) -> None:
    err = fails(v.string(), value)
    assert "expected string" in err.message
    assert err.code == "ValidationError"
    assert isinstance(err, BadRequestError)


def test_string_with_lone_surrogate_is_not_a_value() -> None:
    with pytest.raises(InvalidValueError, match="surrogate"):
        v.string().validate("a\ud800")


def test_number_takes_ints_as_float64_numbers() -> None:
    for n in [0, 1, -5, 2**53, -(2**53)]:
        out = v.number().validate(n)
        assert type(out) is int and out == n
        assert type(v.number().validate(Int64(n))) is int  # exactly representable: a number
    assert type(v.number().validate(0.0)) is int  # a whole float64 reads as an int
    for x in [1.5, float("inf"), -1e300]:
        out = v.number().validate(x)
        assert type(out) is float and out == x
    assert bits(v.number().validate(-0.0)) == bits(-0.0)
    nan = v.number().validate(float("nan"))
    assert nan != nan


def test_number_refuses_ints_it_cannot_store_exactly() -> None:
    for n in [2**53 + 1, -(2**53) - 1, 2**63 - 1]:
        err = fails(v.number(), n, "price")
        assert err.path == "price"
        assert "price" in err.message and "float64" in err.message


@pytest.mark.parametrize("value", [True, False, "1", None, b"1", [1.0], {"a": 1.0}])
def test_number_rejects(value: Any) -> None:
    err = fails(v.number(), value)
    assert "expected float64" in err.message


def test_float64_is_an_alias_of_number() -> None:
    assert v.float64() == v.number()
    assert type(v.float64().validate(2.5)) is float


@settings(max_examples=200)
@given(st.integers(-(2**53), 2**53))
def test_number_int_conversion_is_exact(n: int) -> None:
    out = v.number().validate(n)
    assert type(out) is int and out == n and float(out) == n


def test_int64_takes_whole_numbers_and_makes_them_int64() -> None:
    """What ``v.int64()`` declares: a Python ``5`` (or a JavaScript ``5``) given to it is
    stored and sent as an int64 (a ``bigint`` in JavaScript)."""
    for n in [0, -1, 2**63 - 1, -(2**63)]:
        out = v.int64().validate(n)
        assert type(out) is Int64 and out == n
    assert type(v.int64().validate(3.0)) is Int64


def test_int64_rejects_fractions() -> None:
    err = fails(v.int64(), 3.5, "count")
    assert err.message.startswith("count: expected int64, got float64")
    assert err.path == "count"


@pytest.mark.parametrize("value", [True, False, "3", None, b"3", [3]])
def test_int64_rejects(value: Any) -> None:
    err = fails(v.int64(), value)
    assert "expected int64" in err.message


def test_int64_rejects_out_of_range() -> None:
    for n in [2**63, -(2**63) - 1]:
        with pytest.raises(BadRequestError, match="int64"):
            v.int64().validate(n)


def test_boolean() -> None:
    assert v.boolean().validate(True) is True
    assert v.boolean().validate(False) is False
    for bad in [0, 1, 1.0, "true", None]:
        assert "expected boolean" in fails(v.boolean(), bad).message


def test_null() -> None:
    assert v.null().validate(None) is None
    for bad in [0, 0.0, "", False, [], {}]:
        assert "expected null" in fails(v.null(), bad).message


def test_bytes() -> None:
    assert v.bytes().validate(b"") == b""
    assert v.bytes().validate(b"\x00\xff") == b"\x00\xff"
    for bad in ["ab", bytearray(b"ab"), [1], None]:
        assert "expected bytes" in fails(v.bytes(), bad).message


def test_any_accepts_every_value() -> None:
    for value in [None, True, 1, 1.5, "s", b"b", [1, [2]], {"a": {"b": None}}]:
        assert v.any().validate(value) == value
    # v.any() does not normalise: an int stays an int.
    assert type(v.any().validate(3)) is int


@pytest.mark.parametrize("value", [{1, 2}, (1,), object(), {"$a": 1}, [2**64], "\udc00"])
def test_any_rejects_non_values(value: Any) -> None:
    with pytest.raises(InvalidValueError):
        v.any().validate(value)


# --------------------------------------------------------------------------- ids


def test_id_accepts_well_formed_ids() -> None:
    assert v.id("users").validate(USER_ID) == USER_ID
    # Without a table lookup the table cannot be checked, only the id's form.
    assert v.id("users").validate(POST_ID) == POST_ID


def test_id_checks_the_table_when_it_can() -> None:
    assert v.id("users").validate(USER_ID, "author", TABLES.get) == USER_ID
    with pytest.raises(ValidationError) as info:
        v.id("users").validate(POST_ID, "author", TABLES.get)
    assert info.value.path == "author"
    assert "'users'" in info.value.message and "'posts'" in info.value.message
    # An id whose table does not exist cannot name a users document.
    with pytest.raises(ValidationError, match="does not exist"):
        v.id("users").validate(USER_ID, "", lambda n: None)
    # Without a table lookup only the id's format is checked.
    assert v.id("users").validate(USER_ID, "") == USER_ID


@pytest.mark.parametrize("bad", ["abc", "", USER_ID[:-1], USER_ID.upper(), USER_ID + "0"])
def test_id_rejects_malformed_strings(bad: str) -> None:
    err = fails(v.id("users"), bad, "author")
    assert err.message.startswith("author:")
    assert "users" in err.message


@pytest.mark.parametrize("bad", [None, 5, b"x", [USER_ID]])
def test_id_rejects_non_strings(bad: Any) -> None:
    err = fails(v.id("users"), bad)
    assert 'expected id("users")' in err.message


# --------------------------------------------------------------------------- containers


def test_array() -> None:
    assert v.array(v.number()).validate([1, 2.5]) == [1.0, 2.5]
    assert all(type(x) is int for x in v.array(v.number()).validate([1, 2.0 + 0]))
    assert v.array(v.string()).validate([]) == []
    err = fails(v.array(v.string()), ["a", 2, "c"], "tags")
    assert err.path == "tags[1]"
    assert err.message.startswith("tags[1]: expected string, got float64")
    assert "expected array" in fails(v.array(v.string()), "abc").message
    assert "expected array" in fails(v.array(v.string()), ("a",)).message


def test_nested_arrays_report_full_path() -> None:
    err = fails(v.array(v.array(v.int64())), [[1], [2, "x"]], "m")
    assert err.path == "m[1][1]"


AUTHOR = v.object({"name": v.string(), "age": v.optional(v.number())})
POST = v.object(
    {
        "title": v.string(),
        "author": AUTHOR,
        "tags": v.array(v.string()),
        "draft": v.optional(v.boolean()),
    }
)


def test_object_accepts_and_normalises() -> None:
    doc = {"title": "t", "author": {"name": "ann", "age": 30}, "tags": ["a"]}
    out = POST.validate(doc)
    assert out == {"title": "t", "author": {"name": "ann", "age": 30}, "tags": ["a"]}
    assert "draft" not in out  # a missing optional field stays missing
    assert out is not doc and out["author"] is not doc["author"]  # the input is not mutated


def test_object_nested_path_in_error() -> None:
    err = fails(POST, {"title": "t", "author": {"name": 5}, "tags": []})
    assert err.path == "author.name"
    assert err.message.startswith("author.name: expected string, got float64 5")


def test_object_nested_path_with_prefix() -> None:
    err = fails(POST, {"title": "t", "author": {"name": "a"}, "tags": ["x", None]}, "args")
    assert err.path == "args.tags[1]"
    assert "args.tags[1]" in err.message
    assert "expected string" in err.message


def test_object_missing_required_field() -> None:
    err = fails(POST, {"title": "t", "tags": []})
    assert err.path == "author"
    assert "missing required field" in err.message
    err = fails(POST, {"title": "t", "author": {}, "tags": []})
    assert err.path == "author.name"
    assert "missing required field" in err.message and "string" in err.message


def test_object_rejects_extra_fields() -> None:
    err = fails(AUTHOR, {"name": "a", "extra": 1})
    assert err.path == "extra"
    assert "unexpected field 'extra'" in err.message
    err = fails(POST, {"title": "t", "author": {"name": "a", "nick": "b"}, "tags": []})
    assert err.path == "author.nick"
    err = fails(v.object({}), {"a": 1})
    assert "none" in err.message
    assert v.object({}).validate({}) == {}


def test_object_optional_fields() -> None:
    assert AUTHOR.validate({"name": "a"}) == {"name": "a"}
    assert AUTHOR.validate({"name": "a", "age": 2.5}) == {"name": "a", "age": 2.5}
    # Optional means "may be absent", not "may be null".
    err = fails(AUTHOR, {"name": "a", "age": None})
    assert err.path == "age"
    assert "expected float64" in err.message
    assert "expected float64" in fails(AUTHOR, {"name": "a", "age": "old"}).message


def test_object_rejects_non_objects() -> None:
    for bad in [None, [], "x", 1]:
        assert "expected object" in fails(AUTHOR, bad).message


def test_record() -> None:
    scores = v.record(v.string(), v.number())
    out = scores.validate({"alice": 1, "bob": 2.5})
    assert out == {"alice": 1, "bob": 2.5}
    assert scores.validate({}) == {}
    err = fails(scores, {"alice": "x"}, "scores")
    assert err.path == "scores.alice"
    assert err.message.startswith("scores.alice: expected float64")
    assert "expected record" in fails(scores, [1.0]).message


def test_record_keys_are_validated() -> None:
    by_id = v.record(v.id("users"), v.boolean())
    assert by_id.validate({USER_ID: True}) == {USER_ID: True}
    err = fails(by_id, {"nope": True})
    assert err.path == "nope"
    with pytest.raises(InvalidValueError):
        v.record(v.string(), v.any()).validate({"$bad": 1})
    with pytest.raises(BadRequestError):
        v.record(v.string(), v.any()).validate({1: 1})


def test_nested_record_in_object_path() -> None:
    schema = v.object({"meta": v.record(v.string(), v.array(v.int64()))})
    assert schema.validate({"meta": {"k": [1, 2.0]}}) == {"meta": {"k": [1, 2]}}
    err = fails(schema, {"meta": {"k": [1, 2.5]}})
    assert err.path == "meta.k[1]"
    assert "expected int64" in err.message


def test_optional_outside_an_object_validates_its_inner_type() -> None:
    opt = v.optional(v.string())
    assert opt.optional is True
    assert v.string().optional is False
    assert opt.validate("x") == "x"
    assert "expected string" in fails(opt, 1).message


# --------------------------------------------------------------------------- unions and literals


def test_union_tries_members_in_order() -> None:
    u = v.union(v.string(), v.int64())
    assert u.validate("a") == "a"
    assert u.validate(3) == 3 and type(u.validate(3)) is Int64
    err = fails(u, 1.5, "x")
    assert err.path == "x"
    assert "string | int64" in err.message
    assert type(v.union(v.int64(), v.number()).validate(3)) is Int64
    assert type(v.union(v.number(), v.int64()).validate(3)) is int
    # An explicit Int64 matches the int64 member wherever it stands.
    assert type(v.union(v.number(), v.int64()).validate(Int64(3))) is Int64


def test_union_of_objects() -> None:
    shape = v.union(
        v.object({"kind": v.literal("circle"), "r": v.number()}),
        v.object({"kind": v.literal("square"), "side": v.number()}),
    )
    assert shape.validate({"kind": "circle", "r": 1}) == {"kind": "circle", "r": 1.0}
    assert shape.validate({"kind": "square", "side": 2.0}) == {"kind": "square", "side": 2.0}
    fails(shape, {"kind": "circle", "side": 1.0})
    fails(shape, {"kind": "triangle"})


def test_union_needs_a_member() -> None:
    with pytest.raises(TypeError):
        v.union()


def test_union_inside_object_reports_field_path() -> None:
    err = fails(v.object({"a": v.object({"b": v.union(v.null(), v.string())})}), {"a": {"b": 1}})
    assert err.path == "a.b"
    assert err.message.startswith("a.b: expected null | string")


def test_literals() -> None:
    assert v.literal("a").validate("a") == "a"
    assert "literal('a')" in fails(v.literal("a"), "b").message
    assert v.literal(1).validate(1) == 1
    assert v.literal(1).validate(1.0) == 1  # 1 and 1.0 are the same float64 number
    fails(v.literal(1), Int64(1))  # an int64 is a different value
    assert type(v.literal(Int64(1)).validate(1)) is Int64
    fails(v.literal(1), True)
    fails(v.literal(True), 1)
    assert v.literal(True).validate(True) is True
    fails(v.literal(False), None)
    assert v.literal(2.0).validate(2) == 2.0
    assert v.literal(2.0).validate(2.0) == 2.0
    fails(v.literal(2.0), 3)


@pytest.mark.parametrize("bad", [None, [1], {"a": 1}, b"x", 2**64, {1}])
def test_literal_only_takes_scalars(bad: Any) -> None:
    with pytest.raises((TypeError, InvalidValueError)):
        v.literal(bad)


def test_nullable() -> None:
    n = v.nullable(v.string())
    assert n.validate(None) is None
    assert n.validate("x") == "x"
    assert "expected string | null" in fails(n, 1).message
    assert n == v.union(v.string(), v.null())


# --------------------------------------------------------------------------- validator objects


def test_validator_equality_and_hash() -> None:
    assert v.string() == v.string()
    assert v.string() != v.number()
    assert v.id("users") == v.id("users")
    assert v.id("users") != v.id("posts")
    assert v.object({"a": v.string()}) != v.object({"a": v.optional(v.string())})
    assert len({v.string(), v.string(), v.int64()}) == 2


def test_to_json() -> None:
    assert v.string().to_json() == {"type": "string"}
    assert v.number().to_json() == {"type": "float64"}
    assert v.int64().to_json() == {"type": "int64"}
    assert v.id("users").to_json() == {"type": "id", "tableName": "users"}
    assert v.array(v.null()).to_json() == {"type": "array", "value": {"type": "null"}}
    assert v.object({"a": v.optional(v.boolean())}).to_json() == {
        "type": "object",
        "value": {
            "a": {"fieldType": {"type": "optional", "value": {"type": "boolean"}}, "optional": True}
        },
    }


INT = from_type_hint(int)
"""The hint ``int``: a whole float64 number (a JavaScript ``number``), not an int64."""


def test_the_int_hint_is_a_whole_number() -> None:
    assert INT.kind == "float64" and INT != v.number() and INT != v.int64()
    for sent, back in [(20, 20), (20.0, 20), (-(2**53), -(2**53)), (Int64(7), 7)]:
        out = INT.validate(sent)
        assert type(out) is int and out == back
    assert "expected integer" in fails(INT, 2.5, "n").message
    assert "expected integer" in fails(INT, "20", "n").message
    assert "2**53" in fails(INT, 2**60, "n").message
    assert from_type_hint(Int64) == v.int64()


def test_containers_accept_type_hints() -> None:
    assert v.array(str) == v.array(v.string())  # type: ignore[arg-type]
    assert v.object({"n": int}) == v.object({"n": INT})  # type: ignore[dict-item]


# --------------------------------------------------------------------------- from_type_hint


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, v.string()),
        (int, INT),
        (float, v.number()),
        (bool, v.boolean()),
        (bytes, v.bytes()),
        (None, v.null()),
        (type(None), v.null()),
        (Any, v.any()),
        (object, v.any()),
        (list, v.array(v.any())),
        (list[int], v.array(INT)),
        (typing.List[str], v.array(v.string())),  # noqa: UP006
        (list[list[float]], v.array(v.array(v.number()))),
        (dict, v.record(v.string(), v.any())),
        (dict[str, float], v.record(v.string(), v.number())),
        (typing.Dict[str, bool], v.record(v.string(), v.boolean())),  # noqa: UP006
        (int | None, v.union(INT, v.null())),
        (Optional[str], v.union(v.string(), v.null())),  # noqa: UP045
        (Union[int, str], v.union(INT, v.string())),  # noqa: UP007
        (str | int | None, v.union(v.string(), INT, v.null())),
        (Literal["a"], v.literal("a")),
        (Literal["a", "b"], v.union(v.literal("a"), v.literal("b"))),
        (Literal[1, True], v.union(v.literal(1), v.literal(True))),
        (Annotated[str, v.id("users")], v.id("users")),
        (Annotated[int, "just a doc string"], INT),
        (list[Annotated[str, v.id("posts")]], v.array(v.id("posts"))),
    ],
)
def test_from_type_hint(hint: Any, expected: Validator) -> None:
    assert from_type_hint(hint) == expected


def test_from_type_hint_validates() -> None:
    opt = from_type_hint(int | None)
    assert opt.validate(None) is None
    assert opt.validate(3) == 3
    assert "expected integer | null" in fails(opt, "x").message
    lit = from_type_hint(Literal["on", "off"])
    assert lit.validate("on") == "on"
    fails(lit, "maybe")
    floats = from_type_hint(dict[str, float])
    assert floats.validate({"a": 1}) == {"a": 1.0}


def test_validator_passes_through() -> None:
    s = v.string()
    assert from_type_hint(s) is s


class Author(TypedDict):
    name: str
    age: NotRequired[int]


class Post(TypedDict, total=False):
    title: Required[str]
    author: Author
    tags: list[str]
    owner: Annotated[str, v.id("users")]


def test_typeddict() -> None:
    assert from_type_hint(Author) == v.object({"name": v.string(), "age": v.optional(INT)})
    post = from_type_hint(Post)
    assert post == v.object(
        {
            "title": v.string(),
            "author": v.optional(v.object({"name": v.string(), "age": v.optional(INT)})),
            "tags": v.optional(v.array(v.string())),
            "owner": v.optional(v.id("users")),
        }
    )
    assert post.validate({"title": "t"}) == {"title": "t"}
    assert post.validate({"title": "t", "author": {"name": "a", "age": 3}, "owner": USER_ID}) == {
        "title": "t",
        "author": {"name": "a", "age": 3},
        "owner": USER_ID,
    }
    assert fails(post, {"author": {"name": "a"}}).path == "title"
    assert fails(post, {"title": "t", "author": {"name": 1}}).path == "author.name"
    assert fails(post, {"title": "t", "author": {"name": "a", "age": 1.5}}).path == "author.age"
    assert fails(post, {"title": "t", "extra": 1}).path == "extra"


# The functional syntax evaluates its field types eagerly, unlike the class syntax under
# ``from __future__ import annotations`` above, so both code paths are covered.
Point = TypedDict("Point", {"x": float, "y": float, "label": NotRequired[str]})  # noqa: UP013
Flags = TypedDict("Flags", {"on": Required[bool], "note": str}, total=False)  # noqa: UP013


def test_typeddict_functional_syntax() -> None:
    assert from_type_hint(Point) == v.object(
        {"x": v.number(), "y": v.number(), "label": v.optional(v.string())}
    )
    assert from_type_hint(Point).validate({"x": 1, "y": 2.5}) == {"x": 1.0, "y": 2.5}
    assert from_type_hint(Flags) == v.object({"on": v.boolean(), "note": v.optional(v.string())})
    assert fails(from_type_hint(Flags), {"note": "n"}).path == "on"


class Unknown:
    pass


@pytest.mark.parametrize("hint", [set[int], tuple[int, str], complex, Unknown, frozenset, "str"])
def test_unknown_hints_are_errors(hint: Any) -> None:
    with pytest.raises(TypeError, match="cannot derive a validator"):
        from_type_hint(hint)
