"""Full-text search indexes in SQLite: one FTS5 table per search index.

``search_<id>_docs`` holds each indexed document once (its row id, ``_id``, creation time, its
terms joined by spaces and its filter tokens); ``search_<id>`` is an external-content FTS5 table
over it (the ``ascii`` tokenizer only splits the already tokenized text at the spaces), with the
filter tokens in a second column whose ``bm25()`` weight is 0; ``search_<id>_vocab`` lists the
indexed terms for prefix expansion. All of it is written in the caller's transaction.
"""

from __future__ import annotations

import sqlite3

from livebase.search.tokenizer import MAX_PREFIX_EXPANSIONS
from livebase.storage.search_types import SearchEntry, SearchHit, SearchRequest

PREFIX_END = "\U0010ffff"


def _names(index_id: int) -> tuple[str, str, str]:
    n = int(index_id)
    return f"search_{n}", f"search_{n}_docs", f"search_{n}_vocab"


def create(conn: sqlite3.Connection, index_id: int) -> None:
    fts, docs, vocab = _names(index_id)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {docs} (rid INTEGER PRIMARY KEY, doc_id TEXT NOT NULL "
        "UNIQUE, ct REAL NOT NULL, body TEXT NOT NULL, filters TEXT NOT NULL)"
    )
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(body, filters, "
        f"content='{docs}', content_rowid='rid', tokenize='ascii')"
    )
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {vocab} USING fts5vocab({fts}, 'row')")


def exists(conn: sqlite3.Connection, index_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ?", (_names(index_id)[0],)
    ).fetchone()
    return row is not None


def drop(conn: sqlite3.Connection, index_id: int) -> None:
    fts, docs, vocab = _names(index_id)
    for table in (vocab, fts, docs):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def drop_all(conn: sqlite3.Connection) -> None:
    """Drop every search index (``clear()`` before ``livebase migrate`` loads a database)."""
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'search_[0-9]*'"
    ).fetchall()
    for index_id in {int(str(n).split("_")[1]) for (n,) in names}:
        drop(conn, index_id)


def delete(conn: sqlite3.Connection, index_id: int, doc_id: str) -> None:
    fts, docs, _ = _names(index_id)
    row = conn.execute(
        f"SELECT rid, body, filters FROM {docs} WHERE doc_id = ?", (doc_id,)
    ).fetchone()
    if row is None:
        return
    conn.execute(
        f"INSERT INTO {fts} ({fts}, rowid, body, filters) VALUES ('delete', ?, ?, ?)", row
    )
    conn.execute(f"DELETE FROM {docs} WHERE rid = ?", (row[0],))


def put(
    conn: sqlite3.Connection, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool
) -> None:
    if replace:
        delete(conn, index_id, doc_id)
    fts, docs, _ = _names(index_id)
    body, filters = " ".join(entry.terms), " ".join(entry.filters)
    cur = conn.execute(
        f"INSERT INTO {docs} (doc_id, ct, body, filters) VALUES (?, ?, ?, ?)",
        (doc_id, entry.creation_time, body, filters),
    )
    conn.execute(
        f"INSERT INTO {fts} (rowid, body, filters) VALUES (?, ?, ?)",
        (cur.lastrowid, body, filters),
    )


def expand(conn: sqlite3.Connection, index_id: int, prefix: str) -> list[str]:
    vocab = _names(index_id)[2]
    rows = conn.execute(
        f"SELECT term FROM {vocab} WHERE term >= ? AND term < ? ORDER BY term LIMIT ?",
        (prefix, prefix + PREFIX_END, MAX_PREFIX_EXPANSIONS),
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]).startswith(prefix)]


def phrases(request: SearchRequest, expanded: list[str]) -> list[str]:
    """The terms a search scores, in the order the score sums them: the whole terms, then the
    prefix's expansions not already among them."""
    out = list(request.terms)
    out.extend(t for t in expanded if t not in request.terms)
    return out


def search(
    conn: sqlite3.Connection, index_id: int, request: SearchRequest
) -> list[SearchHit]:
    fts, docs, _ = _names(index_id)
    expanded = expand(conn, index_id, request.prefix) if request.prefix else []
    terms = phrases(request, expanded)
    if not terms or request.limit <= 0:
        return []
    match = "{body} : (" + " OR ".join(f'"{t}"' for t in terms) + ")"
    if request.filters:
        match += " AND {filters} : (" + " AND ".join(f'"{t}"' for t in request.filters) + ")"
    if request.after is None:
        fast = _top_by_score(conn, index_id, match, request.limit)
        if fast is not None:
            return fast
    params: list[object] = [match]
    where = ""
    if request.after is not None:
        score, ct, doc_id = request.after
        where = "WHERE score < ? OR (score = ? AND (ct < ? OR (ct = ? AND doc_id < ?))) "
        params += [score, score, ct, ct, doc_id]
    params.append(request.limit)
    rows = conn.execute(
        f"WITH hits AS MATERIALIZED (SELECT d.doc_id, -bm25({fts}, 1.0, 0.0) AS score, d.ct "
        f"FROM {fts} JOIN {docs} d ON d.rid = {fts}.rowid WHERE {fts} MATCH ?), "
        f"top AS MATERIALIZED (SELECT * FROM hits {where}"
        "ORDER BY score DESC, ct DESC, doc_id DESC LIMIT ?) "
        "SELECT t.doc_id, t.score, t.ct, v.value FROM top t JOIN documents v ON v.id = t.doc_id "
        "ORDER BY t.score DESC, t.ct DESC, t.doc_id DESC",
        params,
    ).fetchall()
    return [SearchHit(str(i), float(s), float(c), str(v)) for i, s, c, v in rows]


def _top_by_score(
    conn: sqlite3.Connection, index_id: int, match: str, limit: int
) -> list[SearchHit] | None:
    """The best ``limit`` results ranked from the FTS5 table alone (the documents of only those
    are read); None when a tie in score crosses the cut, which the full ranking (creation time,
    then id) must settle."""
    fts, docs, _ = _names(index_id)
    top = conn.execute(
        f"SELECT rowid, -bm25({fts}, 1.0, 0.0) AS score FROM {fts} WHERE {fts} MATCH ? "
        "ORDER BY score DESC LIMIT ?",
        (match, limit + 1),
    ).fetchall()
    if len(top) > limit:
        if top[limit][1] == top[limit - 1][1]:
            return None
        top = top[:limit]
    if not top:
        return []
    score = {int(rid): float(s) for rid, s in top}
    marks = ",".join("?" * len(score))
    rows = conn.execute(
        f"SELECT d.rid, d.doc_id, d.ct, v.value FROM {docs} d JOIN documents v "
        f"ON v.id = d.doc_id WHERE d.rid IN ({marks})",
        list(score),
    ).fetchall()
    hits = [SearchHit(str(i), score[int(r)], float(c), str(v)) for r, i, c, v in rows]
    hits.sort(key=lambda h: (h.score, h.creation_time, h.doc_id), reverse=True)
    return hits
