"""SQL literals for the values the storage layer itself binds, written straight into the text of
a queued statement (``postgres_deferred``).

The queue of a write transaction goes out as one message of plain SQL. psycopg's client-side
binding builds a new adapter set and parses the template for every statement it binds, about 60
microseconds each on this machine, which was most of a batch's cost. The storage layer's own
statements carry only a few types, and their literals are simple once the server treats
backslashes in strings literally (``standard_conforming_strings``, which ``PostgresStorage``
sets on every connection): text doubles its quotes, bytes are ``'\\x...'`` hex, integers are
digits, lists are ``ARRAY[...]``. Anything else (a float, a dict) gets ``None`` here, and the
caller binds that statement with psycopg instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def literal(value: Any) -> str | None:
    """``value`` as a SQL literal, or None if it is of a type this module does not write."""
    kind = type(value)  # the exact types first: a batch writes about 16 literals a mutation
    if kind is str:
        return _text(value)
    if kind is int:
        return str(value)
    if kind is bytes:
        return "'\\x" + bytes.hex(value) + "'::bytea"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return None  # a bool is an int in Python; never bound here
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "'\\x" + bytes(value).hex() + "'::bytea"
    if isinstance(value, list | tuple):
        items = [literal(x) for x in value]
        if any(x is None for x in items):
            return None
        return "ARRAY[" + ",".join(x for x in items if x is not None) + "]"
    return None


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("PostgreSQL text cannot contain NUL (0x00) characters")
    return "'" + value.replace("'", "''") + "'"


def rows(values: Sequence[Sequence[Any]]) -> str | None:
    """``(a,b),(c,d)``: the rows of a multi-row ``VALUES`` as literals, written in one pass
    rather than as a template of ``%s`` bound afterwards (a batch of six inserts' message: 53
    -> 43 us here, 81 -> 68 us on a loaded node); None if a value is of a type ``literal``
    does not write."""
    try:
        return ",".join(["(" + ",".join([literal(v) for v in row]) + ")" for row in values])  # type: ignore[misc]
    except TypeError:  # ``literal`` gave None: a sequence item that is not a str
        return None


def bind(sql: str, params: Sequence[Any] | None) -> str | None:
    """``sql`` with each ``%s`` replaced by its parameter's literal; None if a parameter is of
    a type ``literal`` does not write (or the statement uses other placeholders)."""
    if not params:
        return sql if params is None or "%" not in sql else None
    if not isinstance(params, list | tuple):
        return None
    texts = []
    for value in params:
        text = literal(value)
        if text is None:
            return None
        texts.append(text)
    try:
        return sql % tuple(texts)
    except (TypeError, ValueError):
        return None  # named placeholders, a literal %, or a count mismatch: psycopg decides
