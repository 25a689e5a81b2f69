"""Vector search: vector indexes on one array-of-float64 field, searched by cosine similarity
(or dot product) with equality filters; see ``docs/vector-search.md``.

This first version is an exact scan in the engine: every document of the table that passes the
filter is scored, so both backends give identical results.
"""
