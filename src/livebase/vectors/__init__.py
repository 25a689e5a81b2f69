"""Vector search: vector indexes on one array-of-float64 field, searched by cosine similarity
(or dot product) with equality filters; see ``docs/vector-search.md``.

The storage keeps one vector index per definition (``storage.sqlite_vectors``,
``storage.postgres_vectors``) in the same transaction as the documents; the engine
(``engine.vector_search``) rescores its candidates exactly, so both backends agree.
"""
