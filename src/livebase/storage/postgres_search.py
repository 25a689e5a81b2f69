"""Full-text search indexes in PostgreSQL: a tsvector column under a GIN index finds the
documents, and the score is computed here from stored term statistics, with exactly the formula
and the floating-point steps of SQLite FTS5's ``bm25()`` (see ``search_types``), because
PostgreSQL's own ``ts_rank``/``ts_rank_cd`` are not BM25 and would order results differently.

Per search index: ``lb_search_<id>`` (one row per document: ``_id``, creation time, term count,
a tsvector of its distinct terms and filter tokens, and its term frequencies as jsonb),
``lb_search_<id>_terms`` (each indexed term and how many documents hold it; also the term list
prefix expansion reads) and ``lb_search_<id>_stats`` (documents and terms in the index). All of
it is written in the caller's transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import psycopg

from livebase.search.tokenizer import MAX_PREFIX_EXPANSIONS
from livebase.storage.search_prune import idf, plan
from livebase.storage.search_types import (
    BM25_B,
    BM25_K1,
    SearchEntry,
    SearchHit,
    SearchRequest,
)
from livebase.storage.sqlite_search import PREFIX_END, phrases

Cursor = psycopg.Cursor[Any]


def _names(index_id: int) -> tuple[str, str, str]:
    n = int(index_id)
    return f"lb_search_{n}", f"lb_search_{n}_terms", f"lb_search_{n}_stats"


def create(cur: Cursor, index_id: int) -> None:
    docs, terms, stats = _names(index_id)
    cur.execute(
        f'CREATE TABLE IF NOT EXISTS {docs} (doc_id TEXT COLLATE "C" PRIMARY KEY, '
        "ct DOUBLE PRECISION NOT NULL, len INTEGER NOT NULL, tsv TSVECTOR NOT NULL, "
        "tf JSONB NOT NULL)"
    )
    cur.execute(f"CREATE INDEX IF NOT EXISTS {docs}_tsv ON {docs} USING GIN (tsv)")
    cur.execute(
        f'CREATE TABLE IF NOT EXISTS {terms} (term TEXT COLLATE "C" PRIMARY KEY, '
        "df INTEGER NOT NULL)"
    )
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {stats} (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "docs BIGINT NOT NULL, tokens BIGINT NOT NULL)"
    )
    cur.execute(f"INSERT INTO {stats} VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING")


def exists(cur: Cursor, index_id: int) -> bool:
    row = cur.execute("SELECT to_regclass(%s)", (_names(index_id)[0],)).fetchone()
    return row is not None and row[0] is not None


def drop(cur: Cursor, index_id: int) -> None:
    for table in _names(index_id):
        cur.execute(f"DROP TABLE IF EXISTS {table}")


def drop_all(cur: Cursor) -> None:
    """Drop every search index of the current schema (``clear()``)."""
    rows = cur.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename ~ '^lb_search_[0-9]+$'"
    ).fetchall()
    for (name,) in rows:
        drop(cur, int(str(name).rsplit("_", 1)[1]))


def delete(cur: Cursor, index_id: int, doc_id: str) -> None:
    docs, terms, stats = _names(index_id)
    row = cur.execute(
        f"DELETE FROM {docs} WHERE doc_id = %s RETURNING len, tf", (doc_id,)
    ).fetchone()
    if row is None:
        return
    length, tf = int(row[0]), row[1]
    held = list(tf) if isinstance(tf, dict) else list(orjson.loads(tf))
    if held:
        cur.execute(f"UPDATE {terms} SET df = df - 1 WHERE term = ANY(%s)", (held,))
        cur.execute(f"DELETE FROM {terms} WHERE df <= 0 AND term = ANY(%s)", (held,))
    cur.execute(
        f"UPDATE {stats} SET docs = docs - 1, tokens = tokens - %s WHERE id = 1", (length,)
    )


def put(cur: Cursor, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool) -> None:
    if replace:
        delete(cur, index_id, doc_id)
    docs, terms, stats = _names(index_id)
    counts = Counter(entry.terms)
    distinct = list(counts)
    length = len(entry.terms) + len(entry.filters)  # as FTS5 counts tokens: every column
    # One statement (one round trip): the row, the terms' document counts, the totals.
    cur.execute(
        f"WITH row AS (INSERT INTO {docs} (doc_id, ct, len, tsv, tf) "
        "VALUES (%s, %s, %s, array_to_tsvector(%s::text[]), %s::jsonb)), "
        f"counted AS (INSERT INTO {terms} (term, df) SELECT unnest(%s::text[]), 1 "
        f"ON CONFLICT (term) DO UPDATE SET df = {terms}.df + 1) "
        f"UPDATE {stats} SET docs = docs + 1, tokens = tokens + %s WHERE id = 1",
        (
            doc_id,
            entry.creation_time,
            length,
            distinct + list(dict.fromkeys(entry.filters)),
            orjson.dumps(counts).decode(),
            distinct,
            length,
        ),
    )


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def search(cur: Cursor, index_id: int, request: SearchRequest) -> list[SearchHit]:
    docs, terms_table, stats = _names(index_id)
    row = cur.execute(f"SELECT docs, tokens FROM {stats} WHERE id = 1").fetchone()
    if row is None or not row[0] or request.limit <= 0:
        return []
    n_docs, n_tokens = int(row[0]), int(row[1])
    expanded: list[str] = []
    if request.prefix:
        rows = cur.execute(
            f"SELECT term FROM {terms_table} WHERE term >= %s AND term < %s ORDER BY term "
            "LIMIT %s",
            (request.prefix, request.prefix + PREFIX_END, MAX_PREFIX_EXPANSIONS),
        ).fetchall()
        expanded = [str(r[0]) for r in rows if str(r[0]).startswith(request.prefix)]
    terms = phrases(request, expanded)
    if not terms:
        return []
    df = {
        str(t): int(n)
        for t, n in cur.execute(
            f"SELECT term, df FROM {terms_table} WHERE term = ANY(%s)", (terms,)
        ).fetchall()
    }
    score = _score_sql(terms, df, n_docs, float(n_tokens) / float(n_docs))
    chosen = None if request.filters else plan(terms, df, n_docs)
    if chosen is not None:
        # Rank the essential terms' documents only; the answer if the k-th beats the bound.
        hits = _ranked(cur, docs, score, chosen.essential, request)
        if len(hits) == request.limit and chosen.settled(hits[-1].score):
            return hits
    return _ranked(cur, docs, score, terms, request)


def _score_sql(
    terms: list[str], df: dict[str, int], n_docs: int, avgdl: float
) -> tuple[str, list[Any]]:
    """The BM25 score as SQL over ``len`` and ``tf``, with its parameters."""
    # FTS5 (fts5_aux.c): score = 0.0; for each phrase:
    #   score += idf * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * D / avgdl)))
    parts: list[str] = []
    params: list[Any] = []
    for term in terms:
        f = "coalesce((tf->>%s)::float8, 0.0::float8)"
        parts.append(
            f"%s::float8 * (({f} * %s::float8) / ({f} + %s::float8 * "
            "(%s::float8 + (%s::float8 * len::float8) / %s::float8)))"
        )
        weight = idf(n_docs, df.get(term, 0))
        params += [weight, term, BM25_K1 + 1.0, term, BM25_K1, 1 - BM25_B, BM25_B, avgdl]
    sql = "0.0::float8"
    for part in parts:
        sql = f"({sql} + {part})"
    return sql, params


def _ranked(
    cur: Cursor,
    docs: str,
    score: tuple[str, list[Any]],
    matching: list[str],
    request: SearchRequest,
) -> list[SearchHit]:
    """The top ``request.limit`` documents holding any of ``matching`` (and every filter)."""
    sql, params = score[0], list(score[1])
    query = "(" + " | ".join(_quoted(t) for t in matching) + ")"
    for token in request.filters:
        query += " & " + _quoted(token)
    params.append(query)
    where = ""
    if request.after is not None:
        s, ct, doc_id = request.after
        where = "WHERE score < %s OR (score = %s AND (ct < %s OR (ct = %s AND doc_id < %s))) "
        params += [s, s, ct, ct, doc_id]
    params.append(request.limit)
    rows = cur.execute(
        f"WITH top AS (SELECT * FROM (SELECT doc_id, {sql} AS score, ct FROM {docs} "
        f"WHERE tsv @@ %s::tsquery) AS hits {where}"
        "ORDER BY score DESC, ct DESC, doc_id DESC LIMIT %s) "
        "SELECT t.doc_id, t.score, t.ct, v.value FROM top t JOIN lb_documents v "
        "ON v.id = t.doc_id ORDER BY t.score DESC, t.ct DESC, t.doc_id DESC",
        params,
    ).fetchall()
    return [SearchHit(str(i), float(s), float(c), str(v)) for i, s, c, v in rows]
