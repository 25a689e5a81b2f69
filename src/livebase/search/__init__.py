"""Full-text search: the tokenizer, search queries (``with_search_index``), index entries and
the read sets that keep a subscribed search reactive. Storage backends hold the index itself
(SQLite FTS5, PostgreSQL tsvector/GIN); see ``docs/search.md``."""

from livebase.search.tokenizer import (
    MAX_FILTER_FIELDS,
    MAX_FILTERS_PER_QUERY,
    MAX_PREFIX_EXPANSIONS,
    MAX_RESULTS,
    MAX_SEARCH_INDEXES_PER_TABLE,
    MAX_TERM_BYTES,
    MAX_TERMS_PER_QUERY,
    query_terms,
    tokenize,
)

__all__ = [
    "MAX_FILTERS_PER_QUERY",
    "MAX_FILTER_FIELDS",
    "MAX_PREFIX_EXPANSIONS",
    "MAX_RESULTS",
    "MAX_SEARCH_INDEXES_PER_TABLE",
    "MAX_TERMS_PER_QUERY",
    "MAX_TERM_BYTES",
    "query_terms",
    "tokenize",
]
