"""Vector indexes in PostgreSQL: one table per vector index, scored and cut in the server.

``lb_vectors_<id>`` holds each indexed document once: its ``_id``, the vector's squared norm,
one ``bigint`` per filter field (``f0`` ..., the ``filter_hash`` of the value) and the vector in
the best form the server offers, chosen when the index is built and recorded in
``lb_vectors_meta``:

- ``pgvector``: a ``vector(N)`` column where the server has the ``vector`` extension, searched
  with ``ORDER BY emb <=> q`` (cosine) or ``<#>`` (negative inner product) ``LIMIT k``, with no
  approximate index, so the answer is exact (tested on PostgreSQL 16 with pgvector 0.6.2 from
  the ``pgserver`` wheel; the suite's main server has no pgvector).
- ``cube``: the vector split into chunks of at most 100 dimensions (the ``cube`` type's limit),
  one ``cube`` column each (``cube`` ships with PostgreSQL's contrib and is a trusted extension);
  ``a . q = (|a|^2 + |q|^2 - sum over chunks |a_c - q_c|^2) / 2`` with ``<->``, the Euclidean
  distance computed in C: about ten times faster than the arrays.
- ``array``: a ``float8[]`` scored with ``unnest`` in SQL, where neither extension is available.

All of it is written in the caller's transaction.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg

from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)

Cursor = psycopg.Cursor[Any]
CUBE_MAX_DIMENSIONS = 100
EXTENSION_SCHEMA = "livebase_extensions"
META_TABLE = (
    "CREATE TABLE IF NOT EXISTS lb_vectors_meta (index_id INTEGER PRIMARY KEY, "
    "layout TEXT NOT NULL, ext_schema TEXT NOT NULL, dimensions INTEGER NOT NULL);"
)
"""Made with the storage's other tables (a reader cannot create it)."""


def _name(index_id: int) -> str:
    return f"lb_vectors_{int(index_id)}"


def chunks(dimensions: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each cube column: as few as the cube limit allows, evenly sized."""
    count = math.ceil(dimensions / CUBE_MAX_DIMENSIONS)
    size = math.ceil(dimensions / count)
    return [(i, min(i + size, dimensions)) for i in range(0, dimensions, size)]


def _extension_schema(cur: Cursor, name: str) -> str | None:
    row = cur.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = %s",
        (name,),
    ).fetchone()
    return None if row is None else str(row[0])


def _ensure_extension(cur: Cursor, name: str) -> str | None:
    """The schema of extension ``name``, created if the server offers it and we may; None if
    it cannot be had (the failed attempt leaves the transaction usable).

    One that exists is used wherever it is. One we create goes into its own schema,
    ``EXTENSION_SCHEMA``, not into the app's (``?schema=``): dropping an app's schema with
    CASCADE would otherwise drop the extension, and with it the vector columns of every other
    app in the database."""
    schema = _extension_schema(cur, name)
    if schema is not None:
        return schema
    offered = cur.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)
    ).fetchone()
    if offered is None:
        return None
    cur.execute("SAVEPOINT lb_extension")
    try:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {EXTENSION_SCHEMA}")
        cur.execute(f"CREATE EXTENSION IF NOT EXISTS {name} SCHEMA {EXTENSION_SCHEMA}")
    except psycopg.Error:  # no privilege, or another node created it at the same moment
        cur.execute("ROLLBACK TO SAVEPOINT lb_extension")
    cur.execute("RELEASE SAVEPOINT lb_extension")
    return _extension_schema(cur, name)


def _layout(cur: Cursor, index_id: int) -> tuple[str, str, int] | None:
    row = cur.execute(
        "SELECT layout, ext_schema, dimensions FROM lb_vectors_meta WHERE index_id = %s",
        (index_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), int(row[2]))


LAYOUTS = ("pgvector", "cube", "array")


def create(
    cur: Cursor, index_id: int, spec: VectorIndexSpec, *, layouts: tuple[str, ...] = LAYOUTS
) -> str:
    """Make the index empty (dropping one that exists); returns the layout chosen, the first
    of ``layouts`` the server allows (tests pass fewer to exercise each)."""
    drop(cur, index_id)
    filters = "".join(f", f{i} BIGINT NOT NULL" for i in range(spec.filter_count))
    schema = _ensure_extension(cur, "vector") if "pgvector" in layouts else None
    if schema is not None:
        layout, vector = "pgvector", f'emb "{schema}".vector({int(spec.dimensions)}) NOT NULL'
    else:
        schema = _ensure_extension(cur, "cube") if "cube" in layouts else None
        if schema is not None:
            layout = "cube"
            n = len(chunks(spec.dimensions))
            vector = ", ".join(f'c{i} "{schema}".cube NOT NULL' for i in range(n))
        else:
            layout, schema, vector = "array", "", "emb FLOAT8[] NOT NULL"
    table = _name(index_id)
    cur.execute(
        f'CREATE TABLE {table} (doc_id TEXT COLLATE "C" PRIMARY KEY, '
        f"sq FLOAT8 NOT NULL, {vector}{filters})"
    )
    for i in range(spec.filter_count):
        # A filtered search then scores only the rows with its values (a bitmap scan), not
        # the whole table: 6x faster for a filter keeping 1/16 of 100k rows (docs/benchmarks.md).
        cur.execute(f"CREATE INDEX {table}_f{i} ON {table} (f{i})")
    cur.execute(
        "INSERT INTO lb_vectors_meta (index_id, layout, ext_schema, dimensions) "
        "VALUES (%s, %s, %s, %s)",
        (index_id, layout, schema, spec.dimensions),
    )
    return layout


def exists(cur: Cursor, index_id: int) -> bool:
    return _layout(cur, index_id) is not None


def drop(cur: Cursor, index_id: int) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {_name(index_id)}")
    cur.execute("DELETE FROM lb_vectors_meta WHERE index_id = %s", (index_id,))


def drop_all(cur: Cursor) -> None:
    """Drop every vector index (``clear()`` before ``livebase migrate`` loads a database)."""
    for (index_id,) in cur.execute("SELECT index_id FROM lb_vectors_meta").fetchall():
        drop(cur, int(index_id))


def delete(cur: Cursor, index_id: int, doc_id: str) -> None:
    cur.execute(f"DELETE FROM {_name(index_id)} WHERE doc_id = %s", (doc_id,))


def _vector_columns(layout: str, schema: str, dimensions: int) -> tuple[list[str], list[str]]:
    """The vector's column names and their placeholders (each taking ``_vector_values``)."""
    if layout == "cube":
        n = len(chunks(dimensions))
        return [f"c{i}" for i in range(n)], [f'"{schema}".cube(%s::float8[])'] * n
    if layout == "pgvector":
        return ["emb"], [f'%s::"{schema}".vector']
    return ["emb"], ["%s::float8[]"]


def _vector_values(layout: str, vector: tuple[float, ...]) -> list[Any]:
    if layout == "cube":
        return [list(vector[a:b]) for a, b in chunks(len(vector))]
    if layout == "pgvector":
        return ["[" + ",".join(repr(float(x)) for x in vector) + "]"]
    return [list(vector)]


def put(cur: Cursor, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool) -> None:
    found = _layout(cur, index_id)
    if found is None:
        raise LookupError(f"vector index {index_id} does not exist")
    layout, schema, dimensions = found
    if replace:
        delete(cur, index_id, doc_id)
    names, marks = _vector_columns(layout, schema, dimensions)
    names += [f"f{i}" for i in range(len(entry.filters))]
    marks += ["%s"] * len(entry.filters)
    sq = sum(x * x for x in entry.vector)
    cur.execute(
        f"INSERT INTO {_name(index_id)} (doc_id, sq, {', '.join(names)}) "
        f"VALUES (%s, %s, {', '.join(marks)})",
        (doc_id, sq, *_vector_values(layout, entry.vector), *entry.filters),
    )


def _score_sql(layout: str, schema: str, dimensions: int, metric: str) -> tuple[str, str]:
    """``(from, order by)``: the query vector's CTE ``q`` and the expression to sort by,
    ascending (nearest first)."""
    if layout == "pgvector":
        op = "<=>" if metric == "cosine" else "<#>"
        return f'(SELECT %s::"{schema}".vector AS v) q', f'v.emb OPERATOR("{schema}".{op}) q.v'
    if layout == "cube":
        n = len(chunks(dimensions))
        cols = ", ".join(f'"{schema}".cube(%s::float8[]) AS c{i}' for i in range(n))
        dist = " + ".join(f'power(v.c{i} OPERATOR("{schema}".<->) q.c{i}, 2)' for i in range(n))
        dot = f"(v.sq + %s - ({dist})) / 2"
        source = f"(SELECT {cols}) q"
    else:
        dot = "(SELECT sum(a * b) FROM unnest(v.emb, q.v) AS t(a, b))"
        source = "(SELECT %s::float8[] AS v) q"
    if metric == "cosine":
        return source, f"-(CASE WHEN v.sq = 0 THEN 0 ELSE {dot} / sqrt(v.sq) END)"
    return source, f"-({dot})"


def search(cur: Cursor, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
    found = _layout(cur, index_id)
    if found is None:
        return None
    layout, schema, dimensions = found
    source, order = _score_sql(layout, schema, dimensions, request.metric)
    params: list[Any] = []
    if layout == "cube":  # |q|^2 in the dot product, which comes before the query vector
        params.append(sum(x * x for x in request.vector))
    params += _vector_values(layout, request.vector)
    where = ""
    if request.any_of is not None:
        where = "WHERE " + " OR ".join(f"v.f{int(pos)} = %s" for pos, _ in request.any_of)
        params += [value for _, value in request.any_of]
    params.append(request.limit)
    rows = cur.execute(
        f"SELECT t.doc_id, d.value FROM (SELECT v.doc_id, {order} AS distance "
        f"FROM {_name(index_id)} v, {source} {where} ORDER BY distance, v.doc_id LIMIT %s) t "
        "JOIN lb_documents d ON d.id = t.doc_id ORDER BY t.distance, t.doc_id",
        params,
    ).fetchall()
    return [VectorCandidate(str(i), str(v)) for i, v in rows]
