"""The Convex value model in Python, and the one rule that maps Python numbers onto it.

The rule: a Python ``int`` is a Convex **int64**; a Python ``float`` is a Convex **float64**.
``bool`` is boolean (checked before ``int``, since ``bool`` subclasses ``int``). ``None`` is null,
``str`` is string, ``bytes`` is bytes, ``list`` is array and ``dict`` with ``str`` keys is object.
Nothing else is a value. ``v.number()`` additionally accepts an ``int`` and stores it as a float
(see ``livebase.values.validators``); that is the only implicit conversion anywhere.
"""

from __future__ import annotations

import math
from typing import Union

from livebase.errors import InvalidValueError

Value = Union[None, bool, int, float, str, bytes, list["Value"], dict[str, "Value"]]  # noqa: UP007

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_NESTING = 16
"""Default nesting limit of a value: Convex's document limit (``LIVEBASE_MAX_NESTING``)."""
MAX_WIRE_NESTING = 64
"""Convex's limit for any value (arguments, results), and the highest ``LIVEBASE_MAX_NESTING``
may be set to: every recursive walk of a value stays far below Python's recursion limit."""
MAX_FIELD_NAME_LEN = 1024


def type_name(value: object) -> str:
    """The Convex type name of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return f"Python {type(value).__name__} (not a Convex value)"


def check_field_name(name: object, path: str) -> None:
    if not isinstance(name, str):
        raise InvalidValueError(f"object keys must be strings, got {type(name).__name__} at {path}")
    if not name or len(name) > MAX_FIELD_NAME_LEN:
        raise InvalidValueError(f"field name at {path or 'top level'} must be 1..1024 characters")
    if name.startswith("$"):
        raise InvalidValueError(f"field name {name!r} at {path or 'top level'} starts with '$'")
    if not name.isascii() or not name.isprintable():
        raise InvalidValueError(f"field name {name!r} must be printable ASCII")


def check_string(s: str, path: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(f"string at {path or 'top level'} has a lone surrogate") from None


def check_value(
    value: object, path: str = "", depth: int = 0, max_depth: int = MAX_NESTING
) -> None:
    """Raise ``InvalidValueError`` unless ``value`` is a Convex value nested ``max_depth`` deep
    at most."""
    if value is None or isinstance(value, (bool, float, bytes)):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidValueError(f"integer at {path or 'top level'} does not fit in int64")
        return
    if isinstance(value, str):
        check_string(value, path)
        return
    if isinstance(value, (list, dict)):
        if depth >= max_depth:
            raise InvalidValueError(
                f"value at {path or 'top level'} is nested deeper than {max_depth} levels"
            )
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_value(item, f"{path}[{i}]", depth + 1, max_depth)
        else:
            for key, item in value.items():
                check_field_name(key, path)
                check_value(item, f"{path}.{key}" if path else key, depth + 1, max_depth)
        return
    raise InvalidValueError(f"{type_name(value)} at {path or 'top level'} cannot be stored or sent")


def value_size(value: Value) -> int:
    """Approximate stored size in bytes, in the spirit of Convex's ``getConvexSize``."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return 9
    if isinstance(value, str):
        return len(value.encode("utf-8")) + 2
    if isinstance(value, bytes):
        return len(value) + 2
    if isinstance(value, list):
        return 2 + sum(value_size(v) for v in value)
    return 2 + sum(len(k) + 1 + value_size(v) for k, v in value.items())


def is_special_float(x: float) -> bool:
    """NaN, the infinities and negative zero need the ``$float`` wire form."""
    return math.isnan(x) or math.isinf(x) or (x == 0.0 and math.copysign(1.0, x) < 0)
