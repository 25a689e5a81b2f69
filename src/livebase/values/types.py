"""The Convex value model in Python, and the rule that maps Python numbers onto it.

The rule is the one JavaScript and the official Python client follow: a number is a Convex
**float64** (a JavaScript ``number``), whether Python holds it as an ``int`` or a ``float``; a
Convex **int64** (a JavaScript ``bigint``) is an ``Int64``, an ``int`` subclass, and only where the
app says so (``v.int64()`` in a validator or the schema, or ``Int64(n)`` written by hand). Read
back, a float64 that is a whole number (of at most 2**53 in magnitude, and not -0.0) is an ``int``
and any other float64 a ``float``, so ``{"n": 2}`` comes back as ``2``, not ``2.0``.

An ``int`` beyond 2**53 in magnitude is not a value: float64 cannot hold it exactly, and losing
digits silently is worse than an error that names the fix (declare the field ``v.int64()`` or wrap
the number in ``Int64``). ``bool`` is boolean (checked before ``int``, since ``bool`` subclasses
``int``). ``None`` is null, ``str`` is string, ``bytes`` is bytes, ``list`` is array and ``dict``
with ``str`` keys is object. Nothing else is a value.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Union

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
MAX_SAFE_INT = 2**53
"""The largest magnitude a float64 holds every whole number up to (JavaScript's safe range)."""


class Int64(int):
    """A Convex int64 (a JavaScript ``bigint``): ``Int64(5)`` travels as ``{"$integer": ...}``.

    It is an ``int`` and behaves as one; arithmetic gives plain ``int`` results, which are
    float64 numbers again unless a ``v.int64()`` validator takes them."""

    __slots__ = ()

    def __new__(cls, value: object = 0) -> Int64:
        if isinstance(value, float) and not value.is_integer():
            raise InvalidValueError(f"Int64 takes a whole number, got {value!r}")
        number: Int64 = int.__new__(cls, value)  # type: ignore[call-overload]
        if not INT64_MIN <= number <= INT64_MAX:
            raise InvalidValueError(f"integer {int(number)} does not fit in int64")
        return number

    def __repr__(self) -> str:
        return f"Int64({int(self)})"

    __str__ = int.__repr__

    def __reduce__(self) -> tuple[type[Int64], tuple[int]]:
        return (Int64, (int(self),))


class StoredDocument(dict):  # type: ignore[type-arg]
    """A document as read from storage, when it holds no array or object: a copy of the one
    decoded form kept for its stored text (``engine.document_cache``), so reading it again costs
    a dict copy instead of a decode. It behaves as the ``dict`` it is; while the function that
    read it has not changed it (the same keys in the same order, every value still the *same
    object* as when it was read), checking it (``check_value``) and encoding it (``to_wire``)
    reuse what was found the first time. Pickled or copied, it is a plain ``dict``."""

    __slots__ = ("kept",)
    kept: Kept

    @staticmethod
    def of(kept: Kept) -> StoredDocument:
        doc = StoredDocument(kept.template)
        doc.kept = kept
        return doc

    def unchanged(self) -> bool:
        kept = self.kept
        return tuple(self) == kept.keys and all(map(operator.is_, self.values(), kept.values))

    def __reduce__(self) -> tuple[type[dict], tuple[dict[str, Value]]]:  # type: ignore[type-arg]
        return (dict, (dict(self),))

    def __copy__(self) -> dict[str, Value]:
        return dict(self)

    def copy(self) -> dict[str, Value]:
        return dict(self)


class Kept:
    """One stored document's decoded form (``StoredDocument``), never changed, and its wire form
    once something needed it."""

    __slots__ = ("keys", "template", "values", "wire")

    def __init__(self, template: dict[str, Value]) -> None:
        self.template = template
        self.keys = tuple(template)
        self.values = tuple(template.values())
        self.wire: dict[str, Any] | None = None
        """``to_wire(template)``, shared: never changed by anyone."""


def beyond_float64(value: int, path: str = "") -> InvalidValueError:
    """The error for a plain ``int`` that float64 cannot hold exactly."""
    where = f" at {path}" if path else ""
    return InvalidValueError(
        f"integer {value}{where} is beyond 2**53: a JavaScript number (float64) cannot hold it "
        "exactly. Declare the field v.int64() in the validator or schema, or wrap the number "
        "as livebase.Int64(n)"
    )


def as_number(x: float) -> int | float:
    """The Python form of a float64 read back: a whole number within 2**53 as ``int``."""
    if x.is_integer() and -MAX_SAFE_INT <= x <= MAX_SAFE_INT and (x != 0.0 or _positive(x)):
        return int(x)
    return x


def _positive(x: float) -> bool:
    return math.copysign(1.0, x) > 0


def type_name(value: object) -> str:
    """The Convex type name of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int):
        return "float64"
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


GOOD_NAMES: set[str] = set()
"""Field names already found valid (documents repeat the same few): a set lookup instead of the
checks. Bounded by ``GOOD_NAMES_MAX``; beyond it names are checked each time."""
GOOD_NAMES_MAX = 50_000


def good_field_name(name: object) -> bool:
    """Whether ``name`` is a valid field name (``check_field_name`` says why not)."""
    if name in GOOD_NAMES:
        return True
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_FIELD_NAME_LEN
        or name.startswith("$")
        or not name.isascii()
        or not name.isprintable()
    ):
        return False
    if len(GOOD_NAMES) < GOOD_NAMES_MAX and type(name) is str:
        GOOD_NAMES.add(name)
    return True


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


def _valid(value: object, depth: int, max_depth: int, big_ints: bool) -> bool:
    """``check_value``'s answer for the common shapes, fast: no paths are built (they are only
    needed for an error message). False also for what it does not know (subclasses): the full
    check decides those."""
    kind = type(value)
    if kind is str:
        return value.isascii() or _encodes(value)  # type: ignore[attr-defined, arg-type]
    if kind is float or kind is bool or value is None or kind is bytes:
        return True
    if kind is int:
        number: int = value  # type: ignore[assignment]
        return -MAX_SAFE_INT <= number <= MAX_SAFE_INT or (
            big_ints and INT64_MIN <= number <= INT64_MAX
        )
    if kind is dict:
        if depth >= max_depth:
            return False
        for key, item in value.items():  # type: ignore[attr-defined]
            if key not in GOOD_NAMES and not good_field_name(key):
                return False
            if not _valid(item, depth + 1, max_depth, big_ints):
                return False
        return True
    if kind is list:
        if depth >= max_depth:
            return False
        return all(_valid(item, depth + 1, max_depth, big_ints) for item in value)  # type: ignore[attr-defined]
    if kind is Int64:
        return INT64_MIN <= value <= INT64_MAX  # type: ignore[operator]
    if kind is StoredDocument:
        if depth >= max_depth:
            return False
        if value.unchanged():  # type: ignore[attr-defined]
            return True  # it was valid when stored, and is the same now
        return _valid(dict(value), depth, max_depth, big_ints)  # type: ignore[call-overload]
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_value(
    value: object,
    path: str = "",
    depth: int = 0,
    max_depth: int = MAX_NESTING,
    *,
    big_ints: bool = False,
) -> None:
    """Raise ``InvalidValueError`` unless ``value`` is a Convex value nested ``max_depth`` deep
    at most. ``big_ints=True`` lets plain ints beyond 2**53 (within int64) through, for a value
    that a validator checks next (it turns the ones it declares int64 into ``Int64``)."""
    if _valid(value, depth, max_depth, big_ints):
        return
    _check_value(value, path, depth, max_depth, big_ints=big_ints)


def _check_value(
    value: object,
    path: str = "",
    depth: int = 0,
    max_depth: int = MAX_NESTING,
    *,
    big_ints: bool = False,
) -> None:
    """``check_value`` the long way, building the path an error message names."""
    if value is None or isinstance(value, (bool, float, bytes)):
        return
    if isinstance(value, Int64):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidValueError(f"integer at {path or 'top level'} does not fit in int64")
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT and not (
            big_ints and INT64_MIN <= value <= INT64_MAX
        ):
            raise beyond_float64(value, path or "top level")
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
                _check_value(item, f"{path}[{i}]", depth + 1, max_depth, big_ints=big_ints)
        else:
            for key, item in value.items():
                check_field_name(key, path)
                sub = f"{path}.{key}" if path else key
                _check_value(item, sub, depth + 1, max_depth, big_ints=big_ints)
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
