"""Validators (``v.string()``, ``v.object({...})`` …) and their derivation from type hints.

A validator checks a value and returns it, possibly normalised. Numbers follow the rule of
``livebase.values.types``: ``v.number()`` takes any number (``int`` or ``float``; an ``Int64``
that float64 holds exactly becomes an ``int``), ``v.int64()`` takes a whole number and returns it
as an ``Int64`` (so a Python ``5`` or a JavaScript ``5`` sent to it is stored as int64), and the
type hint ``int`` means a whole float64 number (a JavaScript ``number`` with no fraction).
Errors name the field path and the expected type, e.g.
``messages.body: expected string, got float64``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from livebase.errors import InvalidIdError, ValidationError
from livebase.values.ids import id_table_number
from livebase.values.types import (
    INT64_MAX,
    INT64_MIN,
    MAX_SAFE_INT,
    Int64,
    Value,
    as_number,
    beyond_float64,
    check_value,
    type_name,
)


class Validator:
    """Base class: ``validate`` returns the (normalised) value or raises ``ValidationError``."""

    optional = False
    kind = "any"

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    def _fail(self, value: Any, path: str) -> ValidationError:
        where = f"{path}: " if path else ""
        return ValidationError(f"{where}expected {self.describe()}, got {_show(value)}", path=path)

    def __repr__(self) -> str:
        return f"v.{self.describe()}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Validator) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))


IdContext = Callable[[int], "str | None"]
"""Maps a table number to its table name; lets ``v.id`` check an id's table when known."""


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type_name(value)} {text}"


class _Any(Validator):
    kind = "any"

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        check_value(value, path)
        return value


class _Simple(Validator):
    def __init__(self, kind: str, accepts: Callable[[Any], bool]) -> None:
        self.kind = kind
        self._accepts = accepts

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if not self._accepts(value):
            raise self._fail(value, path)
        if isinstance(value, str):
            check_value(value, path)
        return value


class _Number(Validator):
    kind = "float64"

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if isinstance(value, float):
            return as_number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                raise ValidationError(str(beyond_float64(value, path or "value")), path=path)
            return int(value)
        raise self._fail(value, path)


class _Integer(_Number):
    """The type hint ``int``: a float64 that is a whole number, given to the function as an
    ``int`` (a JavaScript ``20`` is ``20``)."""

    def describe(self) -> str:
        return "integer"

    def to_json(self) -> dict[str, Any]:
        return {"type": "float64", "integer": True}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if isinstance(value, float):
            if not value.is_integer() or abs(value) > MAX_SAFE_INT:
                raise self._fail(value, path)
            return int(value)
        return super().validate(value, path, ctx)


class _Int64(Validator):
    kind = "int64"

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INT:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValidationError(
                    f"{path or 'value'}: integer {value} does not fit in int64", path=path
                )
            return value if type(value) is Int64 else Int64(value)
        raise self._fail(value, path)


class _Id(Validator):
    kind = "id"

    def __init__(self, table: str) -> None:
        self.table = table

    def describe(self) -> str:
        return f'id("{self.table}")'

    def to_json(self) -> dict[str, Any]:
        return {"type": "id", "tableName": self.table}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if not isinstance(value, str):
            raise self._fail(value, path)
        try:
            number = id_table_number(value)
        except InvalidIdError:
            raise ValidationError(
                f"{path or 'value'}: {value!r} is not an id of table {self.table!r}", path=path
            ) from None
        if ctx is not None:
            table = ctx(number)
            if table is None:
                raise ValidationError(
                    f"{path or 'value'}: {value!r} is an id of a table that does not exist "
                    f"(expected an id of table {self.table!r})",
                    path=path,
                )
            if table != self.table:
                raise ValidationError(
                    f"{path or 'value'}: expected an id of table {self.table!r}, "
                    f"got an id of table {table!r}",
                    path=path,
                )
        return value


class _Literal(Validator):
    kind = "literal"

    def __init__(self, value: Value) -> None:
        check_value(value)
        if isinstance(value, (list, dict, bytes)) or value is None:
            raise TypeError("v.literal takes a string, number or boolean")
        self.value = value

    def describe(self) -> str:
        return f"literal({self.value!r})"

    def to_json(self) -> dict[str, Any]:
        return {"type": "literal", "value": repr(self.value)}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        expected = self.value
        if isinstance(expected, bool) or not isinstance(expected, int | float):
            if type(value) is type(expected) and value == expected:
                return value
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == expected:
            if isinstance(expected, Int64):
                return Int64(value)
            if not isinstance(value, Int64):
                return value
        raise self._fail(value, path)


class _Array(Validator):
    kind = "array"

    def __init__(self, item: Validator) -> None:
        self.item = _coerce(item)

    def describe(self) -> str:
        return f"array({self.item.describe()})"

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if not isinstance(value, list):
            raise self._fail(value, path)
        return [self.item.validate(x, f"{path}[{i}]", ctx) for i, x in enumerate(value)]


def array_item(validator: Validator) -> Validator | None:
    """The item validator of ``v.array(item)``; None for any other validator."""
    return validator.item if isinstance(validator, _Array) else None


class _Object(Validator):
    kind = "object"

    def __init__(self, fields: Mapping[str, Validator]) -> None:
        self.fields = {name: _coerce(f) for name, f in fields.items()}

    def describe(self) -> str:
        inner = ", ".join(f"{k}: {f.describe()}" for k, f in self.fields.items())
        return f"object({{{inner}}})"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {
                k: {"fieldType": f.to_json(), "optional": f.optional}
                for k, f in self.fields.items()
            },
        }

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if not isinstance(value, dict):
            raise self._fail(value, path)
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            sub = f"{path}.{name}" if path else name
            if name in value:
                out[name] = field.validate(value[name], sub, ctx)
            elif not field.optional:
                raise ValidationError(
                    f"{sub}: missing required field (expected {field.describe()})", path=sub
                )
        extra = [k for k in value if k not in self.fields]
        if extra:
            sub = f"{path}.{extra[0]}" if path else extra[0]
            raise ValidationError(
                f"{sub}: unexpected field {extra[0]!r} (allowed: "
                f"{', '.join(self.fields) or 'none'})",
                path=sub,
            )
        return out


class _Record(Validator):
    kind = "record"

    def __init__(self, keys: Validator, values: Validator) -> None:
        self.keys = _coerce(keys)
        self.values = _coerce(values)

    def describe(self) -> str:
        return f"record({self.keys.describe()}, {self.values.describe()})"

    def to_json(self) -> dict[str, Any]:
        return {"type": "record", "keys": self.keys.to_json(), "values": self.values.to_json()}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        if not isinstance(value, dict):
            raise self._fail(value, path)
        out = {}
        for k, x in value.items():
            sub = f"{path}.{k}" if path else str(k)
            self.keys.validate(k, sub, ctx)
            out[k] = self.values.validate(x, sub, ctx)
        check_value(out, path)
        return out


class _Optional(Validator):
    optional = True

    def __init__(self, inner: Validator) -> None:
        self.inner = _coerce(inner)
        self.kind = self.inner.kind

    def describe(self) -> str:
        return f"optional({self.inner.describe()})"

    def to_json(self) -> dict[str, Any]:
        return {"type": "optional", "value": self.inner.to_json()}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        return self.inner.validate(value, path, ctx)


class _Union(Validator):
    kind = "union"

    def __init__(self, members: tuple[Validator, ...]) -> None:
        if not members:
            raise TypeError("v.union needs at least one member")
        self.members = tuple(_coerce(m) for m in members)

    def describe(self) -> str:
        return " | ".join(m.describe() for m in self.members)

    def to_json(self) -> dict[str, Any]:
        return {"type": "union", "value": [m.to_json() for m in self.members]}

    def validate(self, value: Any, path: str = "", ctx: IdContext | None = None) -> Any:
        members = self.members
        if isinstance(value, Int64):  # an explicit int64 matches v.int64() before v.number()
            members = tuple(sorted(members, key=lambda m: m.kind != "int64"))
        for member in members:
            try:
                return member.validate(value, path, ctx)
            except ValidationError:
                continue
        raise self._fail(value, path)


def is_int64_field(document: Validator, path: str) -> bool:
    """Whether the document validator declares the (dotted) field ``path`` exactly ``v.int64()``
    (optional or not)."""
    validator: Validator | None = document
    for name in path.split("."):
        fields = getattr(validator, "fields", None) if isinstance(validator, _Object) else None
        validator = fields.get(name) if fields else None
        if isinstance(validator, _Optional):
            validator = validator.inner
    return isinstance(validator, _Int64)


def _coerce(x: Any) -> Validator:
    if isinstance(x, Validator):
        return x
    return from_type_hint(x)


class _V:
    """The ``v`` namespace: ``v.string()``, ``v.object({...})`` and friends."""

    def any(self) -> Validator:
        return _Any()

    def string(self) -> Validator:
        return _Simple("string", lambda x: isinstance(x, str))

    def number(self) -> Validator:
        return _Number()

    float64 = number

    def int64(self) -> Validator:
        return _Int64()

    def boolean(self) -> Validator:
        return _Simple("boolean", lambda x: isinstance(x, bool))

    def null(self) -> Validator:
        return _Simple("null", lambda x: x is None)

    def bytes(self) -> Validator:
        return _Simple("bytes", lambda x: isinstance(x, bytes))

    def id(self, table: str) -> Validator:
        return _Id(table)

    def array(self, item: Validator) -> Validator:
        return _Array(item)

    def object(self, fields: Mapping[str, Validator]) -> Validator:
        return _Object(fields)

    def record(self, keys: Validator, values: Validator) -> Validator:
        return _Record(keys, values)

    def optional(self, inner: Validator) -> Validator:
        return _Optional(inner)

    def union(self, *members: Validator) -> Validator:
        return _Union(members)

    def literal(self, value: Value) -> Validator:
        return _Literal(value)

    def nullable(self, inner: Validator) -> Validator:
        return _Union((_coerce(inner), self.null()))


v = _V()


def from_type_hint(hint: Any) -> Validator:
    """Derive a validator from a type hint (``str``, ``int | None``, ``list[str]``, TypedDict …).

    ``Annotated[T, validator]`` uses the validator given; an unknown hint is an error so that a
    typo never silently means "anything".
    """
    if isinstance(hint, Validator):
        return hint
    if hint is Any or hint is typing.Any or hint is object:
        return _Any()
    if hint is None or hint is type(None):
        return v.null()
    simple: dict[Any, Callable[[], Validator]] = {
        str: v.string,
        int: _Integer,
        Int64: v.int64,
        float: v.number,
        bool: v.boolean,
        bytes: v.bytes,
        list: lambda: v.array(_Any()),
        dict: lambda: v.record(v.string(), _Any()),
    }
    if hint in simple:
        return simple[hint]()
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Required, typing.NotRequired):
        # TypedDict field qualifiers (kept by get_type_hints(include_extras=True)).
        return from_type_hint(args[0])
    if origin is typing.Annotated:
        for meta in args[1:]:
            if isinstance(meta, Validator):
                return meta
        return from_type_hint(args[0])
    if origin in (typing.Union, types.UnionType):
        return (
            v.union(*(from_type_hint(a) for a in args))
            if len(args) > 1
            else from_type_hint(args[0])
        )
    if origin is typing.Literal:
        if len(args) == 1:
            return v.literal(args[0])
        return v.union(*(v.literal(a) for a in args))
    if origin in (list, typing.List):  # noqa: UP006
        return v.array(from_type_hint(args[0]) if args else _Any())
    if origin in (dict, typing.Dict):  # noqa: UP006
        return v.record(
            from_type_hint(args[0]) if args else v.string(),
            from_type_hint(args[1]) if len(args) > 1 else _Any(),
        )
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        required = set(getattr(hint, "__required_keys__", frozenset(hints)))
        for name, h in hints.items():
            # Under ``from __future__ import annotations`` Python 3.11 cannot see Required /
            # NotRequired when building __required_keys__; the evaluated hints still carry them.
            if typing.get_origin(h) is typing.NotRequired:
                required.discard(name)
            elif typing.get_origin(h) is typing.Required:
                required.add(name)
        return v.object(
            {
                name: from_type_hint(h) if name in required else v.optional(from_type_hint(h))
                for name, h in hints.items()
            }
        )
    raise TypeError(f"cannot derive a validator from type hint {hint!r}; use args={{...}} with v.*")
