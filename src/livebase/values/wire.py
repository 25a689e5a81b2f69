"""Convex encoded JSON (``format: convex_encoded_json``), clean JSON export, and timestamps.

Encoded JSON is lossless: int64 (``Int64``) travels as ``{"$integer": base64(8 bytes LE)}``, bytes
as ``{"$bytes": base64}``, and the float64 values JSON cannot carry (NaN, ±inf, -0) as
``{"$float": base64(8 bytes LE)}``. Every plain JSON number is a float64 and is always written with
a decimal point or exponent, because the official Python HTTP client rejects JSON integers. A
Python ``int`` is written as a float64 (and refused beyond 2**53); a float64 read back is an
``int`` when it is a whole number (see ``livebase.values.types``).

Nesting contract: no input, however deep, makes ``from_wire``, ``to_wire`` or ``to_clean_json``
raise ``RecursionError``. Each walks at most ``max_depth`` levels of arrays and objects (the
outermost array or object is level 1; ``{"$integer": ...}`` and the other special forms are
scalars) and raises ``InvalidValueError`` (code ``InvalidValue``, an HTTP 400) naming the limit and
the path where it was crossed as soon as a value goes deeper. Code decoding untrusted input (the
HTTP function API, sync-protocol arguments) passes the deployment's ``Limits.max_nesting``
(``LIVEBASE_MAX_NESTING``, default 16, Convex's document nesting limit); the default,
``MAX_WIRE_NESTING`` (64, Convex's limit for any value), is the ceiling that setting may reach, so
stored documents and results always decode. ``loads`` refuses JSON nested more than 1,024 deep
(orjson's parser limit) with ``InvalidJsonError`` before any of this runs.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
from typing import Any

import orjson

from livebase.errors import InvalidJsonError, InvalidValueError
from livebase.values.types import (
    GOOD_NAMES,
    INT64_MAX,
    INT64_MIN,
    MAX_SAFE_INT,
    MAX_WIRE_NESTING,
    Int64,
    Kept,
    StoredDocument,
    Value,
    as_number,
    beyond_float64,
    check_field_name,
    good_field_name,
    is_special_float,
)


def too_deep(max_depth: int, path: str, what: str = "value") -> InvalidValueError:
    """The error for a value nested more than ``max_depth`` arrays/objects deep at ``path``."""
    where = f"{what}: {path}" if path else what
    return InvalidValueError(
        f"{where} is nested deeper than {max_depth} levels of arrays and objects "
        f"(the nesting limit, LIVEBASE_MAX_NESTING, is {max_depth})"
    )


def to_wire(value: Value, *, max_depth: int = MAX_WIRE_NESTING, _depth: int = 0) -> Any:
    """Python value -> JSON-ready structure in Convex encoded JSON; ``InvalidValueError`` for
    anything that is not a Convex value or is nested more than ``max_depth`` levels."""
    kind = type(value)  # the common exact types first: ``isinstance`` chains cost per value
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        if value != 0.0 and math.isfinite(value):  # type: ignore[arg-type]
            return value
    elif kind is int:
        if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:  # type: ignore[operator]
            return float(value)  # type: ignore[arg-type]
    elif kind is StoredDocument and value.unchanged():  # type: ignore[union-attr]
        if _depth >= max_depth:
            raise too_deep(max_depth, "")
        return dict(_kept_wire(value.kept))  # type: ignore[union-attr]
    elif kind is dict or kind is list:
        if _depth >= max_depth:
            raise too_deep(max_depth, "")
        depth = _depth + 1
        if kind is list:
            return [to_wire(v, max_depth=max_depth, _depth=depth) for v in value]  # type: ignore[union-attr]
        return {k: to_wire(v, max_depth=max_depth, _depth=depth) for k, v in value.items()}  # type: ignore[union-attr]
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, Int64):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidValueError(f"integer {value} does not fit in int64")
        return {"$integer": base64.b64encode(struct.pack("<q", value)).decode("ascii")}
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise beyond_float64(value)
        return float(value)
    if isinstance(value, float):
        if is_special_float(value):
            return {"$float": base64.b64encode(struct.pack("<d", value)).decode("ascii")}
        return value
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, dict)):
        if _depth >= max_depth:
            raise too_deep(max_depth, "")
        depth = _depth + 1
        if isinstance(value, list):
            return [to_wire(v, max_depth=max_depth, _depth=depth) for v in value]
        return {k: to_wire(v, max_depth=max_depth, _depth=depth) for k, v in value.items()}
    raise InvalidValueError(f"cannot encode {type(value).__name__} as a Convex value")


def _kept_wire(kept: Kept) -> dict[str, Any]:
    """A kept document's wire form, made the first time it is needed (its values are scalars:
    no depth to count)."""
    if kept.wire is None:
        kept.wire = {key: to_wire(value) for key, value in kept.template.items()}
    return kept.wire


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidValueError(f"{what} must hold a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidValueError(f"{what} holds invalid base64: {text!r}") from None


def from_wire(
    data: Any, path: str = "", *, max_depth: int = MAX_WIRE_NESTING, what: str = "value"
) -> Value:
    """JSON structure in Convex encoded JSON -> Python value. JSON numbers are float64: whole
    ones come back as ``int``, others as ``float``; ``{"$integer": ...}`` is an ``Int64``.

    ``InvalidValueError`` (never ``RecursionError``) for anything that is not a Convex value or
    holds arrays/objects nested more than ``max_depth`` levels; ``what`` names the value in that
    message (``"arguments"``)."""
    try:
        return _fast_from_wire(data, 0, max_depth)
    except _Unusual:
        return _from_wire(data, path, max_depth, 0, what)


class _Unusual(Exception):
    """Raised by ``_fast_from_wire`` for what it leaves to ``_from_wire``: the special
    ``$``-forms, numbers beyond 2**53, and every error (whose message needs the path)."""


def _fast_from_wire(data: Any, depth: int, max_depth: int) -> Value:
    """``_from_wire`` for the common shapes, without building paths."""
    kind = type(data)
    if kind is str or kind is bool or data is None:
        return data  # type: ignore[no-any-return]
    if kind is float:
        if not math.isfinite(data):
            raise _Unusual
        return as_number(data)
    if kind is int:
        if -MAX_SAFE_INT <= data <= MAX_SAFE_INT:
            return data  # type: ignore[no-any-return]
        raise _Unusual
    if depth >= max_depth:
        raise _Unusual
    if kind is dict:
        out: dict[str, Value] = {}
        for key, inner in data.items():
            if key not in GOOD_NAMES and not good_field_name(key):
                raise _Unusual  # a "$"-form, or a bad name
            out[key] = _fast_from_wire(inner, depth + 1, max_depth)
        return out
    if kind is list:
        return [_fast_from_wire(inner, depth + 1, max_depth) for inner in data]
    raise _Unusual


def _from_wire(data: Any, path: str, max_depth: int, depth: int, what: str) -> Value:
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, (int, float)):
        try:
            x = float(data)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise InvalidValueError(f"JSON number at {path or 'top level'} is out of range")
        return as_number(x)
    if isinstance(data, list):
        if depth >= max_depth:
            raise too_deep(max_depth, path, what)
        depth += 1
        return [_from_wire(v, f"{path}[{i}]", max_depth, depth, what) for i, v in enumerate(data)]
    if isinstance(data, dict):
        if len(data) == 1:
            ((key, inner),) = data.items()
            if key == "$integer":
                raw = _b64(inner, "$integer")
                if len(raw) != 8:
                    raise InvalidValueError(f"$integer at {path or 'top level'} must be 8 bytes")
                return Int64(struct.unpack("<q", raw)[0])
            if key == "$float":
                raw = _b64(inner, "$float")
                if len(raw) != 8:
                    raise InvalidValueError(f"$float at {path or 'top level'} must be 8 bytes")
                x = float(struct.unpack("<d", raw)[0])
                if not is_special_float(x):
                    raise InvalidValueError(f"$float at {path or 'top level'} must be NaN/±inf/-0")
                return x
            if key == "$bytes":
                return _b64(inner, "$bytes")
        if depth >= max_depth:
            raise too_deep(max_depth, path, what)
        out: dict[str, Value] = {}
        for key, inner in data.items():
            check_field_name(key, path)
            sub = f"{path}.{key}" if path else key
            out[key] = _from_wire(inner, sub, max_depth, depth + 1, what)
        return out
    raise InvalidValueError(f"unexpected JSON value {data!r}")


def dumps(data: Any) -> str:
    """Serialise a JSON-ready structure (``to_wire`` output) compactly; floats keep their
    decimal point or exponent."""
    return dumps_bytes(data).decode("utf-8")


def dumps_bytes(data: Any) -> bytes:
    """``dumps`` as UTF-8 bytes (what HTTP bodies and storage want)."""
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise InvalidValueError(f"cannot serialise to JSON: {exc}") from None


def loads(text: str | bytes) -> Any:
    """Parse a request body; any malformed input (including NaN/Infinity literals and lone
    surrogates) is an ``InvalidJsonError``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidJsonError(f"request body is not valid JSON: {exc}") from None


def to_clean_json(value: Value, *, max_depth: int = MAX_WIRE_NESTING, _depth: int = 0) -> Any:
    """The lossy ``format: json`` export: int64 as a decimal string, bytes as base64 text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Int64):
        return str(value)
    if isinstance(value, int):
        return float(value)  # written as 3.0, as the encoded form does
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if _depth >= max_depth:
        raise too_deep(max_depth, "")
    depth = _depth + 1
    if isinstance(value, list):
        return [to_clean_json(v, max_depth=max_depth, _depth=depth) for v in value]
    return {k: to_clean_json(v, max_depth=max_depth, _depth=depth) for k, v in value.items()}


@functools.lru_cache(maxsize=4096)
def encode_ts(ts: int) -> str:
    """A commit timestamp (u64 ns) as base64 of 8 little-endian bytes."""
    if not 0 <= ts <= INT64_MAX:
        raise InvalidValueError(f"timestamp {ts} is out of range")
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


def decode_ts(text: object) -> int:
    raw = _b64(text, "timestamp")
    if len(raw) != 8:
        raise InvalidValueError("timestamp must be 8 bytes of base64")
    ts = int(struct.unpack("<Q", raw)[0])
    if ts > INT64_MAX:
        raise InvalidValueError("timestamp is out of range")
    return ts


__all__ = [
    "decode_ts",
    "dumps",
    "encode_ts",
    "from_wire",
    "loads",
    "to_clean_json",
    "to_wire",
    "too_deep",
]
