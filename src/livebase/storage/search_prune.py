"""Top-k pruning for full-text searches that hold a common word (MaxScore, per term).

A search scores every document holding any of its terms, so a search with a word found in most
documents ("the", or a short prefix) scores most of the index to return ten. But a term's
contribution to a BM25 score is at most ``idf * (k1 + 1)``, and a very common term's idf is tiny.
So the backends first rank only the documents holding the *essential* terms — the rarest ones,
as many as keep the candidates under ``CANDIDATE_BUDGET`` documents — scoring them with every
term of the search, exactly as the full ranking would. Any other document holds only the
remaining, common terms and scores at most the sum of their bounds; when the k-th candidate
scores above that sum, no other document can enter the top k and the candidates' ranking is
the answer, bit for bit. Otherwise (too few candidates, or a bound too high) the backend ranks
all matches as before. Filters only shrink the candidates, so they never break the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from livebase.storage.search_types import BM25_B, BM25_K1, IDF_FLOOR

CANDIDATE_BUDGET = 1000
"""Documents (by the essential terms' document counts) a pruned search may score."""
_MARGIN = 1e-9  # a bound is a sum of floats: keep clear of rounding at the cut


def idf(n_docs: int, hits: int) -> float:
    """FTS5's ``bm25()`` idf, with its floor for terms in half the documents or more."""
    value = math.log((n_docs - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else IDF_FLOOR


@dataclass(frozen=True)
class Plan:
    essential: list[str]
    """The terms whose documents are the candidates (rarest first)."""
    bound: float
    """The most any document holding none of them can score."""

    def settled(self, kth_score: float) -> bool:
        """Whether a k-th best candidate scoring ``kth_score`` beats every other document."""
        return kth_score > self.bound * (1 + _MARGIN) + _MARGIN


def plan(
    terms: Sequence[str], hits: dict[str, int], n_docs: int, budget: int | None = None
) -> Plan | None:
    """The essential terms of a search over ``terms`` (``hits``: documents holding each), or
    None when pruning cannot help: the rarest term alone is over the budget, or every term
    fits in it (then the full ranking scores few documents anyway)."""
    budget = CANDIDATE_BUDGET if budget is None else budget
    if budget <= 0:
        return None
    ranked = sorted(terms, key=lambda t: (hits.get(t, 0), t))
    essential: list[str] = []
    total = 0
    for term in ranked:
        count = hits.get(term, 0)
        if total + count > budget:
            break
        essential.append(term)
        total += count
    if not essential or len(essential) == len(ranked):
        return None
    rest = ranked[len(essential) :]
    bound = sum(idf(n_docs, hits.get(t, 0)) * (BM25_K1 + 1.0) for t in rest)
    return Plan(essential, bound)


def bm25(idfs: Sequence[float], freqs: Sequence[float], size: float, avgdl: float) -> float:
    """One document's score, with exactly FTS5's floating-point steps (``fts5_aux.c``), so it
    equals ``-bm25()`` bit for bit: ``freqs`` per phrase in the search's order, ``size`` the
    document's tokens in every column."""
    k1, b = BM25_K1, BM25_B
    score = 0.0
    for weight, f in zip(idfs, freqs, strict=True):
        score += weight * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * size / avgdl)))
    return score
