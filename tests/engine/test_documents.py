"""Documents: ids, system fields, insert/get/patch/replace/delete and schema-checked writes."""

from __future__ import annotations

import itertools

import pytest

from livebase import UNSET, define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.engine.catalog import BY_CREATION_TIME, BY_ID
from livebase.errors import InvalidIdError, ReadOnlyError, ValidationError
from livebase.runtime import FakeRuntime
from livebase.values.ids import id_table_number, make_id

from .conftest import EngineFactory, mutate, read

SCHEMA = define_schema(
    {
        "users": define_table(
            {
                "name": v.string(),
                "profile": v.optional(v.object({"age": v.number(), "tags": v.array(v.string())})),
            }
        ),
        "posts": define_table({"author": v.id("users"), "title": v.string()}).index(
            "by_author", ["author"]
        ),
    }
)


def insert(engine: Engine, table: str, doc: dict[str, object]) -> str:
    return mutate(engine, lambda tx: tx.insert(table, doc)).value


def get(engine: Engine, doc_id: str) -> dict[str, object] | None:
    return read(engine, lambda tx: tx.get(doc_id))


def test_insert_returns_id_that_encodes_the_table_number(engine: Engine) -> None:
    a = insert(engine, "alpha", {"x": 1})
    b = insert(engine, "beta", {"x": 2})
    tables = engine.catalog.tables
    assert id_table_number(a) == tables["alpha"].number
    assert id_table_number(b) == tables["beta"].number
    assert tables["alpha"].number != tables["beta"].number
    assert a != b


def test_get_returns_system_fields_and_fields(make_engine: EngineFactory) -> None:
    runtime = FakeRuntime(start_ns=1_700_000_000_123_000_000)
    engine = make_engine(runtime=runtime)
    doc_id = insert(engine, "things", {"name": "a", "n": 5, "f": 1.5, "b": b"\x00\x01", "z": None})
    doc = get(engine, doc_id)
    assert doc is not None
    assert doc["_id"] == doc_id
    assert isinstance(doc["_creationTime"], int | float)  # a float64 (an int when whole)
    assert doc["_creationTime"] == pytest.approx(1_700_000_000_123.0)
    assert {k: doc[k] for k in ("name", "n", "f", "b", "z")} == {
        "name": "a",
        "n": 5,
        "f": 1.5,
        "b": b"\x00\x01",
        "z": None,
    }
    assert type(doc["n"]) is int and type(doc["f"]) is float
    assert set(doc) == {"_id", "_creationTime", "name", "n", "f", "b", "z"}


def test_creation_times_are_distinct_and_increasing_with_a_frozen_clock(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(runtime=FakeRuntime())
    ids = mutate(engine, lambda tx: [tx.insert("t", {"i": i}) for i in range(5)]).value
    ids.append(insert(engine, "t", {"i": 5}))
    times = [get(engine, i)["_creationTime"] for i in ids]  # type: ignore[index]
    assert times == sorted(times)
    assert len(set(times)) == len(times)


def test_patch_merges_and_unset_removes_a_field(engine: Engine) -> None:
    doc_id = insert(engine, "t", {"a": 1, "b": "keep", "c": [1, 2]})
    before = get(engine, doc_id)
    mutate(engine, lambda tx: tx.patch(doc_id, {"a": 2, "c": UNSET, "d": {"x": True}}))
    after = get(engine, doc_id)
    assert after == {
        "_id": doc_id,
        "_creationTime": before["_creationTime"],  # type: ignore[index]
        "a": 2,
        "b": "keep",
        "d": {"x": True},
    }


def test_patch_cannot_change_system_fields(engine: Engine) -> None:
    doc_id = insert(engine, "t", {"a": 1})
    other = insert(engine, "t", {"a": 2})
    with pytest.raises(ValidationError):
        mutate(engine, lambda tx: tx.patch(doc_id, {"_id": other}))
    with pytest.raises(ValidationError):
        mutate(engine, lambda tx: tx.patch(doc_id, {"_creationTime": 1.0}))
    assert get(engine, doc_id)["a"] == 1  # type: ignore[index]


def test_replace_keeps_id_and_creation_time_and_drops_other_fields(engine: Engine) -> None:
    doc_id = insert(engine, "t", {"a": 1, "b": 2})
    before = get(engine, doc_id)
    mutate(engine, lambda tx: tx.replace(doc_id, {"c": 3}))
    after = get(engine, doc_id)
    assert after == {"_id": doc_id, "_creationTime": before["_creationTime"], "c": 3}  # type: ignore[index]


def test_delete_removes_document_and_its_index_entries(make_engine: EngineFactory) -> None:
    schema = define_schema({"t": define_table().index("by_a", ["a"])})
    engine = make_engine(schema)
    doc_id = insert(engine, "t", {"a": 1})
    keep = insert(engine, "t", {"a": 2})
    mutate(engine, lambda tx: tx.delete(doc_id))
    assert get(engine, doc_id) is None
    assert [d["_id"] for d in read(engine, lambda tx: tx.query("t").collect())] == [keep]
    assert (
        read(engine, lambda tx: tx.query("t").with_index("by_a", lambda q: q.eq("a", 1)).collect())
        == []
    )
    info = engine.catalog.tables["t"]
    with engine.storage.reader() as r:
        for index in info.indexes.values():
            rows = r.scan_index(index.index_id, b"", b"\xff\xff", reverse=False, limit=10)
            assert [row.document for row in rows if doc_id in row.document] == []
            assert len(rows) == 1
    with pytest.raises(InvalidIdError):
        mutate(engine, lambda tx: tx.delete(doc_id))


def test_patch_moves_index_entries(make_engine: EngineFactory) -> None:
    schema = define_schema({"t": define_table().index("by_a", ["a"])})
    engine = make_engine(schema)
    doc_id = insert(engine, "t", {"a": "old"})
    mutate(engine, lambda tx: tx.patch(doc_id, {"a": "new"}))

    def by_a(value: str) -> list[str]:
        return read(
            engine,
            lambda tx: [
                d["_id"] for d in tx.query("t").with_index("by_a", lambda q: q.eq("a", value))
            ],
        )

    assert by_a("old") == []
    assert by_a("new") == [doc_id]
    index_id = engine.catalog.tables["t"].indexes["by_a"].index_id
    with engine.storage.reader() as r:
        assert len(r.scan_index(index_id, b"", b"\xff\xff", reverse=False, limit=10)) == 1


def test_mutation_reads_its_own_writes(engine: Engine) -> None:
    existing = insert(engine, "t", {"n": 0})

    def body(tx: Transaction) -> tuple[object, ...]:
        new_id = tx.insert("t", {"n": 1})
        seen_new = tx.get(new_id)
        tx.patch(existing, {"n": 10})
        seen_patch = tx.get(existing)
        listed = sorted(d["n"] for d in tx.query("t").collect())
        tx.delete(new_id)
        after_delete = tx.get(new_id), [d["n"] for d in tx.query("t")]
        return seen_new["n"], seen_patch["n"], listed, after_delete  # type: ignore[index]

    value = mutate(engine, body).value
    assert value == (1, 10, [1, 10], (None, [10]))
    assert [d["n"] for d in read(engine, lambda tx: tx.query("t").collect())] == [10]


def test_get_of_an_id_from_another_table(engine: Engine) -> None:
    user = insert(engine, "users", {"name": "u"})
    insert(engine, "messages", {"body": "m"})
    # An id names its own table: get() finds the document whatever table the caller had in mind,
    # and normalize_id() tells the tables apart.
    assert get(engine, user)["name"] == "u"  # type: ignore[index]
    assert read(engine, lambda tx: tx.normalize_id("messages", user)) is None
    assert read(engine, lambda tx: tx.normalize_id("users", user)) == user
    # A well-formed id of a table that does not exist is simply not found.
    ghost = make_id(engine.catalog.next_table_number + 5, lambda n: b"\x01" * n)
    assert get(engine, ghost) is None
    # A string that is not an id at all is refused.
    with pytest.raises(InvalidIdError):
        get(engine, "not-an-id")


def test_reads_cannot_write(engine: Engine) -> None:
    with pytest.raises(ReadOnlyError):
        engine.read(lambda tx: tx.insert("t", {"a": 1}))
    assert "t" not in engine.catalog.tables


def test_schema_error_names_table_nested_path_and_expected_type(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    with pytest.raises(ValidationError) as info:
        insert(engine, "users", {"name": "a", "profile": {"age": "old", "tags": []}})
    message = str(info.value)
    assert "users" in message
    assert "profile.age" in message
    assert "float64" in message
    assert info.value.path == "profile.age"
    assert info.value.code == "SchemaValidationError"

    with pytest.raises(ValidationError) as info:
        insert(engine, "users", {"name": "a", "profile": {"age": 3, "tags": ["x", 7]}})
    assert "profile.tags[1]" in str(info.value) and "string" in str(info.value)

    with pytest.raises(ValidationError) as info:
        insert(engine, "users", {"profile": {"age": 3, "tags": []}})
    assert "name" in str(info.value) and "missing" in str(info.value)

    with pytest.raises(ValidationError) as info:
        insert(engine, "users", {"name": "a", "extra": 1})
    assert "extra" in str(info.value)
    assert read(engine, lambda tx: tx.query("users").collect()) == []


def test_schema_checks_patch_and_replace_too(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    doc_id = insert(engine, "users", {"name": "a"})
    with pytest.raises(ValidationError, match="name"):
        mutate(engine, lambda tx: tx.patch(doc_id, {"name": 5}))
    with pytest.raises(ValidationError, match="name"):
        mutate(engine, lambda tx: tx.patch(doc_id, {"name": UNSET}))
    with pytest.raises(ValidationError):
        mutate(engine, lambda tx: tx.replace(doc_id, {"title": "x"}))
    assert get(engine, doc_id)["name"] == "a"  # type: ignore[index]


def test_number_field_stores_a_python_int_as_a_number(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    doc_id = insert(engine, "users", {"name": "a", "profile": {"age": 30, "tags": []}})
    age = get(engine, doc_id)["profile"]["age"]  # type: ignore[index]
    assert type(age) is int and age == 30  # a float64 that reads back as the int it was
    doc_id = insert(engine, "users", {"name": "b", "profile": {"age": 30.0, "tags": []}})
    age = get(engine, doc_id)["profile"]["age"]  # type: ignore[index]
    assert type(age) is int and age == 30


@pytest.mark.parametrize("op", ["insert", "patch", "replace"])
def test_fields_starting_with_underscore_are_rejected(engine: Engine, op: str) -> None:
    doc_id = insert(engine, "t", {"a": 1})
    with pytest.raises(ValidationError, match="_secret"):
        if op == "insert":
            insert(engine, "t", {"_secret": 1})
        elif op == "patch":
            mutate(engine, lambda tx: tx.patch(doc_id, {"_secret": 1}))
        else:
            mutate(engine, lambda tx: tx.replace(doc_id, {"a": 1, "_secret": 1}))
    assert [set(d) for d in read(engine, lambda tx: tx.query("t").collect())] == [
        {"_id", "_creationTime", "a"}
    ]


def test_schemaless_tables_accept_anything(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)  # "free" is not in the schema
    docs = [
        {"a": 1},
        {"a": "one", "b": [1, 2.5, None, {"c": b"x"}]},
        {},
        {"nested": {"deep": {"er": [True, False]}}},
    ]
    ids = [insert(engine, "free", d) for d in docs]
    got = [get(engine, i) for i in ids]
    assert [{k: x for k, x in g.items() if not k.startswith("_")} for g in got] == docs  # type: ignore[union-attr]


def test_id_validator_rejects_an_id_of_another_table(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    user = insert(engine, "users", {"name": "u"})
    post = insert(engine, "posts", {"author": user, "title": "ok"})
    with pytest.raises(ValidationError) as info:
        insert(engine, "posts", {"author": post, "title": "bad"})
    message = str(info.value)
    assert "author" in message and "users" in message and "posts" in message
    with pytest.raises(ValidationError, match="author"):
        insert(engine, "posts", {"author": "garbage", "title": "bad"})
    titles = [d["title"] for d in read(engine, lambda tx: tx.query("posts").collect())]
    assert titles == ["ok"]


def test_failed_mutation_creates_no_table(engine: Engine) -> None:
    def body(tx: Transaction) -> None:
        tx.insert("brand_new", {"a": 1})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        mutate(engine, body)
    assert "brand_new" not in engine.catalog.tables
    assert read(engine, lambda tx: tx.query("brand_new").collect()) == []
    # The next table created gets a number as if nothing had happened.
    doc_id = insert(engine, "other", {"a": 1})
    assert id_table_number(doc_id) == engine.catalog.tables["other"].number


def test_system_indexes_exist_for_every_table(engine: Engine) -> None:
    insert(engine, "t", {"a": 1})
    assert {BY_ID, BY_CREATION_TIME} <= set(engine.catalog.tables["t"].indexes)


def test_id_validator_rejects_an_id_of_a_table_that_does_not_exist(
    make_engine: EngineFactory,
) -> None:
    """A well-formed id whose table number is no table at all is not an id of "users" either."""
    engine = make_engine(SCHEMA)
    insert(engine, "users", {"name": "u"})
    stray = make_id(engine.catalog.next_table_number + 100, lambda n: b"\x05" * n)
    with pytest.raises(ValidationError, match="author"):
        insert(engine, "posts", {"author": stray, "title": "dangling"})
    assert read(engine, lambda tx: tx.query("posts").collect()) == []


@pytest.mark.parametrize("table", ["_system", "bad-name", "", "has space"])
def test_invalid_table_names_are_refused(engine: Engine, table: str) -> None:
    with pytest.raises(ValidationError) as info:
        insert(engine, table, {"a": 1})
    assert info.value.code == "InvalidTableName"
    assert table not in engine.catalog.tables


def test_ids_follow_creation_order_so_by_id_lists_as_by_creation_time(
    make_engine: EngineFactory,
) -> None:
    """Ids lead with their creation time, so new documents append to the documents' and the
    ``by_id`` index's newest pages; the random rest keeps them distinct within a millisecond."""
    runtime = FakeRuntime(start_ns=1_700_000_000_000_000_000, seed=11)
    engine = make_engine(runtime=runtime)
    inserted: list[str] = []
    for i in range(40):
        inserted.append(insert(engine, "t", {"i": i}))
        if i % 2:
            runtime.advance(0.001)  # two documents in each millisecond
    docs = read(engine, lambda tx: tx.query("t").collect())
    assert [d["_id"] for d in docs] == inserted
    ms = [int(d["_creationTime"]) for d in docs]
    assert len(set(ms)) >= 15
    for (a, ms_a), (b, ms_b) in itertools.combinations(zip(inserted, ms, strict=True), 2):
        if ms_a != ms_b:
            assert (a < b) == (ms_a < ms_b), (a, ms_a, b, ms_b)
    by_id = read(engine, lambda tx: [d["_id"] for d in tx.query("t").with_index(BY_ID).collect()])
    assert by_id == sorted(inserted)
