"""The value encoding of snapshot ZIPs (``<table>/documents.jsonl``), as ``npx convex export``
writes it.

An int64 is a bare JSON integer (``123``), a finite float64 a JSON number with a decimal point or
exponent (``123.0``), bytes ``{"$bytes": base64}``, NaN/±inf/-0 ``{"$float": base64}``. Reading
also takes ``{"$integer": base64}`` (Convex encoded JSON, the wire form), so files written by hand
or by other tools with the wire encoding import the same way.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from livebase.errors import InvalidValueError
from livebase.values.types import Int64, Value, as_number, is_special_float
from livebase.values.wire import from_wire, to_wire


def to_export(value: Value) -> Any:
    """A Python value -> the export JSON structure (``orjson`` writes floats with a point)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, int):
        return to_wire(value)  # a float64: written with a decimal point
    if isinstance(value, float):
        return to_wire(value) if is_special_float(value) else value
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [to_export(x) for x in value]
    if isinstance(value, dict):
        return {k: to_export(x) for k, x in value.items()}
    raise InvalidValueError(f"cannot export {type(value).__name__} value")


def from_export(data: Any, path: str = "") -> Value:
    """An export JSON structure -> a Python value: JSON integers are int64 (``Int64``), other
    numbers float64 (an ``int`` when whole); the ``$``-forms as in Convex encoded JSON."""
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, int):
        if not -(1 << 63) <= data < (1 << 63):
            raise InvalidValueError(f"{path or 'value'}: integer {data} does not fit in int64")
        return Int64(data)
    if isinstance(data, float):
        if not math.isfinite(data):
            raise InvalidValueError(f"{path or 'value'}: number out of range")
        return as_number(data)
    if isinstance(data, list):
        return [from_export(x, f"{path}[{i}]") for i, x in enumerate(data)]
    if isinstance(data, dict):
        if len(data) == 1 and next(iter(data)) in ("$integer", "$float", "$bytes"):
            return from_wire(data, path)
        return {k: from_export(x, f"{path}.{k}" if path else k) for k, x in data.items()}
    raise InvalidValueError(f"{path or 'value'}: unexpected JSON value {data!r}")
