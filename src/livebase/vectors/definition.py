"""A vector index's definition, and the checks a document's vector field must pass."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from livebase.errors import InvalidQueryError

MIN_DIMENSIONS = 2
MAX_DIMENSIONS = 4096
MAX_FILTER_FIELDS = 16
MIN_LIMIT = 1
MAX_LIMIT = 256
DEFAULT_LIMIT = 10
METRICS = ("cosine", "dot")


class VectorInputError(InvalidQueryError):
    """A vector, limit or filter that a vector index cannot take."""


@dataclass(frozen=True)
class VectorIndexDefinition:
    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...] = ()
    metric: str = "cosine"

    def to_json(self) -> dict[str, Any]:
        return {
            "vectorField": self.vector_field,
            "dimensions": self.dimensions,
            "filterFields": list(self.filter_fields),
            "metric": self.metric,
        }


def make_definition(
    name: str,
    vector_field: str,
    dimensions: int,
    filter_fields: Sequence[str],
    metric: str,
) -> VectorIndexDefinition:
    filters = tuple(filter_fields)
    for f in (vector_field, *filters):
        if not isinstance(f, str) or not f or f.startswith("_"):
            raise ValueError(f"vector index {name!r}: {f!r} is not a field name")
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise ValueError(f"vector index {name!r}: dimensions must be an int")
    if not MIN_DIMENSIONS <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(
            f"vector index {name!r}: dimensions must be {MIN_DIMENSIONS}..{MAX_DIMENSIONS}, "
            f"got {dimensions}"
        )
    if len(filters) > MAX_FILTER_FIELDS:
        raise ValueError(f"vector index {name!r}: at most {MAX_FILTER_FIELDS} filter fields")
    if len(set(filters)) != len(filters) or vector_field in filters:
        raise ValueError(f"vector index {name!r}: a field is listed twice")
    if metric not in METRICS:
        raise ValueError(
            f"vector index {name!r}: metric must be 'cosine' or 'dot', got {metric!r}"
        )
    return VectorIndexDefinition(vector_field, dimensions, filters, metric)


def check_vector(value: Any, dimensions: int, what: str) -> list[float]:
    """``value`` as a list of ``dimensions`` finite floats, or a clear error naming ``what``."""
    if not isinstance(value, (list, tuple)):
        raise VectorInputError(f"{what} must be a list of {dimensions} numbers")
    if len(value) != dimensions:
        raise VectorInputError(
            f"{what} has {len(value)} dimensions; the index has {dimensions}"
        )
    out = []
    for i, x in enumerate(value):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise VectorInputError(f"{what}[{i}] is {type(x).__name__}, not a number")
        f = float(x)
        if not math.isfinite(f):
            raise VectorInputError(f"{what}[{i}] is {f}; vector components must be finite")
        out.append(f)
    return out


def check_limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit != int(limit):
        raise VectorInputError(
            f"limit must be an integer {MIN_LIMIT}..{MAX_LIMIT}, got {limit!r}"
        )
    if not MIN_LIMIT <= int(limit) <= MAX_LIMIT:
        raise VectorInputError(f"limit must be {MIN_LIMIT}..{MAX_LIMIT}, got {int(limit)}")
    return int(limit)
