"""The function decorators: validators from type hints or ``args=``, defaults, extras, def/async."""

from __future__ import annotations

from typing import Any

import pytest

from livebase import action, mutation, query, v
from livebase.errors import ValidationError
from livebase.functions.registry import FunctionDef

from .conftest import Harness, run

TYPED = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {"items": define_table({"name": v.string()}), "other": define_table()}
        )
    """,
    "items.py": """
        from livebase import mutation


        @mutation
        def add(ctx, table: str) -> str:
            return ctx.db.insert(table, {"name": "x"} if table == "items" else {})
    """,
    "typed.py": """
        from typing import Annotated, Literal, TypedDict

        from livebase import query, v


        class Point(TypedDict):
            x: float
            y: float


        @query
        def hints(
            ctx,
            s: str,
            i: int,
            f: float,
            b: bool,
            raw: bytes,
            tags: list[str],
            counts: dict[str, int],
            mode: Literal["fast", "slow"],
            point: Point,
            ref: Annotated[str, v.id("items")],
            maybe: str | None = None,
        ) -> dict:
            return {
                "s": s, "i": i, "f": f, "b": b, "raw": raw, "tags": tags, "counts": counts,
                "mode": mode, "point": point, "ref": ref, "maybe": maybe,
            }


        @query
        def with_default(ctx, name: str, greeting: str = "hello") -> str:
            return f"{greeting} {name}"


        @query
        def extras(ctx, a: str, **rest) -> dict:
            return {"a": a, "rest": rest}
    """,
    "explicit.py": """
        from livebase import mutation, v


        @mutation(args={"name": v.string(), "n": v.optional(v.int64())})
        def make(ctx, name, n=7):
            return {"name": name, "n": n}
    """,
    "kinds.py": """
        import asyncio

        from livebase import action, mutation, query


        async def helper(x):
            return x * 2


        @query
        def q_sync(ctx, x: float) -> float:
            return x + 1


        @query
        async def q_async(ctx, x: float) -> float:
            return await helper(x)


        @mutation
        def m_sync(ctx, x: float) -> str:
            return ctx.db.insert("kinds", {"x": x, "how": "sync"})


        @mutation
        async def m_async(ctx, x: float) -> str:
            y = await helper(x)
            await asyncio.sleep(0)
            return ctx.db.insert("kinds", {"x": y, "how": "async"})


        @query
        def kinds_count(ctx) -> int:
            return len(ctx.db.query("kinds").collect())


        @mutation
        async def m_io(ctx) -> str:
            ctx.db.insert("kinds", {"x": -1.0, "how": "io"})
            await asyncio.sleep(0.01)
            return "unreachable"


        @query
        async def q_io(ctx) -> str:
            await asyncio.sleep(0.01)
            return "unreachable"


        @action
        def a_sync(ctx, x: float) -> float:
            return ctx.run_query("kinds:q_sync", {"x": x})


        @action
        async def a_async(ctx, x: float) -> float:
            await asyncio.sleep(0.001)
            return await ctx.run_query("kinds:q_async", {"x": x})
    """,
}


@pytest.fixture
def typed(harness: Any) -> Harness:
    return harness(TYPED)


def _good_args(h: Harness) -> dict[str, Any]:
    ref = h.value(h.mutation("items:add", {"table": "items"}))
    return {
        "s": "text",
        "i": 5,
        "f": 1.5,
        "b": True,
        "raw": b"\x00\x01",
        "tags": ["a", "b"],
        "counts": {"a": 1, "b": 2},
        "mode": "fast",
        "point": {"x": 1.0, "y": 2.0},
        "ref": ref,
    }


def _assert_arg_error(h: Harness, path: str, args: dict[str, Any], arg: str) -> None:
    result = h.query(path, args)
    assert result.error is not None, f"{arg}: expected a rejection, got {result.value!r}"
    assert isinstance(result.error, ValidationError), repr(result.error)
    assert result.error.code == "ArgumentValidationError"
    assert result.rejected
    assert arg in str(result.error) or arg in result.error.path, (arg, str(result.error))


def test_type_hints_accept_matching_values(typed: Harness) -> None:
    args = _good_args(typed)
    value = typed.value(typed.query("typed:hints", args))
    assert value == {**args, "maybe": None}
    assert type(value["i"]) is int
    assert type(value["f"]) is float


@pytest.mark.parametrize(
    ("arg", "bad"),
    [
        ("s", 5),
        ("i", "5"),
        ("i", 1.5),
        ("f", "1.5"),
        ("b", 1.0),
        ("raw", "bytes?"),
        ("tags", ["a", 1.0]),
        ("tags", "a"),
        ("counts", {"a": "one"}),
        ("counts", ["a"]),
        ("mode", "medium"),
        ("point", {"x": 1.0}),
        ("point", {"x": 1.0, "y": "2"}),
        ("ref", "not-an-id"),
        ("maybe", 3.0),
    ],
)
def test_type_hints_reject_wrong_types_naming_the_argument(
    typed: Harness, arg: str, bad: Any
) -> None:
    args = _good_args(typed)
    args[arg] = bad
    _assert_arg_error(typed, "typed:hints", args, arg)


def test_id_hint_rejects_an_id_of_another_table(typed: Harness) -> None:
    args = _good_args(typed)
    args["ref"] = typed.value(typed.mutation("items:add", {"table": "other"}))
    _assert_arg_error(typed, "typed:hints", args, "ref")


def test_missing_required_argument_is_rejected(typed: Harness) -> None:
    args = _good_args(typed)
    del args["i"]
    _assert_arg_error(typed, "typed:hints", args, "i")


def test_optional_hint_accepts_none_and_value(typed: Harness) -> None:
    args = _good_args(typed)
    assert typed.value(typed.query("typed:hints", {**args, "maybe": None}))["maybe"] is None
    assert typed.value(typed.query("typed:hints", {**args, "maybe": "m"}))["maybe"] == "m"


def test_defaults_make_arguments_optional(typed: Harness) -> None:
    assert typed.value(typed.query("typed:with_default", {"name": "ann"})) == "hello ann"
    assert typed.value(typed.query("typed:with_default", {"name": "ann", "greeting": "hi"})) == (
        "hi ann"
    )


def test_extra_arguments_are_rejected(typed: Harness) -> None:
    _assert_arg_error(typed, "typed:with_default", {"name": "ann", "surprise": 1.0}, "surprise")


def test_var_keyword_accepts_extra_arguments(typed: Harness) -> None:
    value = typed.value(typed.query("typed:extras", {"a": "x", "b": 2.0, "c": [1.0]}))
    assert value == {"a": "x", "rest": {"b": 2.0, "c": [1.0]}}
    # Declared arguments are still validated.
    _assert_arg_error(typed, "typed:extras", {"a": 1.0}, "a")


def test_explicit_args_validators(typed: Harness) -> None:
    h = typed
    assert h.value(h.mutation("explicit:make", {"name": "n"})) == {"name": "n", "n": 7}
    assert h.value(h.mutation("explicit:make", {"name": "n", "n": 3})) == {"name": "n", "n": 3}
    for bad, arg in (
        ({"name": 1.0}, "name"),
        ({"name": "n", "n": 1.5}, "n"),
        ({"name": "n", "extra": True}, "extra"),
        ({}, "name"),
    ):
        result = h.mutation("explicit:make", bad)
        assert isinstance(result.error, ValidationError), (bad, result)
        assert result.error.code == "ArgumentValidationError"
        assert arg in str(result.error) or arg in result.error.path


def test_args_must_be_an_object(typed: Harness) -> None:
    result = typed.query("typed:with_default", ["ann"])
    assert isinstance(result.error, ValidationError)
    assert result.error.code == "ArgumentValidationError"


def test_decorated_functions_remain_callable() -> None:
    @query
    def add(ctx: Any, a: int, b: int) -> int:
        return a + b

    @mutation(args={"x": v.string()})
    def shout(ctx: Any, x: str) -> str:
        return x.upper()

    @action
    async def later(ctx: Any) -> str:
        return "done"

    assert isinstance(add, FunctionDef)
    assert add(None, a=1, b=2) == 3
    assert add(None, 4, 5) == 9
    assert shout(None, x="hi") == "HI"
    assert add.kind == "query" and shout.kind == "mutation" and later.kind == "action"
    assert later.is_async and not add.is_async


def test_decorating_twice_is_an_error() -> None:
    def f(ctx: Any) -> None:
        return None

    with pytest.raises(TypeError, match="twice"):
        query(query(f))
    with pytest.raises(TypeError, match="twice"):
        mutation(args={})(query(f))
    with pytest.raises(TypeError, match="twice"):
        action(mutation(f))


class Custom:
    pass


def test_unsupported_type_hint_is_an_error() -> None:
    def f(ctx: Any, thing: Custom) -> None:
        return None

    with pytest.raises(TypeError, match="thing"):
        query(f)


def test_def_and_async_def_for_every_kind(harness: Any) -> None:
    h = harness(TYPED)
    assert h.value(h.query("kinds:q_sync", {"x": 1.0})) == 2.0
    assert h.value(h.query("kinds:q_async", {"x": 1.0})) == 2.0
    h.value(h.mutation("kinds:m_sync", {"x": 1.0}))
    h.value(h.mutation("kinds:m_async", {"x": 1.0}))
    assert h.value(h.query("kinds:kinds_count")) == 2
    assert h.value(h.action("kinds:a_sync", {"x": 3.0})) == 4.0
    assert h.value(h.action("kinds:a_async", {"x": 3.0})) == 6.0
    for path in ("kinds:q_sync", "kinds:q_async", "kinds:m_async", "kinds:a_async"):
        fd = h.app.functions[path]
        assert fd.is_async == path.endswith("async")


def test_async_mutation_awaiting_io_fails_and_writes_nothing(harness: Any) -> None:
    h = harness(TYPED)
    result = h.mutation("kinds:m_io")
    assert result.error is not None
    assert getattr(result.error, "code", None) == "NonDeterministicAwait", repr(result.error)
    assert h.value(h.query("kinds:kinds_count")) == 0
    # The engine keeps working afterwards.
    h.value(h.mutation("kinds:m_sync", {"x": 1.0}))
    assert h.value(h.query("kinds:kinds_count")) == 1


def test_async_query_awaiting_io_fails(harness: Any) -> None:
    """Inside a running event loop (as in the server), awaiting real I/O in a query is refused."""
    h = harness(TYPED)

    async def call() -> Any:
        return h.runner.run_query("kinds:q_io", {})

    result = run(call())
    assert getattr(result.error, "code", None) == "NonDeterministicAwait", repr(result.error)
