"""Convex's filter builder beside Python predicates: ``.filter(lambda q: q.eq(q.field("x"), 1))``.

A ``.filter`` predicate gets each row as a ``FilterRow``: the document itself (a ``dict``, so
``lambda doc: doc["x"] == 1`` keeps working) that also answers Convex's ``FilterBuilder`` methods,
so a filter written for Convex ports one to one (``and``/``or``/``not`` become ``and_``/``or_``/
``not_``, reserved words in Python)::

    .filter(lambda q: q.and_(q.eq(q.field("channel"), "a"), q.gt(q.field("n"), 3)))

The builder is evaluated on the row at once: ``q.field(path)`` is the field's value (``a.b``
reaches into nested objects; a missing field is ``undefined``, which sorts before ``None``),
comparisons use Convex's order of values across types (``compare_values``), so
``q.eq(q.field("x"), None)`` is false when ``x`` is missing, as in Convex. Like any filter it is
a scan: rows it skips still count as read.
"""

from __future__ import annotations

import math
from typing import Any

from livebase.errors import InvalidQueryError
from livebase.values.ordering import MISSING, compare_values

UNDEFINED: Any = MISSING
"""What ``q.field`` gives for a field the row does not have (Convex's ``undefined``)."""


class FilterRow(dict[str, Any]):
    """One row given to a ``.filter`` predicate: the document, plus Convex's filter builder."""

    __slots__ = ()

    def field(self, path: str) -> Any:
        if not isinstance(path, str) or not path:
            raise InvalidQueryError(
                f"q.field() takes a field name like 'author' or 'a.b', got {path!r}"
            )
        value: Any = self
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return UNDEFINED
            value = value[part]
        return value

    # -- comparisons (Convex's order of values, across types) -------------------------------

    def eq(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) == 0

    def neq(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) != 0

    def lt(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) < 0

    def lte(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) <= 0

    def gt(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) > 0

    def gte(self, a: Any, b: Any) -> bool:
        return compare_values(a, b) >= 0

    # -- logic ---------------------------------------------------------------------------------

    def and_(self, *terms: Any) -> bool:
        return all(_boolean(term, "q.and_") for term in terms)

    def or_(self, *terms: Any) -> bool:
        return any(_boolean(term, "q.or_") for term in terms)

    def not_(self, term: Any) -> bool:
        return not _boolean(term, "q.not_")

    # -- arithmetic ----------------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        return _number(a, "q.add") + _number(b, "q.add")

    def sub(self, a: Any, b: Any) -> Any:
        return _number(a, "q.sub") - _number(b, "q.sub")

    def mul(self, a: Any, b: Any) -> Any:
        return _number(a, "q.mul") * _number(b, "q.mul")

    def div(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.div"), _number(b, "q.div")
        if isinstance(x, int) and isinstance(y, int):
            if y == 0:
                raise InvalidQueryError("q.div: division of an int64 by zero")
            return _truncated(x, y)
        if y != 0:
            return x / y
        if x == 0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)  # as IEEE 754 (JavaScript)

    def mod(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.mod"), _number(b, "q.mod")
        if y == 0:
            if isinstance(x, int) and isinstance(y, int):
                raise InvalidQueryError("q.mod: modulo of an int64 by zero")
            return math.nan
        if isinstance(x, int) and isinstance(y, int):
            return x - y * _truncated(x, y)  # the sign of the dividend, as JavaScript's %
        return math.fmod(x, y)  # the sign of the dividend, as JavaScript's %

    def neg(self, a: Any) -> Any:
        return -_number(a, "q.neg")


def _truncated(x: int, y: int) -> int:
    """int64 division: toward zero, exact for any size (not through a float)."""
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y > 0) else -q


def _boolean(term: Any, where: str) -> bool:
    if not isinstance(term, bool):
        raise InvalidQueryError(f"{where} takes conditions (true or false), got {term!r}")
    return term


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = "undefined (a missing field)" if value is UNDEFINED else repr(value)
        raise InvalidQueryError(f"{where} takes numbers, got {shown}")
    return value
