"""Convex's cross-type value order and the order-preserving byte encoding of index keys.

Order: (missing) < null < int64 (``Int64``) < float64 (``int`` and ``float``) < boolean < string
< bytes < array < object. Numbers compare numerically within their own type only; float64 uses
the IEEE total order (-NaN < -inf < … < -0 < +0 < … < +inf < +NaN). Strings compare by code
point, bytes by byte, arrays and objects lexicographically (objects as their list of (key, value)
pairs in key order).

``encode_key`` turns a tuple of values into bytes whose ``bytes`` order equals that value order, and
every encoded value is prefix-free (self-delimiting), so ``prefix + b"\\xff"`` bounds all keys that
start with a prefix. A property test proves both facts.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from livebase.values.types import Int64, Value

MISSING: Any = object()
"""Stands for an absent field in an index key; sorts before null (Convex's ``undefined``)."""

_TAG_MISSING = 0x01
_TAG_NULL = 0x02
_TAG_INT = 0x03
_TAG_FLOAT = 0x04
_TAG_BOOL = 0x05
_TAG_STRING = 0x06
_TAG_BYTES = 0x07
_TAG_ARRAY = 0x08
_TAG_OBJECT = 0x09
_END = b"\x00"


def _escape(raw: bytes) -> bytes:
    # 0x00 inside content becomes 0x00 0xff so that the 0x00 0x00 terminator sorts first.
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _float_bits(x: float) -> int:
    bits: int = struct.unpack(">Q", struct.pack(">d", x))[0]
    return bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)


def _encode_into(out: bytearray, value: Any) -> None:
    kind = type(value)
    if kind is str:
        out.append(_TAG_STRING)
        raw = value.encode("utf-8")
        out += (raw.replace(b"\x00", b"\x00\xff") if b"\x00" in raw else raw) + b"\x00\x00"
    elif kind is float:
        out.append(_TAG_FLOAT)
        out += struct.pack(">Q", _float_bits(value))
    elif kind is int:
        out.append(_TAG_FLOAT)  # a Python int is a float64 number
        out += struct.pack(">Q", _float_bits(float(value)))
    elif kind is Int64:
        out.append(_TAG_INT)
        out += struct.pack(">Q", value + (1 << 63))
    elif value is MISSING:
        out.append(_TAG_MISSING)
    elif value is None:
        out.append(_TAG_NULL)
    elif kind is bool:
        out.append(_TAG_BOOL)
        out.append(1 if value else 0)
    elif kind is bytes:
        out.append(_TAG_BYTES)
        out += _escape(value)
    elif kind is list:
        out.append(_TAG_ARRAY)
        for item in value:
            _encode_into(out, item)
        out += _END
    elif kind is dict:
        out.append(_TAG_OBJECT)
        for key in sorted(value):
            out += _escape(key.encode("utf-8"))
            _encode_into(out, value[key])
        out += _END
    elif isinstance(value, bool):
        _encode_into(out, bool(value))
    elif isinstance(value, (str, int, float, bytes, list, dict)):
        # A subclass (e.g. a StrEnum member): encode it as its base type.
        base: Any = next(t for t in (str, int, float, bytes, list, dict) if isinstance(value, t))
        _encode_into(out, base(value))
    else:
        raise TypeError(f"cannot index a {type(value).__name__}")


def encode_key(values: Sequence[Any]) -> bytes:
    """Order-preserving, prefix-free encoding of a tuple of values (``MISSING`` allowed)."""
    out = bytearray()
    for value in values:
        _encode_into(out, value)
    return bytes(out)


def _rank(value: Any) -> int:
    if value is MISSING:
        return 0
    if value is None:
        return 1
    if isinstance(value, bool):
        return 4
    if isinstance(value, Int64):
        return 2
    if isinstance(value, (int, float)):
        return 3
    if isinstance(value, str):
        return 5
    if isinstance(value, bytes):
        return 6
    if isinstance(value, list):
        return 7
    return 8


def compare_values(a: Value, b: Value) -> int:
    """-1, 0 or 1 by Convex's value order."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra <= 1:
        return 0
    if ra == 3:
        # The IEEE total order on the raw bits, exactly as encode_key orders floats (NaNs with
        # different payloads are different values and must not compare equal).
        ka, kb = _float_bits(float(a)), _float_bits(float(b))  # type: ignore[arg-type]
        return (ka > kb) - (ka < kb)
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=False):
            c = compare_values(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if isinstance(a, dict) and isinstance(b, dict):
        pa, pb = sorted(a.items()), sorted(b.items())
        for (ka_, va), (kb_, vb) in zip(pa, pb, strict=False):
            if ka_ != kb_:
                return -1 if ka_ < kb_ else 1
            c = compare_values(va, vb)
            if c:
                return c
        return (len(pa) > len(pb)) - (len(pa) < len(pb))
    return (a > b) - (a < b)  # type: ignore[operator]


def prefix_successor(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with ``prefix``."""
    return prefix + b"\xff"


def _skip(key: bytes, i: int) -> int:
    """The end offset of the encoded value starting at ``i``."""
    tag = key[i]
    if tag in (_TAG_MISSING, _TAG_NULL):
        return i + 1
    if tag in (_TAG_INT, _TAG_FLOAT):
        return i + 9
    if tag == _TAG_BOOL:
        return i + 2
    if tag in (_TAG_STRING, _TAG_BYTES):
        return _skip_escaped(key, i + 1)
    if tag == _TAG_ARRAY:
        i += 1
        while key[i] != 0:
            i = _skip(key, i)
        return i + 1
    if tag == _TAG_OBJECT:
        i += 1
        while key[i] != 0:
            i = _skip(key, _skip_escaped(key, i))
        return i + 1
    raise ValueError(f"not an encoded key: tag {tag:#x} at {i}")


def _skip_escaped(key: bytes, i: int) -> int:
    while True:
        j = key.index(b"\x00", i)
        if key[j + 1] == 0:
            return j + 2
        i = j + 2


def value_boundaries(key: bytes) -> list[int]:
    """Offsets where each encoded value of ``key`` ends: ``key[:b]`` are its value prefixes."""
    out = []
    i = 0
    while i < len(key):
        i = _skip(key, i)
        out.append(i)
    return out
