"""Client -> server frames of the sync protocol, checked before anything acts on them.

``parse_frame(text)`` turns one WebSocket text message into a typed frame (``Connect``,
``ModifyQuerySet``, ``Request`` for ``Mutation``/``Action``, ``Authenticate``, ``Event``) or
raises ``FrameError``. Every field is checked for presence, type and range as the protocol's
schema has it: request ids, query ids, versions and counters are JSON integers that fit a u32
(never a float such as ``1.7`` or ``1e300``, never a boolean); ``udfPath`` is a bounded string;
``args`` is an array holding exactly one object; timestamps decode to a u64 that is at most
2^63-1. Unknown fields are ignored (newer clients may add some), unknown message types are not.

A ``FrameError`` names the field and the problem (``Mutation.requestId must be an integer in
0..4294967295, got 1.7``) and carries the WebSocket close code for it: 1007 when the text is not
JSON, 1002 for anything that breaks the protocol. The session sends the message in a
``FatalError`` and closes the socket with a reason cut to the 123 bytes a close frame allows
(``close_reason``).

Arguments are *not* decoded here: a well-formed ``Mutation`` whose arguments are bad (too deeply
nested, not Convex values) is a failed call, answered with a ``MutationResponse``, not a broken
protocol. ``decode_args`` does that decoding for the session, bounded by the nesting limit
(``LIVEBASE_MAX_NESTING``), so no input can raise ``RecursionError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from livebase.errors import InvalidValueError, LivebaseError
from livebase.values.types import MAX_NESTING, Value, type_name
from livebase.values.wire import decode_ts, from_wire

U32_MAX = 2**32 - 1
"""Request ids, query ids, query-set and identity versions are u32 on the wire."""
MAX_UDF_PATH = 1024
MAX_SESSION_ID = 64
MAX_TOKEN = 64 << 10
MAX_JOURNAL = 1 << 20
MAX_CLOSE_REASON = 123
"""Bytes of reason text a WebSocket close frame can carry (125 minus the 2-byte code)."""

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007


class ProtocolError(Exception):
    """A message that breaks the protocol: the connection is closed with ``code`` and
    ``reason``. ``fatal``: a ``FatalError`` message goes out first (a client that sends a
    malformed frame would send it again after a reconnect; the JS client stops on it)."""

    def __init__(
        self, reason: str, *, fatal: bool = False, code: int = CLOSE_PROTOCOL_ERROR
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal
        self.code = code


class FrameError(ProtocolError):
    """A frame that does not match the protocol's schema; ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str, *, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(f"{field} {problem}", fatal=True, code=code)
        self.field = field


# -- frames ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    session_id: str
    connection_count: int
    last_close_reason: str | None
    max_observed_ts: int | None


@dataclass(frozen=True, slots=True)
class AddQuery:
    query_id: int
    udf_path: str
    args: dict[str, Any]
    """The one arguments object, still in wire JSON (``decode_args`` decodes it)."""
    journal: str | None


@dataclass(frozen=True, slots=True)
class RemoveQuery:
    query_id: int


@dataclass(frozen=True, slots=True)
class ModifyQuerySet:
    base_version: int
    new_version: int
    modifications: tuple[AddQuery | RemoveQuery, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """A ``Mutation`` or an ``Action``."""

    kind: Literal["Mutation", "Action"]
    request_id: int
    udf_path: str
    args: dict[str, Any]
    """The one arguments object, still in wire JSON (``decode_args`` decodes it)."""


@dataclass(frozen=True, slots=True)
class Authenticate:
    base_version: int
    token_type: Literal["Admin", "User", "None"]
    value: str | None
    impersonating: dict[str, Any] | None = None
    """With the admin key: the user identity (``UserIdentityAttributes``) to act as."""


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str


ClientFrame = Connect | ModifyQuerySet | Request | Authenticate | Event


# -- parsing ---------------------------------------------------------------------------------------


def parse_frame(text: str) -> ClientFrame:
    """One text message -> a checked frame; ``FrameError`` naming the field otherwise."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(
            "frame", f"is not valid JSON ({exc})", code=CLOSE_INVALID_PAYLOAD
        ) from None
    if not isinstance(data, dict):
        raise FrameError("frame", f"must be a JSON object, got {_describe(data)}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("frame.type", f"must be a message type name, got {_describe(kind)}")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise FrameError("frame.type", f"names no client message type: {_describe(kind)}")
    return parser(data, kind)


def _connect(data: dict[str, Any], where: str) -> Connect:
    session_id = _string(data, "sessionId", where, max_len=MAX_SESSION_ID, min_len=1)
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise FrameError(f"{where}.sessionId", "must be a UUID") from None
    reason = _optional_string(data, "lastCloseReason", where, max_len=MAX_TOKEN)
    ts_text = data.get("maxObservedTimestamp")
    max_ts = None
    if ts_text is not None:
        try:
            max_ts = decode_ts(ts_text)
        except LivebaseError:
            raise FrameError(
                f"{where}.maxObservedTimestamp",
                "must be a timestamp (base64 of 8 little-endian bytes, at most 2^63-1)",
            ) from None
    client_ts = data.get("clientTs")
    if client_ts is not None and (
        isinstance(client_ts, bool) or not isinstance(client_ts, (int, float))
    ):
        raise FrameError(f"{where}.clientTs", f"must be a number, got {_describe(client_ts)}")
    return Connect(session_id, _u32(data, "connectionCount", where), reason, max_ts)


def _modify_query_set(data: dict[str, Any], where: str) -> ModifyQuerySet:
    base = _u32(data, "baseVersion", where)
    new = _u32(data, "newVersion", where)
    raw = data.get("modifications")
    if not isinstance(raw, list):
        raise FrameError(f"{where}.modifications", f"must be an array, got {_describe(raw)}")
    mods: list[AddQuery | RemoveQuery] = []
    for i, mod in enumerate(raw):
        at = f"{where}.modifications[{i}]"
        if not isinstance(mod, dict):
            raise FrameError(at, f"must be an object, got {_describe(mod)}")
        kind = mod.get("type")
        if kind == "Add":
            journal = _optional_string(mod, "journal", at, max_len=MAX_JOURNAL)
            mods.append(
                AddQuery(
                    _u32(mod, "queryId", at),
                    _string(mod, "udfPath", at, max_len=MAX_UDF_PATH, min_len=1),
                    _args(mod, at),
                    journal,
                )
            )
            _optional_string(mod, "componentPath", at, max_len=MAX_UDF_PATH)
        elif kind == "Remove":
            mods.append(RemoveQuery(_u32(mod, "queryId", at)))
        else:
            raise FrameError(f"{at}.type", f'must be "Add" or "Remove", got {_describe(kind)}')
    return ModifyQuerySet(base, new, tuple(mods))


def _request(data: dict[str, Any], where: str) -> Request:
    kind: Literal["Mutation", "Action"] = "Mutation" if where == "Mutation" else "Action"
    request_id = _u32(data, "requestId", where)
    path = _string(data, "udfPath", where, max_len=MAX_UDF_PATH, min_len=1)
    args = _args(data, where)
    _optional_string(data, "componentPath", where, max_len=MAX_UDF_PATH)
    return Request(kind, request_id, path, args)


def _authenticate(data: dict[str, Any], where: str) -> Authenticate:
    base = _u32(data, "baseVersion", where)
    token_type = data.get("tokenType")
    if token_type == "None":
        return Authenticate(base, "None", None)
    if token_type == "Admin" or token_type == "User":
        value = _string(data, "value", where, max_len=MAX_TOKEN)
        impersonating = data.get("impersonating")
        if impersonating is not None and not isinstance(impersonating, dict):
            raise FrameError(
                f"{where}.impersonating", f"must be an object, got {_describe(impersonating)}"
            )
        if token_type == "User":
            return Authenticate(base, "User", value)
        return Authenticate(base, "Admin", value, impersonating)
    raise FrameError(
        f"{where}.tokenType", f'must be "User", "Admin" or "None", got {_describe(token_type)}'
    )


def _event(data: dict[str, Any], where: str) -> Event:
    return Event(_string(data, "eventType", where, max_len=MAX_UDF_PATH))


_PARSERS: dict[str, Callable[[dict[str, Any], str], ClientFrame]] = {
    "Connect": _connect,
    "ModifyQuerySet": _modify_query_set,
    "Mutation": _request,
    "Action": _request,
    "Authenticate": _authenticate,
    "Event": _event,
}


# -- fields ----------------------------------------------------------------------------------------


def _u32(data: dict[str, Any], name: str, where: str) -> int:
    value = data.get(name)
    # orjson gives an ``int`` only for JSON integers (64-bit at most); 1.0, 1.7 and 1e300 are
    # floats, and ``true`` is a ``bool``, which is an ``int`` subclass: hence ``type(...) is``.
    if type(value) is not int or not 0 <= value <= U32_MAX:
        raise FrameError(f"{where}.{name}", _expected(data, name, f"an integer in 0..{U32_MAX}"))
    return value


def _string(data: dict[str, Any], name: str, where: str, *, max_len: int, min_len: int = 0) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise FrameError(f"{where}.{name}", _expected(data, name, "a string"))
    if not min_len <= len(value) <= max_len:
        raise FrameError(
            f"{where}.{name}", f"must be {min_len}..{max_len} characters, got {len(value)}"
        )
    return value


def _optional_string(data: dict[str, Any], name: str, where: str, *, max_len: int) -> str | None:
    if data.get(name) is None:
        return None
    return _string(data, name, where, max_len=max_len)


def _args(data: dict[str, Any], where: str) -> dict[str, Any]:
    args = data.get("args")
    if isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict):
        return args[0]
    what = "an array holding one object"
    if not isinstance(args, list):
        problem = _expected(data, "args", what)
    elif len(args) != 1:
        problem = f"must be {what}, got {len(args)} elements"
    else:
        problem = f"must be {what}, got an array holding {_describe(args[0])}"
    raise FrameError(f"{where}.args", problem)


def _expected(data: dict[str, Any], name: str, what: str) -> str:
    if name not in data:
        return f"is missing (expected {what})"
    return f"must be {what}, got {_describe(data[name])}"


def _describe(value: object) -> str:
    """A short description of a JSON value for an error message (never the whole value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 24 else f"a {len(text)}-digit number"
    if isinstance(value, str):
        return repr(value) if len(value) <= 24 else f"{value[:20]!r}... ({len(value)} chars)"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- arguments and close reasons -------------------------------------------------------------------


def decode_args(raw: dict[str, Any], max_nesting: int = MAX_NESTING) -> dict[str, Value]:
    """The wire-JSON arguments object -> Python values; ``InvalidValueError`` naming the path
    for anything that is not a Convex value or is nested deeper than ``max_nesting`` arrays and
    objects (the arguments object is the first level; ``{"$integer": ...}`` and the like are
    scalars). Never ``RecursionError``: decoding stops at the limit."""
    decoded = from_wire(raw, max_depth=max_nesting, what="arguments")
    if not isinstance(decoded, dict):  # {"$integer": ...} and the like decode to scalars
        raise InvalidValueError(f"arguments must be an object, got {type_name(decoded)}")
    return decoded


def close_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close frame can carry (on a character boundary)."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= MAX_CLOSE_REASON:
        return text
    return raw[: MAX_CLOSE_REASON - 3].decode("utf-8", "ignore") + "..."


__all__ = [
    "CLOSE_INVALID_PAYLOAD",
    "CLOSE_PROTOCOL_ERROR",
    "U32_MAX",
    "AddQuery",
    "Authenticate",
    "ClientFrame",
    "Connect",
    "Event",
    "FrameError",
    "ModifyQuerySet",
    "ProtocolError",
    "RemoveQuery",
    "Request",
    "close_reason",
    "decode_args",
    "parse_frame",
]
