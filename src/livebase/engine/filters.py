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
from livebase.values.types import Int64

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
        x, y = _number(a, "q.add"), _number(b, "q.add")
        ints = _int64_pair(x, y)
        return _wrapped(ints[0] + ints[1]) if ints else float(x) + float(y)

    def sub(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.sub"), _number(b, "q.sub")
        ints = _int64_pair(x, y)
        return _wrapped(ints[0] - ints[1]) if ints else float(x) - float(y)

    def mul(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.mul"), _number(b, "q.mul")
        ints = _int64_pair(x, y)
        return _wrapped(ints[0] * ints[1]) if ints else float(x) * float(y)

    def div(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.div"), _number(b, "q.div")
        ints = _int64_pair(x, y)
        if ints:
            if ints[1] == 0:
                raise InvalidQueryError("q.div: division of an int64 by zero")
            return _wrapped(_truncated(*ints))
        fx, fy = float(x), float(y)
        if fy != 0:
            return fx / fy
        if fx == 0 or math.isnan(fx):
            return math.nan
        return math.copysign(math.inf, fx) * math.copysign(1.0, fy)  # as IEEE 754 (JavaScript)

    def mod(self, a: Any, b: Any) -> Any:
        x, y = _number(a, "q.mod"), _number(b, "q.mod")
        ints = _int64_pair(x, y)
        if ints:
            i, j = ints
            if j == 0:
                raise InvalidQueryError("q.mod: modulo of an int64 by zero")
            return Int64(i - j * _truncated(i, j))  # the sign of the dividend, as JavaScript's %
        if y == 0:
            return math.nan
        return math.fmod(x, y)  # the sign of the dividend, as JavaScript's %

    def neg(self, a: Any) -> Any:
        x = _number(a, "q.neg")
        return _wrapped(-x) if isinstance(x, Int64) else -float(x)


def _int64_pair(x: int | float, y: int | float) -> tuple[Int64, Int64] | None:
    """int64 arithmetic needs two int64s (Convex's rule); anything else is float64."""
    return (x, y) if isinstance(x, Int64) and isinstance(y, Int64) else None


def _wrapped(n: int) -> Int64:
    """An int64 result wraps around on overflow, as Convex's (and JavaScript's BigInt.asIntN)."""
    return Int64((n + 2**63) % 2**64 - 2**63)


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
