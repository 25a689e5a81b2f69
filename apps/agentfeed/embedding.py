"""A small deterministic text embedding (pure: stdlib only) for "similar sessions".

It needs no model and no download: each word and each pair of adjacent words of a text is
hashed (BLAKE2b) to one of ``DIMENSIONS`` components and a sign, the counts are damped
(``1 + log``) and the vector is scaled to unit length ("feature hashing"). Two texts score
high (cosine) when they share words, and higher when they share phrases; it knows nothing of
meaning (``deploy`` and ``release`` are unrelated to it) and collisions between words add a
little noise. It is the same on every machine and every Python version, so a stored vector
never goes stale.

Masks left by redaction (``[redacted:aws-key]``), numbers and the commonest English words
(``STOPWORDS``) are not features: sessions do not look alike because both pasted a secret, both
mention ``2`` or both say "the".
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter

DIMENSIONS = 256
BIGRAM_WEIGHT = 0.5
"""How much a pair of adjacent words counts, against 1 for a word."""
MAX_CHARS = 4000
"""Characters of a text that are embedded (the rest is ignored)."""

STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have i if in into is it its me my "
    "no not of on or our please so that the their then there these this to us was we were what "
    "when where which while why will with you your".split()
)
_MASK = re.compile(r"\[redacted:[^\]]*\]")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The lowercased words of ``text`` that count as features (no masks, no numbers, no
    ``STOPWORDS``)."""
    cleaned = _MASK.sub(" ", text[:MAX_CHARS])
    found = (w.lower() for w in _WORD.findall(cleaned) if not w.isdigit())
    return [w for w in found if w not in STOPWORDS]


def _slot(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return number % DIMENSIONS, -1.0 if number >> 63 else 1.0


def embed(text: str) -> list[float] | None:
    """``text``'s unit vector of ``DIMENSIONS`` floats, or None when it has no words."""
    found = words(text)
    if not found:
        return None
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(found)]
    vector = [0.0] * DIMENSIONS
    for features, weight in ((Counter(found), 1.0), (Counter(pairs), BIGRAM_WEIGHT)):
        for feature, count in features.items():
            slot, sign = _slot(feature)
            vector[slot] += sign * weight * (1.0 + math.log(count))
    return normalised(vector)


def normalised(vector: list[float]) -> list[float] | None:
    """``vector`` scaled to length 1 (None for a zero vector)."""
    length = math.sqrt(sum(x * x for x in vector))
    if length == 0.0:
        return None
    return [x / length for x in vector]


def add(total: list[float] | None, vector: list[float]) -> list[float]:
    """The sum of two vectors (``total`` None: ``vector``)."""
    if total is None or len(total) != len(vector):
        return list(vector)
    return [a + b for a, b in zip(total, vector, strict=True)]
