"""What the storage interface's full-text search methods take and give.

The engine tokenizes (``livebase.search``); a backend only stores terms and answers a search with
documents in relevance order. Both backends rank with the same BM25, as SQLite FTS5's ``bm25()``
computes it, so every search gives the same order on either:

    score(D) = sum over phrases p of idf(p) * tf(p, D) * (k1 + 1)
                                      / (tf(p, D) + k1 * (1 - b + b * |D| / avgdl))
    idf(p) = ln((N - n(p) + 0.5) / (n(p) + 0.5)), or 1e-6 where that is not positive

with k1 = 1.2 and b = 0.75; N is the number of indexed documents, n(p) how many hold term p,
tf(p, D) how often D holds it, and |D| the document's term count plus its number of filter fields
(FTS5 counts every column), avgdl the mean of |D|. Ties go to the newest document.
"""

from __future__ import annotations

from dataclasses import dataclass

BM25_K1 = 1.2
BM25_B = 0.75
IDF_FLOOR = 1e-6


@dataclass(frozen=True)
class SearchEntry:
    """One document in one search index."""

    terms: tuple[str, ...]
    """The search field's terms, in order, repeats kept."""
    filters: tuple[str, ...]
    """One token per filter field, the field's position and a hash of its value."""
    creation_time: float


@dataclass(frozen=True)
class SearchRequest:
    terms: tuple[str, ...]
    """Whole terms to match (distinct)."""
    prefix: str | None
    """The last term of the search string: matches up to 16 indexed terms starting with it."""
    filters: tuple[str, ...]
    """Filter tokens every result must have."""
    limit: int
    after: tuple[float, float, str] | None = None
    """Only results ranked after this ``(score, creation time, id)`` (the next page)."""


@dataclass(frozen=True)
class SearchHit:
    doc_id: str
    score: float
    creation_time: float
    document: str  # the stored JSON text
