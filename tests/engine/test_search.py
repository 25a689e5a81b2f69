"""Full-text search, one conformance suite on every backend (SQLite FTS5, PostgreSQL tsvector):
ranking against a corpus with hand-computed answers, prefix and tokenizer rules, filters,
transactions, schema changes, pagination, limits and bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from livebase import define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.errors import InvalidCursorError, InvalidQueryError
from livebase.schema.definition import SchemaDefinition

from .conftest import EngineFactory, mutate, read


def schema(filter_fields: tuple[str, ...] = ("channel",)) -> SchemaDefinition:
    return define_schema(
        {
            "messages": define_table(
                {
                    "body": v.optional(v.any()),
                    "channel": v.optional(v.any()),
                    "n": v.optional(v.any()),
                }
            ).search_index("search_body", search_field="body", filter_fields=list(filter_fields))
        }
    )


CORPUS = [
    "quick brown fox",  # 0
    "quick quick quick fox",  # 1
    "lazy dog",  # 2
    "brown dog sleeps all day",  # 3
    "foxes are quick animals",  # 4
    "a fox",  # 5
    "the cat sat",  # 6
    "hello world",  # 7
    "another day",  # 8
    "nothing to see here",  # 9
]


def insert(engine: Engine, *docs: dict[str, Any]) -> list[str]:
    return mutate(engine, lambda tx: [tx.insert("messages", dict(d)) for d in docs]).value


def search(engine: Engine, text: str, limit: int = 100, **eq: Any) -> list[str]:
    def run(tx: Transaction) -> list[str]:
        def build(q: Any) -> Any:
            q = q.search("body", text)
            for field, value in eq.items():
                q = q.eq(field, value)
            return q

        docs = tx.query("messages").with_search_index("search_body", build).take(limit)
        return [d["body"] for d in docs]

    return read(engine, run)


@pytest.fixture
def corpus(make_engine: EngineFactory) -> Engine:
    engine = make_engine(schema(filter_fields=()))
    insert(engine, *({"body": text} for text in CORPUS))
    return engine


def test_ranking_matches_hand_computed_bm25(corpus: Engine) -> None:
    # N = 10 documents, 31 terms: avgdl = 3.1. "quick fox" scores the phrases quick (df 3),
    # fox (df 3) and foxes (df 1, from the prefix "fox"):
    #   idf(df 3) = ln(7.5 / 3.5) = 0.76214, idf(df 1) = ln(9.5 / 1.5) = 1.84583
    #   term(tf, |D|) = idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * |D| / 3.1))
    # "foxes are quick animals": quick 0.68123 + foxes 1.64988      = 2.33111
    # "quick quick quick fox":   quick(tf 3) 1.12750 + fox 0.68123  = 1.80873
    # "quick brown fox":         quick 0.77233 + fox 0.77233        = 1.54466
    # "a fox":                   fox 0.89156                        = 0.89156
    assert search(corpus, "quick fox") == [
        "foxes are quick animals",
        "quick quick quick fox",
        "quick brown fox",
        "a fox",
    ]
    # "dog": df 2, idf ln(8.5 / 2.5); the shorter document wins.
    assert search(corpus, "dog") == ["lazy dog", "brown dog sleeps all day"]
    # Only the last term is a prefix: "quic" before it must be a whole word, and is none.
    assert search(corpus, "quic dog") == ["lazy dog", "brown dog sleeps all day"]
    assert search(corpus, "quic") == [
        "quick quick quick fox",
        "quick brown fox",
        "foxes are quick animals",
    ]


def test_ties_go_to_the_newest_document(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    for text in ["same words here", "other text", "same words here", "filler one"]:
        insert(engine, {"body": text, "n": text})
    ids = mutate(engine, lambda tx: [d["_id"] for d in tx.query("messages").collect()]).value
    found = read(
        engine,
        lambda tx: [
            d["_id"]
            for d in tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "same"))
            .take(10)
        ],
    )
    assert found == [ids[2], ids[0]]


def test_tokenizer_splits_lowercases_and_drops_long_terms(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    insert(
        engine,
        {"body": "Hello, WORLD! snake_case e-mail Über straße 42nd"},
        {"body": "a" * 32 + " " + "b" * 33 + " end"},
    )
    for text in ["hello", "world", "SNAKE", "case", "mail", "über", "ÜBER", "straße", "42nd"]:
        assert len(search(engine, text)) == 1, text
    assert len(search(engine, "a" * 32)) == 1
    assert search(engine, "b" * 33) == []  # dropped from the document and from the query
    assert search(engine, "") == [] and search(engine, "!!! ...") == []


def test_typo_tolerance_is_off(corpus: Engine) -> None:
    # Convex removed fuzzy matching; Livebase never had it: "foz" finds no "fox".
    assert search(corpus, "foz") == []
    assert search(corpus, "brwn fox") == search(corpus, "fox")


def test_filters_are_equalities_on_filter_fields(make_engine: EngineFactory) -> None:
    engine = make_engine(schema(("channel", "n")))
    insert(
        engine,
        {"body": "hello a1", "channel": "a", "n": 1},
        {"body": "hello a2", "channel": "a", "n": 2},
        {"body": "hello b1", "channel": "b", "n": 1},
        {"body": "hello none", "channel": None},
        {"body": "hello missing"},
    )
    assert sorted(search(engine, "hello", channel="a")) == ["hello a1", "hello a2"]
    assert search(engine, "hello", channel="a", n=1) == ["hello a1"]
    assert search(engine, "hello", n=1, channel="b") == ["hello b1"]
    assert search(engine, "hello", channel=None) == ["hello none"]
    assert search(engine, "hello", channel="zzz") == []
    assert len(search(engine, "hello")) == 5


def test_documents_whose_search_field_is_not_a_string_are_not_indexed(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(schema())
    insert(engine, {"body": 42}, {"body": ["hello"]}, {"channel": "x"}, {"body": "hello"})
    assert search(engine, "hello") == ["hello"]


def test_mutation_sees_its_own_writes_and_rollback_leaves_nothing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(schema())

    def write_and_search(tx: Transaction) -> list[str]:
        tx.insert("messages", {"body": "fresh news", "channel": "a"})
        found = tx.query("messages").with_search_index(
            "search_body", lambda q: q.search("body", "news").eq("channel", "a")
        )
        return [d["body"] for d in found.collect()]

    assert mutate(engine, write_and_search).value == ["fresh news"]

    def fail(tx: Transaction) -> None:
        tx.insert("messages", {"body": "doomed news"})
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        mutate(engine, fail)
    assert search(engine, "doomed") == []
    assert search(engine, "news") == ["fresh news"]


def test_patch_replace_and_delete_keep_the_index_in_step(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    (doc_id,) = insert(engine, {"body": "first version", "channel": "a"})
    mutate(engine, lambda tx: tx.patch(doc_id, {"body": "second edition"}))
    assert search(engine, "first") == [] and search(engine, "second") == ["second edition"]
    mutate(engine, lambda tx: tx.patch(doc_id, {"channel": "b"}))
    assert search(engine, "second", channel="a") == []
    assert search(engine, "second", channel="b") == ["second edition"]
    mutate(engine, lambda tx: tx.replace(doc_id, {"body": "third", "channel": "b"}))
    assert search(engine, "second") == [] and search(engine, "third") == ["third"]
    mutate(engine, lambda tx: tx.delete(doc_id))
    assert search(engine, "third") == []
    insert(engine, {"body": "third again"})
    assert search(engine, "third") == ["third again"]


def test_filter_first_unique_and_iteration_after_a_search(corpus: Engine) -> None:
    def run(tx: Transaction) -> Any:
        q = lambda: tx.query("messages").with_search_index(  # noqa: E731
            "search_body", lambda s: s.search("body", "quick fox")
        )
        return (
            [d["body"] for d in q().filter(lambda d: "brown" not in d["body"]).take(2)],
            q().first()["body"],
            [d["body"] for d in q()],
            q().filter(lambda d: d["body"] == "a fox").unique()["body"],
        )

    taken, first, every, unique = read(corpus, run)
    assert taken == ["foxes are quick animals", "quick quick quick fox"]
    assert first == "foxes are quick animals"
    assert every == search(corpus, "quick fox")
    assert unique == "a fox"


def test_paginate_walks_the_ranking(corpus: Engine) -> None:
    insert(corpus, *({"body": f"fox number {i}"} for i in range(7)))
    everything = search(corpus, "fox")
    assert len(everything) == 11

    def page(cursor: str | None, n: int = 4) -> dict[str, Any]:
        return read(
            corpus,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "fox"))
            .paginate({"numItems": n, "cursor": cursor}),
        )

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        result = page(cursor)
        seen += [d["body"] for d in result["page"]]
        cursor = result["continueCursor"]
        if result["isDone"]:
            break
    assert seen == everything
    other = page(None)["continueCursor"]
    with pytest.raises(InvalidCursorError):
        read(
            corpus,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "dog"))
            .paginate({"numItems": 2, "cursor": other}),
        )


def test_adding_a_search_index_backfills_and_removing_drops_it(
    make_engine: EngineFactory,
) -> None:
    plain = define_schema({"messages": define_table({"body": v.string()})})
    engine = make_engine(plain)
    insert(engine, {"body": "old words"}, {"body": "older words"})
    progress: list[tuple[str, int, int]] = []
    engine.set_schema(schema(filter_fields=()), lambda *a: progress.append(a))
    assert search(engine, "words") == ["older words", "old words"]  # a tie: newest first
    assert ("backfilling messages.search_body", 2, 2) in progress
    engine.set_schema(plain)
    with pytest.raises(InvalidQueryError, match="no search index 'search_body'"):
        search(engine, "words")
    engine.set_schema(schema(filter_fields=()))
    assert search(engine, "older") == ["older words"]


def test_search_index_survives_reopening(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    insert(engine, {"body": "durable text"})
    engine = make_engine.reopen(engine)
    assert search(engine, "durable") == ["durable text"]


def test_bad_searches_are_clear_errors(make_engine: EngineFactory) -> None:
    engine = make_engine(schema(("channel", "n")))
    insert(engine, {"body": "something"})

    def attempt(build: Any, index: str = "search_body") -> None:
        read(engine, lambda tx: tx.query("messages").with_search_index(index, build).take(5))

    with pytest.raises(InvalidQueryError, match=r"no search index 'nope'; its .* search_body"):
        attempt(lambda q: q.search("body", "x"), "nope")
    with pytest.raises(InvalidQueryError, match="searches 'body', not 'title'"):
        attempt(lambda q: q.search("title", "x"))
    with pytest.raises(InvalidQueryError, match=r"before q\.eq"):
        attempt(lambda q: q.eq("channel", "a"))
    with pytest.raises(InvalidQueryError, match="cannot filter on 'author'"):
        attempt(lambda q: q.search("body", "x").eq("author", "a"))
    with pytest.raises(InvalidQueryError, match=r"needs q\.search"):
        attempt(lambda q: q)
    with pytest.raises(InvalidQueryError, match="more than 16 terms"):
        attempt(lambda q: q.search("body", " ".join(f"w{i}" for i in range(17))))
    with pytest.raises(InvalidQueryError, match="right after"):
        read(
            engine,
            lambda tx: tx.query("messages")
            .filter(lambda d: True)
            .with_search_index("search_body", lambda q: q.search("body", "x")),
        )
    with pytest.raises(InvalidQueryError, match="relevance order"):
        read(
            engine,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "x"))
            .order("desc"),
        )
    with pytest.raises(InvalidQueryError, match="at most 1024 results"):
        read(
            engine,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "x"))
            .take(1025),
        )


def test_a_ten_thousand_term_search_fails_fast(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    text = " ".join(f"term{i}" for i in range(10_000))
    started = time.perf_counter()
    with pytest.raises(InvalidQueryError, match="more than 16 terms"):
        search(engine, text)
    assert time.perf_counter() - started < 0.5


def test_more_than_eight_filters_is_an_error() -> None:
    fields = [f"f{i}" for i in range(9)]
    table = define_table({f: v.any() for f in ["body", *fields]}).search_index(
        "s", search_field="body", filter_fields=fields
    )
    from livebase.search.builder import SearchFilter

    q = SearchFilter("s", "body", tuple(fields)).search("body", "x")
    for f in fields[:8]:
        q = q.eq(f, 1)
    with pytest.raises(InvalidQueryError, match="at most 8"):
        q.eq(fields[8], 1)
    assert table.search_indexes["s"].filter_fields == tuple(fields)


def test_schema_limits_on_search_indexes() -> None:
    t = define_table({"body": v.string()})
    for i in range(4):
        t.search_index(f"s{i}", search_field="body")
    with pytest.raises(ValueError, match="at most 4 search indexes"):
        t.search_index("s4", search_field="body")
    with pytest.raises(ValueError, match="at most 16 filter fields"):
        define_table().search_index(
            "s", search_field="b", filter_fields=[f"f{i}" for i in range(17)]
        )
    with pytest.raises(ValueError, match="defined twice"):
        define_table().index("x", ["a"]).search_index("x", search_field="b")


def test_collect_refuses_more_than_1024_results(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    for start in range(0, 1025, 205):  # small mutations: each well inside the time limit
        insert(engine, *({"body": f"common {i}"} for i in range(start, start + 205)))
    with pytest.raises(InvalidQueryError, match="more than 1024"):
        read(
            engine,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", lambda q: q.search("body", "common"))
            .collect(),
        )
    assert len(search(engine, "common", 1024)) == 1024


def test_a_migrated_database_rebuilds_its_search_indexes(make_engine: EngineFactory) -> None:
    from livebase.migrate import copy_database
    from livebase.storage import open_storage

    source = make_engine(schema())
    insert(source, {"body": "moved along", "channel": "a"})
    target = make_engine(schema(), path=make_engine.path("target.db"))
    insert(target, {"body": "stale text that must go", "channel": "a"})
    target_path = make_engine.path("target.db")
    make_engine.close(target)
    storage_target = open_storage(target_path, "normal")
    try:
        copy_database(source.storage, storage_target, force=True)
    finally:
        storage_target.close()
    copied = make_engine(schema(), path=target_path)
    assert search(copied, "moved", channel="a") == ["moved along"]
    assert search(copied, "stale") == []


def test_both_backends_compute_the_same_scores_bit_for_bit(tmp_path: Any) -> None:
    """PostgreSQL's score is FTS5's bm25() step for step: over a random corpus every hit has
    the same score (equal floats, not close ones) and the same place on both backends."""
    import asyncio
    import random

    from livebase.storage import open_storage
    from livebase.storage.search_types import SearchRequest
    from tests.support.postgres import fresh_database_url

    rng = random.Random(14)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu pi".split()
    bodies = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(300)]
    requests = [
        SearchRequest(("alpha",), "be", (), 60),
        SearchRequest(("gamma", "pi"), "e", (), 60),
        SearchRequest((), "k", (), 60),
        SearchRequest(("mu",), "nu", (), 60),
    ]

    def run(url: Any) -> list[list[tuple[float, str]]]:
        engine = Engine(open_storage(url, "normal"), schema())
        engine.open()
        try:

            def fill(tx: Transaction) -> list[str]:
                return [tx.insert("messages", {"body": b, "channel": "a"}) for b in bodies]

            ids = asyncio.run(engine.mutate(fill)).value
            index = engine.catalog.tables["messages"].search_indexes["search_body"].index_id
            with engine.storage.reader() as r:
                return [
                    [(h.score, str(ids.index(h.doc_id))) for h in r.search(index, q)]
                    for q in requests
                ]
        finally:
            engine.close()

    on_sqlite = run(tmp_path / "scores.sqlite3")
    with fresh_database_url() as url:
        on_postgres = run(url)
    assert [len(x) for x in on_sqlite] == [60, 60, 60, 60]
    assert on_sqlite == on_postgres


def test_pruned_searches_give_exactly_the_full_ranking(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top-k pruning (``search_prune``) ranks only the rare terms' documents when the common
    terms cannot lift anyone else into the top k: over a Zipf corpus, every search, filtered or
    not, first page or later, gives the same documents and scores as the full ranking, and
    the pruned answer is taken for most of them (a filtered search is never pruned)."""
    import random

    from livebase.storage import search_prune

    rng = random.Random(17)
    words = [f"w{i}" for i in range(60)]
    weights = [1.0 / (rank + 1) ** 1.3 for rank in range(len(words))]
    engine = make_engine(schema())
    bodies = [" ".join(rng.choices(words, weights, k=rng.randint(2, 14))) for _ in range(500)]
    insert(engine, *({"body": b, "channel": f"c{i % 3}"} for i, b in enumerate(bodies)))
    texts = [f"{words[0]} {words[r]}" for r in range(20, 60, 3)]  # common + rare
    texts += [f"{words[1]} {words[2]} w4", "w0 w5", "w0 w1 w3"]  # common only: no pruning

    def run(text: str, channel: str | None, cursor: str | None) -> dict[str, Any]:
        def build(q: Any) -> Any:
            q = q.search("body", text)
            return q.eq("channel", channel) if channel else q

        return read(
            engine,
            lambda tx: tx.query("messages")
            .with_search_index("search_body", build)
            .paginate({"numItems": 3, "cursor": cursor}),
        )

    def walk(text: str, channel: str | None) -> list[list[str]]:
        pages, cursor = [], None
        for _ in range(3):
            result = run(text, channel, cursor)
            pages.append([d["_id"] for d in result["page"]])
            cursor = result["continueCursor"]
        return pages

    settled: list[bool] = []
    real_settled = search_prune.Plan.settled

    def counted(plan: search_prune.Plan, kth: float) -> bool:
        settled.append(real_settled(plan, kth))
        return settled[-1]

    monkeypatch.setattr(search_prune.Plan, "settled", counted)
    cases = [(t, c) for t in texts for c in (None, "c1")]
    monkeypatch.setattr(search_prune, "CANDIDATE_BUDGET", 40)
    pruned = [walk(t, c) for t, c in cases]
    assert settled.count(True) >= len(texts), settled  # most rare-term searches were pruned
    monkeypatch.setattr(search_prune, "CANDIDATE_BUDGET", 0)
    full = [walk(t, c) for t, c in cases]
    assert pruned == full
    assert all(len(pages[0]) == 3 for pages in full)


def test_pruning_bound_holds_for_scores() -> None:
    """A term's bound is above anything it can add: a document of one token holding it."""
    from livebase.storage.search_prune import bm25, idf, plan

    n_docs, hits = 1000, {"rare": 3, "common": 900, "mid": 200}
    chosen = plan(["common", "rare", "mid"], hits, n_docs, budget=10)
    assert chosen is not None and chosen.essential == ["rare"]
    best_other = bm25([idf(n_docs, 900), idf(n_docs, 200)], [50.0, 50.0], 2.0, 20.0)
    assert best_other < chosen.bound
    assert not chosen.settled(chosen.bound) and chosen.settled(chosen.bound + 0.01)
    assert plan(["rare", "mid"], hits, n_docs, budget=1000) is None  # all fit: nothing to prune
    assert plan(["common", "mid"], hits, n_docs, budget=10) is None  # none fits
