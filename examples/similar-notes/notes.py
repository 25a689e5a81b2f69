"""Notes found by meaning: an action embeds each note's text as it is added; a query (reactive,
beyond Convex) and an action (as Convex) find the notes nearest a search text."""

from __future__ import annotations

from typing import Any

from livebase import action, internal_mutation, query

from ._embedder import embed_passage, embed_query


@internal_mutation
def insert(ctx: Any, text: str, tag: str, embedding: list) -> str:
    return ctx.db.insert("notes", {"text": text, "tag": tag, "embedding": embedding})


@action
def add(ctx: Any, text: str, tag: str = "general") -> str:
    """Embed ``text`` (outside any transaction) and store the note."""
    return ctx.run_mutation(
        "notes:insert", {"text": text, "tag": tag, "embedding": embed_passage(text)}
    )


@action
def embed(ctx: Any, text: str) -> list:
    """The query vector of a search text; pass it to ``notes:similar`` to subscribe."""
    return embed_query(text)


@query
def similar(ctx: Any, vector: list, tag: str | None = None, limit: float = 5) -> list:
    """The notes nearest ``vector``, best first: re-pushed when a note (of ``tag``) is added."""
    flt = (lambda q: q.eq("tag", tag)) if tag is not None else None
    found = ctx.db.query("notes").with_vector_index(
        "by_embedding", vector=vector, limit=int(limit), filter=flt
    )
    return [{"text": n["text"], "tag": n["tag"], "score": n["_score"]} for n in found]


@action
def search(ctx: Any, text: str, limit: float = 5) -> list:
    """The same search in an action, Convex's way: ``[{"_id", "_score"}]`` then the notes."""
    hits = ctx.vector_search("notes", "by_embedding", vector=embed_query(text), limit=int(limit))
    return [h["_id"] for h in hits]
