"""The filter of a vector search: ``q.eq(field, value)``, or an OR of them
(``q.or_(q.eq(...), q.eq(...))`` or ``q.eq(...) | q.eq(...)``), as Convex's vector filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livebase.vectors.definition import VectorInputError


@dataclass(frozen=True)
class VectorFilter:
    """Documents whose field equals one of these (field, value) pairs."""

    eqs: tuple[tuple[str, Any], ...]

    def __or__(self, other: VectorFilter) -> VectorFilter:
        if not isinstance(other, VectorFilter):
            return NotImplemented
        return VectorFilter(self.eqs + other.eqs)


class VectorFilterBuilder:
    def __init__(self, index: str, filter_fields: tuple[str, ...] | None) -> None:
        """``filter_fields`` None: any field (an action in a worker process builds the filter
        there; the server checks the fields)."""
        self._index = index
        self._fields = filter_fields

    def eq(self, field: str, value: Any) -> VectorFilter:
        check_fields(self._index, self._fields, field)
        return VectorFilter(((field, value),))

    def or_(self, *filters: VectorFilter) -> VectorFilter:
        if not filters or not all(isinstance(f, VectorFilter) for f in filters):
            raise VectorInputError("q.or_() takes one or more q.eq(...) filters")
        return VectorFilter(tuple(e for f in filters for e in f.eqs))


def check_fields(index: str, filter_fields: tuple[str, ...] | None, field: str) -> None:
    if filter_fields is not None and field not in filter_fields:
            listed = ", ".join(filter_fields) if filter_fields else "none"
            raise VectorInputError(
                f"vector index {index!r}: {field!r} is not a filter field "
                f"(its filter fields are {listed})"
            )


def build_filter(
    index: str,
    filter_fields: tuple[str, ...] | None,
    build: Callable[[VectorFilterBuilder], Any] | VectorFilter | None,
) -> VectorFilter | None:
    if build is None:
        return None
    if isinstance(build, VectorFilter):
        for field, _ in build.eqs:
            check_fields(index, filter_fields, field)
        return build
    built = build(VectorFilterBuilder(index, filter_fields))
    if not isinstance(built, VectorFilter):
        raise VectorInputError(
            f"the filter given to the vector search on {index!r} must return q.eq(...) or "
            "q.or_(...)"
        )
    return built


def filter_to_wire(f: VectorFilter | None) -> list[list[Any]] | None:
    return None if f is None else [[k, v] for k, v in f.eqs]


def filter_from_wire(eqs: list[list[Any]] | None) -> VectorFilter | None:
    return None if eqs is None else VectorFilter(tuple((str(k), v) for k, v in eqs))
