"""What the storage interface's vector index methods take and give.

The engine picks the vectors and filter values out of documents (``livebase.vectors.entries``);
a backend only stores them and answers a search with candidate documents, nearest first, in
whatever precision its index computes (float32 for sqlite-vec). The engine then scores the
candidates again from the stored documents in float64, with the same code as the exact scan, so
every backend gives the same scores; it asks for more candidates than it returns so that a
float32 rounding near the cut cannot push a better document out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from livebase.values.ordering import encode_key


def filter_hash(value: Any) -> int:
    """A filter field's value as a signed 64-bit integer (a hash of its index-key encoding, so
    any value type works and equal values hash alike). Integers compare fast in sqlite-vec's
    metadata columns and in a PostgreSQL ``bigint``; the engine checks every candidate against
    its document, so a collision cannot let a wrong document through."""
    digest = hashlib.blake2b(encode_key((value,)), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class VectorIndexSpec:
    """What a backend needs to build one vector index."""

    dimensions: int
    metric: str  # "cosine" or "dot"
    filter_count: int  # filter fields, stored as columns f0 .. f<n-1>


@dataclass(frozen=True)
class VectorEntry:
    """One document in one vector index."""

    vector: tuple[float, ...]
    filters: tuple[int, ...]
    """``filter_hash`` of each filter field's value (of ``MISSING`` when the field is absent),
    in the index's filter-field order."""


@dataclass(frozen=True)
class VectorRequest:
    vector: tuple[float, ...]
    metric: str
    limit: int
    """How many candidates to return at most (the engine's ``limit`` plus a margin)."""
    any_of: tuple[tuple[int, int], ...] | None = None
    """Only documents where filter column ``position`` holds ``hash`` for at least one
    ``(position, hash)`` pair; None: no filter."""


@dataclass(frozen=True)
class VectorCandidate:
    doc_id: str
    document: str  # the stored JSON text
