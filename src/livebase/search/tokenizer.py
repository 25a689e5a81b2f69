"""The search tokenizer and the search limits, as Convex documents them.

Text splits into terms at every character that is not a letter or a digit (Unicode: whitespace,
punctuation, ``_``, symbols), each term is lowercased, and a term longer than 32 bytes (UTF-8)
is dropped, like Tantivy's ``SimpleTokenizer`` with its lowercase and length filters. The same
tokenizer reads documents and search strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from livebase.errors import InvalidQueryError

MAX_SEARCH_INDEXES_PER_TABLE = 4
MAX_FILTER_FIELDS = 16
MAX_FILTERS_PER_QUERY = 8
MAX_TERMS_PER_QUERY = 16
MAX_TERM_BYTES = 32
MAX_RESULTS = 1024
"""Results one search may return (``take``, ``collect``, a page)."""
MAX_PREFIX_EXPANSIONS = 16
"""Indexed terms the last (prefix) term of a search may stand for, first in byte order."""

_WORD = re.compile(r"[^\W_]+")


def _terms(text: str) -> Iterator[str]:
    for match in _WORD.finditer(text):
        term = match.group().lower()
        if len(term.encode()) <= MAX_TERM_BYTES:
            yield term


def tokenize(text: str) -> list[str]:
    """The terms of ``text``, in order, duplicates kept (term frequencies count them)."""
    return list(_terms(text))


def query_terms(text: str) -> list[str]:
    """The terms of a search string; more than ``MAX_TERMS_PER_QUERY`` is an error, found
    without reading the rest of a long string."""
    if not isinstance(text, str):
        raise InvalidQueryError(f"q.search() takes a string to search for, got {text!r}")
    terms: list[str] = []
    for term in _terms(text):
        terms.append(term)
        if len(terms) > MAX_TERMS_PER_QUERY:
            raise InvalidQueryError(
                f"the search string has more than {MAX_TERMS_PER_QUERY} terms (words); "
                f"search for at most {MAX_TERMS_PER_QUERY}"
            )
    return terms
