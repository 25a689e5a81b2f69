"""Vector indexes in SQLite: one sqlite-vec ``vec0`` virtual table per vector index.

``vectors_<id>`` holds each indexed document once: its ``_id`` (the table's text primary key),
the vector as float32 and one integer metadata column per filter field (``f0`` ..., the
``filter_hash`` of the value). ``vectors_meta`` lists the indexes that are in step with the
documents: a write made while sqlite-vec could not be loaded takes its index off that list, and
the next open with sqlite-vec rebuilds it. All of it is written in the caller's transaction.

Every search is ``vec0``'s own k-nearest-neighbour query, its filter as metadata constraints (one
query per ``OR`` branch, merged). A cosine index uses ``distance_metric=cosine``. sqlite-vec has
no dot-product distance, so a dot-product index stores each vector ``a`` with one more component,
``sqrt(M^2 - |a|^2)``, where ``M`` (``vectors_meta.bound``) is at least every stored norm; then
``|a' - q'|^2 = M^2 + |q|^2 - 2 a . q`` for the query ``q' = (q, 0)``, so the nearest by L2 are
the largest dot products. A vector longer than ``M`` rewrites the index with ``M`` doubled past
it, which happens a few times over an index's life, not per write. The float32 distances are
then only as fine as ``M`` allows: dot products closer than about ``1e-7 * M^2`` can come in
either order, which the engine's float64 rescoring of extra candidates repairs unless the
stored norms span several orders of magnitude (normalised embeddings are unaffected). ``M``
never shrinks when long vectors are deleted.
"""

from __future__ import annotations

import math
import sqlite3
import struct

from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)

META_TABLE = "CREATE TABLE IF NOT EXISTS vectors_meta (index_id INTEGER PRIMARY KEY, bound REAL);"
"""Made with the storage's other tables (a reader cannot create it). ``bound``: a dot-product
index's ``M``; NULL for cosine."""


def _name(index_id: int) -> str:
    return f"vectors_{int(index_id)}"


def _blob(vector: tuple[float, ...]) -> bytes:
    return struct.pack(f"{len(vector)}f", *vector)


def _float32_norm(vector: tuple[float, ...]) -> float:
    """The norm of the vector as stored (float32), so that ``M^2 - |a|^2`` is never negative."""
    stored = struct.unpack(f"{len(vector)}f", _blob(vector))
    return math.sqrt(sum(x * x for x in stored))


def _augmented(vector: tuple[float, ...], bound: float) -> tuple[float, ...]:
    extra = bound * bound - _float32_norm(vector) ** 2
    return (*vector, math.sqrt(max(extra, 0.0)))


def create(conn: sqlite3.Connection, index_id: int, spec: VectorIndexSpec) -> None:
    """Make the index empty (an existing one, perhaps stale, is dropped first)."""
    drop(conn, index_id)
    filters = "".join(f", f{i} integer" for i in range(spec.filter_count))
    if spec.metric == "cosine":
        vector, bound = f"float[{int(spec.dimensions)}] distance_metric=cosine", None
    else:
        vector, bound = f"float[{int(spec.dimensions) + 1}] distance_metric=l2", 0.0
    conn.execute(
        f"CREATE VIRTUAL TABLE {_name(index_id)} USING vec0(doc_id text primary key, "
        f"embedding {vector}{filters})"
    )
    conn.execute("INSERT INTO vectors_meta (index_id, bound) VALUES (?, ?)", (index_id, bound))


def in_step(conn: sqlite3.Connection, index_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM vectors_meta WHERE index_id = ?", (index_id,)).fetchone()
    return row is not None


def mark_stale(conn: sqlite3.Connection, index_id: int) -> None:
    """A write the index could not take (no sqlite-vec): it must be rebuilt before use."""
    conn.execute("DELETE FROM vectors_meta WHERE index_id = ?", (index_id,))


def drop(conn: sqlite3.Connection, index_id: int) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {_name(index_id)}")
    mark_stale(conn, index_id)


def drop_all(conn: sqlite3.Connection) -> None:
    """Drop every vector index (``clear()`` before ``livebase migrate`` loads a database)."""
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'vectors_[0-9]*' "
        "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
    ).fetchall()
    for (name,) in names:
        drop(conn, int(str(name).split("_")[1]))
    conn.execute("DELETE FROM vectors_meta")


def delete(conn: sqlite3.Connection, index_id: int, doc_id: str) -> None:
    conn.execute(f"DELETE FROM {_name(index_id)} WHERE doc_id = ?", (doc_id,))


def _bound(conn: sqlite3.Connection, index_id: int) -> float | None:
    row = conn.execute("SELECT bound FROM vectors_meta WHERE index_id = ?", (index_id,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _raise_bound(conn: sqlite3.Connection, index_id: int, bound: float) -> None:
    """Rewrite every stored vector's extra component for a larger ``M``."""
    table = _name(index_id)
    rows = conn.execute(f"SELECT doc_id, embedding FROM {table}").fetchall()
    for doc_id, blob in rows:
        stored = struct.unpack(f"{len(blob) // 4}f", blob)[:-1]
        conn.execute(
            f"UPDATE {table} SET embedding = ? WHERE doc_id = ?",
            (_blob(_augmented(stored, bound)), doc_id),
        )
    conn.execute("UPDATE vectors_meta SET bound = ? WHERE index_id = ?", (bound, index_id))


def put(
    conn: sqlite3.Connection, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool
) -> None:
    if replace:
        delete(conn, index_id, doc_id)
    vector = entry.vector
    bound = _bound(conn, index_id)
    if bound is not None:  # a dot-product index
        norm = _float32_norm(vector)
        if norm > bound:
            bound = max(2.0 * norm, 1e-30)
            _raise_bound(conn, index_id, bound)
        vector = _augmented(vector, bound)
    columns = "".join(f", f{i}" for i in range(len(entry.filters)))
    marks = ", ?" * len(entry.filters)
    conn.execute(
        f"INSERT INTO {_name(index_id)} (doc_id, embedding{columns}) VALUES (?, ?{marks})",
        (doc_id, _blob(vector), *entry.filters),
    )


def search(
    conn: sqlite3.Connection, index_id: int, request: VectorRequest
) -> list[VectorCandidate]:
    table = _name(index_id)
    vector = request.vector if request.metric == "cosine" else (*request.vector, 0.0)
    query = _blob(vector)
    branches: list[tuple[str, tuple[int, ...]]] = [("", ())]
    if request.any_of is not None:
        branches = [(f" AND f{int(pos)} = ?", (value,)) for pos, value in request.any_of]
    found: dict[str, float] = {}
    for where, params in branches:
        rows = conn.execute(
            f"SELECT doc_id, distance FROM {table} WHERE embedding MATCH ? AND k = ?{where}",
            (query, request.limit, *params),
        ).fetchall()
        for doc_id, distance in rows:
            d = float(distance)
            if d < found.get(doc_id, math.inf):
                found[str(doc_id)] = d
    best = sorted(found, key=lambda i: (found[i], i))[: request.limit]
    if not best:
        return []
    marks = ",".join("?" * len(best))
    texts = dict(
        conn.execute(f"SELECT id, value FROM documents WHERE id IN ({marks})", best).fetchall()
    )
    return [VectorCandidate(i, str(texts[i])) for i in best if i in texts]
