"""Queries: index ranges, order, filter, take/first/unique, iteration and cross-type order."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import pytest

from livebase import Int64, define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.errors import InvalidQueryError
from livebase.values.ordering import MISSING, compare_values

from .conftest import EngineFactory, mutate, read

SCHEMA = define_schema(
    {
        "msgs": define_table({"channel": v.string(), "n": v.int64()}).index(
            "by_channel_n", ["channel", "n"]
        ),
        "mixed": define_table().index("by_x", ["x"]),
    }
)
CHANNELS = ("a", "b", "c")


@pytest.fixture
def msgs(make_engine: EngineFactory) -> Engine:
    engine = make_engine(SCHEMA)

    def fill(tx: Transaction) -> None:
        # Inserted out of order so that index order, not insertion order, is what is checked.
        for n in (5, 2, 8, 0, 9, 3, 7, 1, 6, 4):
            for channel in ("b", "a", "c"):
                tx.insert("msgs", {"channel": channel, "n": n})

    mutate(engine, fill)
    return engine


def pairs(engine: Engine, build: Any, order: str = "asc") -> list[tuple[str, int]]:
    def body(tx: Transaction) -> list[tuple[str, int]]:
        q = tx.query("msgs").with_index("by_channel_n", build).order(order)
        return [(d["channel"], d["n"]) for d in q.collect()]

    return read(engine, body)


def expect(channels: tuple[str, ...], ns: range | list[int]) -> list[tuple[str, int]]:
    return [(c, n) for c in channels for n in ns]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda q: q.eq("channel", "a"), expect(("a",), range(10))),
        (lambda q: q.eq("channel", "b").eq("n", 4), [("b", 4)]),
        (lambda q: q.eq("channel", "a").gt("n", 6), expect(("a",), range(7, 10))),
        (lambda q: q.eq("channel", "a").gte("n", 6), expect(("a",), range(6, 10))),
        (lambda q: q.eq("channel", "a").lt("n", 3), expect(("a",), range(3))),
        (lambda q: q.eq("channel", "a").lte("n", 3), expect(("a",), range(4))),
        (lambda q: q.eq("channel", "c").gt("n", 2).lt("n", 6), expect(("c",), range(3, 6))),
        (lambda q: q.eq("channel", "c").gte("n", 2).lte("n", 6), expect(("c",), range(2, 7))),
        (lambda q: q.eq("channel", "c").gt("n", 4).lte("n", 4), []),
        (lambda q: q.eq("channel", "z"), []),
        (lambda q: q.gt("channel", "a"), expect(("b", "c"), range(10))),
        (lambda q: q.gte("channel", "b").lt("channel", "c"), expect(("b",), range(10))),
        (lambda q: q.lte("channel", "b"), expect(("a", "b"), range(10))),
        (None, expect(CHANNELS, range(10))),
    ],
)
def test_index_ranges_asc_and_desc(msgs: Engine, build: Any, expected: list[Any]) -> None:
    assert pairs(msgs, build, "asc") == expected
    assert pairs(msgs, build, "desc") == expected[::-1]


def test_ties_in_an_index_are_broken_by_creation_time(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    ids = [
        mutate(engine, lambda tx: tx.insert("msgs", {"channel": "a", "n": 1})).value
        for _ in range(4)
    ]
    got = read(
        engine,
        lambda tx: [
            d["_id"]
            for d in tx.query("msgs").with_index("by_channel_n", lambda q: q.eq("channel", "a"))
        ],
    )
    assert got == ids


def test_range_fields_out_of_order_name_the_expected_field(msgs: Engine) -> None:
    with pytest.raises(InvalidQueryError) as info:
        pairs(msgs, lambda q: q.eq("n", 3))
    assert "'channel'" in str(info.value)
    with pytest.raises(InvalidQueryError) as info:
        pairs(msgs, lambda q: q.gt("n", 3))
    assert "'channel'" in str(info.value)
    with pytest.raises(InvalidQueryError) as info:
        pairs(msgs, lambda q: q.gt("channel", "a").eq("n", 3))
    assert "channel" in str(info.value)
    with pytest.raises(InvalidQueryError) as info:
        pairs(msgs, lambda q: q.eq("channel", "a").eq("n", 3).eq("n", 4))
    assert "out of order" in str(info.value)
    with pytest.raises(InvalidQueryError):
        pairs(msgs, lambda q: q.eq("channel", "a").gt("n", 1).gt("n", 2))


def test_unknown_index_lists_the_available_ones(msgs: Engine) -> None:
    with pytest.raises(InvalidQueryError) as info:
        read(msgs, lambda tx: tx.query("msgs").with_index("by_nothing").collect())
    message = str(info.value)
    assert "by_nothing" in message
    for name in ("by_channel_n", "by_creation_time", "by_id"):
        assert name in message


def test_with_index_must_return_the_builder(msgs: Engine) -> None:
    with pytest.raises(InvalidQueryError):
        read(msgs, lambda tx: tx.query("msgs").with_index("by_channel_n", lambda q: None).collect())


def test_filter(msgs: Engine) -> None:
    def body(tx: Transaction) -> list[tuple[str, int]]:
        q = tx.query("msgs").with_index("by_channel_n", lambda q: q.eq("channel", "b"))
        q = q.filter(lambda d: d["n"] % 3 == 0)
        return [(d["channel"], d["n"]) for d in q.collect()]

    assert read(msgs, body) == [("b", 0), ("b", 3), ("b", 6), ("b", 9)]

    def two_filters(tx: Transaction) -> list[int]:
        q = tx.query("msgs").filter(lambda d: d["channel"] == "c").filter(lambda d: d["n"] > 7)
        return sorted(d["n"] for d in q.take(5))

    assert read(msgs, two_filters) == [8, 9]


def test_take_first_unique_and_iteration(msgs: Engine) -> None:
    def q(tx: Transaction, channel: str = "a") -> Any:
        return tx.query("msgs").with_index("by_channel_n", lambda r: r.eq("channel", channel))

    assert [d["n"] for d in read(msgs, lambda tx: q(tx).take(3))] == [0, 1, 2]
    assert [d["n"] for d in read(msgs, lambda tx: q(tx).order("desc").take(2))] == [9, 8]
    assert read(msgs, lambda tx: q(tx).take(0)) == []
    assert len(read(msgs, lambda tx: q(tx).take(100))) == 10
    with pytest.raises(InvalidQueryError):
        read(msgs, lambda tx: q(tx).take(-1))
    assert read(msgs, lambda tx: q(tx).first())["n"] == 0
    assert read(msgs, lambda tx: q(tx).order("desc").first())["n"] == 9
    assert read(msgs, lambda tx: q(tx, "zzz").first()) is None

    one = read(
        msgs,
        lambda tx: (
            tx.query("msgs")
            .with_index("by_channel_n", lambda r: r.eq("channel", "b").eq("n", 7))
            .unique()
        ),
    )
    assert (one["channel"], one["n"]) == ("b", 7)
    assert read(msgs, lambda tx: q(tx, "zzz").unique()) is None
    with pytest.raises(InvalidQueryError) as info:
        read(
            msgs,
            lambda tx: (
                tx.query("msgs")
                .with_index("by_channel_n", lambda r: r.eq("channel", "b").lt("n", 2))
                .unique()
            ),
        )
    assert "more than one" in str(info.value)

    def iterate(tx: Transaction) -> list[int]:
        out = []
        for doc in q(tx, "c").order("desc"):
            out.append(doc["n"])
        return out

    assert read(msgs, iterate) == list(range(9, -1, -1))


def test_order_rejects_bad_direction(msgs: Engine) -> None:
    with pytest.raises(InvalidQueryError):
        read(msgs, lambda tx: tx.query("msgs").order("up"))


def test_default_order_is_creation_time(make_engine: EngineFactory) -> None:
    engine = make_engine()
    ids = [mutate(engine, lambda tx, i=i: tx.insert("t", {"i": 9 - i})).value for i in range(6)]
    assert [d["_id"] for d in read(engine, lambda tx: tx.query("t").collect())] == ids
    assert [
        d["_id"] for d in read(engine, lambda tx: tx.query("t").order("desc").collect())
    ] == ids[::-1]


def test_query_of_a_missing_table_is_empty(engine: Engine) -> None:
    assert read(engine, lambda tx: tx.query("nope").collect()) == []
    assert read(engine, lambda tx: tx.query("nope").first()) is None
    _, tx = engine.read(lambda tx: tx.query("nope").collect())
    assert "nope" in tx.read_set.tables_absent


def test_cross_type_order_in_an_index(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    # missing < null < int64 < float64 < boolean < string < bytes < array < object
    ordered: list[Any] = [
        "<missing>",
        None,
        Int64(-5),
        Int64(3),
        Int64(2**40),
        float("-inf"),
        -1.5,
        0,
        2.5,
        3,
        False,
        True,
        "",
        "A",
        "a",
        "b",
        b"",
        b"\x00",
        [],
        [1],
        {},
        {"a": 1},
    ]

    def fill(tx: Transaction) -> None:
        for value in reversed(ordered):
            tx.insert("mixed", {} if value == "<missing>" else {"x": value, "tag": repr(value)})

    mutate(engine, fill)

    def tags(order: str) -> list[str]:
        docs = read(engine, lambda tx: tx.query("mixed").with_index("by_x").order(order).collect())
        return [d.get("tag", "<missing>") for d in docs]

    expected = ["<missing>"] + [repr(x) for x in ordered[1:]]
    assert tags("asc") == expected
    assert tags("desc") == expected[::-1]

    def numbers(build: Any) -> list[Any]:
        docs = read(engine, lambda tx: tx.query("mixed").with_index("by_x", build).collect())
        return [d["x"] for d in docs]

    # Ranges stay within the order: gt(int 0) includes every float and everything after.
    assert numbers(lambda q: q.gte("x", Int64(-5)).lte("x", Int64(2**40))) == [-5, 3, 2**40]
    assert numbers(lambda q: q.gte("x", -2).lte("x", 3)) == [-1.5, 0, 2.5, 3]  # numbers only
    assert numbers(lambda q: q.gt("x", 0.0).lt("x", True)) == [2.5, 3, False]
    assert numbers(lambda q: q.eq("x", None)) == [None]


def test_missing_field_sorts_first_and_matches_no_value(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    mutate(engine, lambda tx: [tx.insert("mixed", d) for d in ({"x": None}, {}, {"x": 0})])
    docs = read(engine, lambda tx: tx.query("mixed").with_index("by_x").collect())
    assert [d.get("x", "<missing>") for d in docs] == ["<missing>", None, 0]
    assert (
        read(
            engine,
            lambda tx: tx.query("mixed").with_index("by_x", lambda q: q.eq("x", None)).collect(),
        )[0]["x"]
        is None
    )
    assert (
        len(
            read(
                engine,
                lambda tx: tx.query("mixed").with_index("by_x", lambda q: q.lt("x", 0)).collect(),
            )
        )
        == 2
    )


def test_index_on_a_nested_field_path(make_engine: EngineFactory) -> None:
    schema = define_schema({"people": define_table().index("by_age", ["profile.age"])})
    engine = make_engine(schema)
    mutate(
        engine,
        lambda tx: [
            tx.insert("people", d)
            for d in (
                {"profile": {"age": 30}, "n": "c"},
                {"profile": {"age": 10}, "n": "a"},
                {"profile": {}, "n": "none"},
                {"profile": {"age": 20}, "n": "b"},
            )
        ],
    )
    docs = read(engine, lambda tx: tx.query("people").with_index("by_age").collect())
    assert [d["n"] for d in docs] == ["none", "a", "b", "c"]
    older = read(
        engine,
        lambda tx: (
            tx.query("people").with_index("by_age", lambda q: q.gte("profile.age", 20)).collect()
        ),
    )
    assert [d["n"] for d in older] == ["b", "c"]


NO_EQ = object()


def range_builder(
    eq_value: Any, range_field: str, lower: tuple[str, Any] | None, upper: tuple[str, Any] | None
) -> Callable[[Any], Any]:
    def build(q: Any) -> Any:
        if eq_value is not NO_EQ:
            q = q.eq("a", eq_value)
        if lower is not None:
            q = getattr(q, lower[0])(range_field, lower[1])
        if upper is not None:
            q = getattr(q, upper[0])(range_field, upper[1])
        return q

    return build


def test_random_index_ranges_match_a_model(make_engine: EngineFactory) -> None:
    """Random eq/gt/gte/lt/lte ranges over mixed-type values agree with Convex's value order."""
    schema = define_schema({"r": define_table().index("by_ab", ["a", "b"])})
    engine = make_engine(schema)
    rng = random.Random(1234)
    a_values: list[Any] = [None, 1, 2, -3, 1.5, -0.5, True, False, "x", "y", b"z"]
    b_values: list[Any] = [None, 0, 1, 2, 10, -1, 0.5, 2.0, "a", "b", "", False, [1]]

    def fill(tx: Transaction) -> None:
        for i in range(300):
            doc: dict[str, Any] = {"i": i}
            if rng.random() > 0.05:
                doc["a"] = rng.choice(a_values)
            if rng.random() > 0.05:
                doc["b"] = rng.choice(b_values)
            tx.insert("r", doc)

    mutate(engine, fill)
    docs = read(engine, lambda tx: tx.query("r").collect())

    def field(doc: dict[str, Any], name: str) -> Any:
        return doc.get(name, MISSING)

    def cmp_docs(x: dict[str, Any], y: dict[str, Any]) -> int:
        for name in ("a", "b", "_creationTime"):
            c = compare_values(field(x, name), field(y, name))
            if c:
                return c
        return 0

    ordered = sorted(docs, key=functools.cmp_to_key(cmp_docs))

    def in_range(value: Any, lower: Any, upper: Any) -> bool:
        if lower is not None:
            c = compare_values(value, lower[1])
            if c < 0 or (c == 0 and lower[0] == "gt"):
                return False
        if upper is not None:
            c = compare_values(value, upper[1])
            if c > 0 or (c == 0 and upper[0] == "lt"):
                return False
        return True

    for _ in range(300):
        use_eq = rng.random() < 0.7
        eq_value = rng.choice(a_values)
        range_field = "b" if use_eq else "a"
        pool = b_values if use_eq else a_values
        lower = (rng.choice(["gt", "gte"]), rng.choice(pool)) if rng.random() < 0.6 else None
        upper = (rng.choice(["lt", "lte"]), rng.choice(pool)) if rng.random() < 0.6 else None
        order = rng.choice(["asc", "desc"])

        build = range_builder(eq_value if use_eq else NO_EQ, range_field, lower, upper)
        got = read(
            engine,
            lambda tx, build=build, order=order: [
                d["i"] for d in tx.query("r").with_index("by_ab", build).order(order).collect()
            ],
        )
        expected = [
            d["i"]
            for d in ordered
            if (not use_eq or compare_values(field(d, "a"), eq_value) == 0)
            and in_range(field(d, range_field), lower, upper)
        ]
        if order == "desc":
            expected.reverse()
        assert got == expected, (use_eq, eq_value, lower, upper, order)
