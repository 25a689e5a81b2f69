"""Full-text search indexes in SQLite: one FTS5 table per search index.

``search_<id>_docs`` holds each indexed document once (its row id, ``_id``, creation time, its
terms joined by spaces and its filter tokens); ``search_<id>`` is an external-content FTS5 table
over it (the ``ascii`` tokenizer only splits the already tokenized text at the spaces), with the
filter tokens in a second column whose ``bm25()`` weight is 0; ``search_<id>_vocab`` lists the
indexed terms for prefix expansion. All of it is written in the caller's transaction.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections import Counter

from livebase.search.tokenizer import MAX_PREFIX_EXPANSIONS
from livebase.storage import search_prune
from livebase.storage.search_prune import bm25, idf, plan
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
    pruned = _pruned(conn, index_id, request, terms)
    if pruned is not None:
        return pruned
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


def _totals(conn: sqlite3.Connection, index_id: int) -> tuple[int, int]:
    """(documents, tokens in every column), from FTS5's averages record, as ``bm25()`` reads
    them: record 1 of ``search_<id>_data`` holds varints, the row count then each column's."""
    row = conn.execute(f"SELECT block FROM {_names(index_id)[0]}_data WHERE id = 1").fetchone()
    numbers: list[int] = []
    block, i = bytes(row[0]) if row else b"", 0
    while i < len(block):
        value, i = _varint(block, i)
        numbers.append(value)
    return (numbers[0], sum(numbers[1:])) if numbers else (0, 0)


def _varint(block: bytes, i: int) -> tuple[int, int]:
    """SQLite's varint: big-endian 7-bit groups while the high bit is set; a ninth byte is
    taken whole."""
    value = 0
    for _ in range(8):
        byte = block[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, i
    return (value << 8) | block[i], i + 1


def _pruned(
    conn: sqlite3.Connection, index_id: int, request: SearchRequest, terms: list[str]
) -> list[SearchHit] | None:
    """The results ranked from the essential terms' documents alone (``search_prune``), scored
    here with every term exactly as ``bm25()`` scores them; None when that cannot be proven to
    be the answer."""
    fts, docs, vocab = _names(index_id)
    budget = search_prune.CANDIDATE_BUDGET
    n_docs, n_tokens = _totals(conn, index_id)
    if not n_docs or len(terms) < 2 or budget <= 0 or request.filters:
        return None  # a filter already narrows the matches before bm25() scores them
    # Counting a term's documents reads its whole list, so first count each only up to the
    # budget: a search with no term under it (every word common) is left to bm25() at once.
    hits: dict[str, int] = {}
    for term in terms:
        hits[term] = conn.execute(
            f"SELECT count(*) FROM (SELECT rowid FROM {fts} WHERE {fts} MATCH ? LIMIT ?)",
            (f'{{body}} : "{term}"', budget + 1),
        ).fetchone()[0]
    common = [t for t in terms if hits[t] > budget]
    if len(common) in (0, len(terms)):
        return None
    marks = ",".join("?" * len(common))
    for term, count in conn.execute(
        f"SELECT term, doc FROM {vocab} WHERE term IN ({marks})", common
    ).fetchall():
        hits[str(term)] = int(count)
    chosen = plan(terms, hits, n_docs, budget)
    if chosen is None:
        return None
    match = "{body} : (" + " OR ".join(f'"{t}"' for t in chosen.essential) + ")"
    rows = conn.execute(
        f"SELECT d.doc_id, d.ct, d.body, d.filters FROM {fts} JOIN {docs} d "
        f"ON d.rid = {fts}.rowid WHERE {fts} MATCH ?",
        (match,),
    ).fetchall()
    if len(rows) < request.limit:
        return None
    avgdl = float(n_tokens) / float(n_docs)
    idfs = [idf(n_docs, hits.get(t, 0)) for t in terms]
    wanted = set(terms)
    ranked: list[tuple[float, float, str]] = []
    for doc_id, ct, body, filters in rows:
        tokens = body.split(" ") if body else []
        counts = Counter(t for t in tokens if t in wanted)
        size = len(tokens) + (len(filters.split(" ")) if filters else 0)
        key = (bm25(idfs, [float(counts[t]) for t in terms], float(size), avgdl), ct, doc_id)
        if request.after is None or key < request.after:
            ranked.append(key)
    top = heapq.nlargest(request.limit, ranked)
    if len(top) < request.limit or not chosen.settled(top[-1][0]):
        return None
    ids = [doc_id for _, _, doc_id in top]
    values = dict(
        conn.execute(
            f"SELECT id, value FROM documents WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
    )
    return [SearchHit(str(i), float(s), float(c), str(values[i])) for s, c, i in top]


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
