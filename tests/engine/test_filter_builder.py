"""Convex's filter builder in ``.filter``: the same rows as the equivalent Python predicate, on
random data with a fixed seed (printed on failure); Convex's semantics for missing fields, the
order across types, nested fields, arithmetic and logic; clear errors for misuse; pagination and
reactivity (read sets) unchanged."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from livebase import Int64, define_schema, define_table
from livebase.engine import Engine, Transaction
from livebase.engine.filters import FilterRow
from livebase.errors import InvalidQueryError

from .conftest import EngineFactory, mutate, read

SCHEMA = define_schema({"items": define_table().index("by_kind", ["kind"])})
SEED = 20261204


def _doc(rng: random.Random, i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"i": i, "kind": rng.choice(["a", "b", "c"]), "zero": Int64(0)}
    if rng.random() < 0.8:
        doc["n"] = rng.choice([rng.randint(-5, 5), Int64(rng.randint(-5, 5)), None, "5"])
    if rng.random() < 0.5:
        doc["meta"] = {"score": rng.randint(0, 9)} if rng.random() < 0.8 else {"other": 1}
    return doc


@pytest.fixture
def items(make_engine: EngineFactory) -> Engine:
    engine = make_engine(SCHEMA)
    rng = random.Random(SEED)

    def fill(tx: Transaction) -> None:
        for i in range(300):
            tx.insert("items", _doc(rng, i))

    mutate(engine, fill)
    return engine


def ids(engine: Engine, predicate: Callable[[Any], Any]) -> list[int]:
    return read(engine, lambda tx: [d["i"] for d in tx.query("items").filter(predicate).collect()])


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


BUILT_AND_PLAIN: list[tuple[str, Callable[[Any], Any], Callable[[dict[str, Any]], bool]]] = [
    (
        "eq a number (float64)",
        lambda q: q.eq(q.field("n"), 3),
        lambda d: type(d.get("n")) is int and d["n"] == 3,
    ),
    (
        "3.0 is the same number as 3",
        lambda q: q.eq(q.field("n"), 3.0),
        lambda d: type(d.get("n")) is int and d["n"] == 3,
    ),
    (
        "eq int64 is not eq float64",
        lambda q: q.eq(q.field("n"), Int64(3)),
        lambda d: type(d.get("n")) is Int64 and d["n"] == 3,
    ),
    (
        "missing is not null",
        lambda q: q.eq(q.field("n"), None),
        lambda d: "n" in d and d["n"] is None,
    ),
    ("missing", lambda q: q.eq(q.field("n"), q.field("nope")), lambda d: "n" not in d),
    (
        "and/or/not",
        lambda q: q.and_(
            q.eq(q.field("kind"), "a"),
            q.not_(q.or_(q.lt(q.field("i"), 50), q.gte(q.field("i"), 250))),
        ),
        lambda d: d["kind"] == "a" and not (d["i"] < 50 or d["i"] >= 250),
    ),
    (
        "across types: undefined, null and numbers sort before strings",
        lambda q: q.lt(q.field("n"), "0"),
        lambda d: d.get("n") is None or is_number(d["n"]),
    ),
    (
        "nested field",
        lambda q: q.gt(q.field("meta.score"), 6),
        lambda d: isinstance(d.get("meta"), dict) and d["meta"].get("score", -1) > 6,
    ),
    (
        "arithmetic",
        lambda q: q.eq(q.mod(q.add(q.field("i"), 1), 7), 0),
        lambda d: (d["i"] + 1) % 7 == 0,
    ),
    (
        "neq and neg",
        lambda q: q.and_(q.neq(q.field("kind"), "b"), q.lte(q.neg(q.field("i")), -290)),
        lambda d: d["kind"] != "b" and -d["i"] <= -290,
    ),
]


@pytest.mark.parametrize(
    ("name", "built", "plain"), BUILT_AND_PLAIN, ids=[c[0] for c in BUILT_AND_PLAIN]
)
def test_the_builder_keeps_the_same_rows_as_the_predicate(
    items: Engine, name: str, built: Callable[[Any], Any], plain: Callable[[dict[str, Any]], bool]
) -> None:
    expected = ids(items, plain)
    assert expected, f"{name}: the data (seed {SEED}) has no matching row; the case proves nothing"
    assert ids(items, built) == expected, f"{name} (seed {SEED})"


def test_python_predicates_still_get_a_plain_document(items: Engine) -> None:
    seen: list[Any] = []
    ids(items, lambda doc: seen.append(doc) or True)
    assert len(seen) == 300 and all(isinstance(d, dict) for d in seen)
    assert ids(items, lambda doc: doc["i"] < 3 and doc.get("kind") is not None) == [0, 1, 2]


def test_with_an_index_take_and_paginate(items: Engine) -> None:
    def run(tx: Transaction) -> tuple[list[int], list[int], list[int]]:
        q = tx.query("items").with_index("by_kind", lambda r: r.eq("kind", "c"))
        built = q.filter(lambda f: f.gte(f.field("i"), 100))
        first = [d["i"] for d in built.take(3)]
        page = (
            tx.query("items")
            .filter(lambda f: f.eq(f.field("kind"), "b"))
            .paginate({"numItems": 5, "cursor": None})
        )
        every_b = [d["i"] for d in tx.query("items").collect() if d["kind"] == "b"]
        return first, [d["i"] for d in page["page"]], every_b

    first, page, every_b = read(items, run)
    assert len(first) == 3 and all(i >= 100 for i in first)
    assert page == every_b[:5]


def test_a_write_to_a_filtered_table_is_seen_by_the_read_set(items: Engine) -> None:
    """A filter is a scan: a later insert of a matching row conflicts with what was read."""

    def count(tx: Transaction) -> int:
        return len(tx.query("items").filter(lambda q: q.eq(q.field("kind"), "z")).collect())

    assert read(items, count) == 0
    mutate(items, lambda tx: tx.insert("items", {"i": 999, "kind": "z"}))
    assert read(items, count) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.and_(q.field("i"), True), "q.and_ takes conditions"),
        (lambda q: q.add(q.field("nope"), 1), "undefined (a missing field)"),
        (lambda q: q.add(q.field("kind"), 1), "q.add takes numbers"),
        (lambda q: q.field(""), "q.field() takes a field name"),
        (lambda q: q.div(Int64(1), q.field("zero")), "division of an int64 by zero"),
    ],
)
def test_misuse_is_a_clear_error(items: Engine, call: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ids(items, call)


def test_arithmetic_follows_convex() -> None:
    q = FilterRow({})
    seven, two = Int64(7), Int64(2)
    assert q.div(seven, Int64(-2)) == -3 and q.mod(Int64(-7), two) == -1
    assert q.mod(seven, Int64(-2)) == 1
    assert type(q.div(seven, Int64(-2))) is Int64  # int64 division goes toward zero
    assert q.div(Int64(2**62 + 1), Int64(1)) == 2**62 + 1  # exact, not through a float
    assert q.add(Int64(2**63 - 1), Int64(1)) == -(2**63)  # wraps around, as BigInt.asIntN(64)
    assert q.div(7, -2) == -3.5 and q.mod(-7, 2) == -1  # numbers are float64
    assert type(q.add(Int64(1), 1)) is float  # an int64 with a number is float64
    assert q.div(1.0, 0.0) == math.inf and q.div(-1.0, 0.0) == -math.inf
    assert math.isnan(q.div(0.0, 0.0)) and math.isnan(q.mod(1.0, 0.0))
    assert q.mod(-7.5, 2.0) == -1.5
