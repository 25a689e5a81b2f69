"""Sync-protocol messages: building what the client sends and parsing what the server sends.

Every frame is one JSON object with a ``type`` field (see the Convex wire-protocol reference,
section 2). Client messages are built as plain dicts by the ``*_message`` functions and
serialised with ``dumps``; server messages are parsed by ``parse_server_message`` into the frozen
dataclasses below, with Convex values already decoded (``from_wire``) and timestamps as ints.
Anything malformed raises ``ProtocolError``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from livebase.client.errors import ProtocolError
from livebase.errors import InvalidValueError
from livebase.values.types import Value
from livebase.values.wire import decode_ts, encode_ts, from_wire

JsonObject: TypeAlias = dict[str, Any]


# --------------------------------------------------------------------------- server -> client


@dataclass(frozen=True, slots=True)
class StateVersion:
    """The client's view of the server state: query-set version, identity version and ts."""

    query_set: int
    identity: int
    ts: int

    @classmethod
    def initial(cls) -> StateVersion:
        return cls(0, 0, 0)

    def describe(self) -> str:
        return f"{{querySet {self.query_set}, identity {self.identity}, ts {self.ts}}}"


@dataclass(frozen=True, slots=True)
class QueryUpdated:
    query_id: int
    value: Value
    log_lines: tuple[str, ...]
    journal: str | None


@dataclass(frozen=True, slots=True)
class QueryFailed:
    query_id: int
    error_message: str
    error_data: Value
    log_lines: tuple[str, ...]
    journal: str | None


@dataclass(frozen=True, slots=True)
class QueryRemoved:
    query_id: int


StateModification: TypeAlias = QueryUpdated | QueryFailed | QueryRemoved


@dataclass(frozen=True, slots=True)
class Transition:
    start_version: StateVersion
    end_version: StateVersion
    modifications: tuple[StateModification, ...]


@dataclass(frozen=True, slots=True)
class MutationResponse:
    """``result`` is the decoded return value on success, the error message on failure."""

    request_id: int
    success: bool
    result: Value
    ts: int | None
    error_data: Value
    log_lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionResponse:
    request_id: int
    success: bool
    result: Value
    error_data: Value
    log_lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthError:
    error: str
    base_version: int | None
    auth_update_attempted: bool | None


@dataclass(frozen=True, slots=True)
class FatalError:
    error: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class TransitionChunk:
    """One part of a Transition too large for one frame; join the parts and parse the text."""

    chunk: str
    part_number: int
    total_parts: int
    transition_id: str


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A message type this client does not know (ignored, for forward compatibility)."""

    type: str


ServerMessage: TypeAlias = (
    Transition
    | MutationResponse
    | ActionResponse
    | AuthError
    | FatalError
    | Ping
    | TransitionChunk
    | UnknownMessage
)


def _field(obj: JsonObject, name: str, where: str) -> Any:
    if name not in obj:
        raise ProtocolError(f"{where} has no {name!r} field")
    return obj[name]


def _int(obj: JsonObject, name: str, where: str) -> int:
    raw = _field(obj, name, where)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw != int(raw) or raw < 0:
        raise ProtocolError(f"{where}.{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _str(obj: JsonObject, name: str, where: str) -> str:
    raw = _field(obj, name, where)
    if not isinstance(raw, str):
        raise ProtocolError(f"{where}.{name} must be a string, got {raw!r}")
    return raw


def _bool(obj: JsonObject, name: str, where: str) -> bool:
    raw = _field(obj, name, where)
    if not isinstance(raw, bool):
        raise ProtocolError(f"{where}.{name} must be a boolean, got {raw!r}")
    return raw


def _ts(raw: Any, where: str) -> int:
    try:
        return decode_ts(raw)
    except InvalidValueError as exc:
        raise ProtocolError(f"{where} is not a timestamp: {exc}") from None


def _value(raw: Any, where: str) -> Value:
    try:
        return from_wire(raw)
    except InvalidValueError as exc:
        raise ProtocolError(f"{where} is not a Convex value: {exc}") from None


def _log_lines(obj: JsonObject, where: str) -> tuple[str, ...]:
    raw = obj.get("logLines", [])
    if not isinstance(raw, list) or not all(isinstance(line, str) for line in raw):
        raise ProtocolError(f"{where}.logLines must be a list of strings")
    return tuple(raw)


def _message(obj: JsonObject) -> str:
    """The error message of a failed response (``result``), leniently stringified."""
    raw = obj.get("result")
    return raw if isinstance(raw, str) else str(raw)


def _journal(obj: JsonObject, where: str) -> str | None:
    raw = obj.get("journal")
    if raw is not None and not isinstance(raw, str):
        raise ProtocolError(f"{where}.journal must be a string or null")
    return raw


def _version(raw: Any, where: str) -> StateVersion:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where} must be an object")
    return StateVersion(
        query_set=_int(raw, "querySet", where),
        identity=_int(raw, "identity", where),
        ts=_ts(_field(raw, "ts", where), f"{where}.ts"),
    )


def _modification(raw: Any, where: str) -> StateModification:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where} must be an object")
    kind = raw.get("type")
    query_id = _int(raw, "queryId", where)
    if kind == "QueryUpdated":
        return QueryUpdated(
            query_id=query_id,
            value=_value(_field(raw, "value", where), f"{where}.value"),
            log_lines=_log_lines(raw, where),
            journal=_journal(raw, where),
        )
    if kind == "QueryFailed":
        return QueryFailed(
            query_id=query_id,
            error_message=_str(raw, "errorMessage", where),
            error_data=_value(raw.get("errorData"), f"{where}.errorData"),
            log_lines=_log_lines(raw, where),
            journal=_journal(raw, where),
        )
    if kind == "QueryRemoved":
        return QueryRemoved(query_id=query_id)
    raise ProtocolError(f"{where} has unknown type {kind!r}")


def _parse_transition(obj: JsonObject) -> Transition:
    mods = _field(obj, "modifications", "Transition")
    if not isinstance(mods, list):
        raise ProtocolError("Transition.modifications must be a list")
    return Transition(
        start_version=_version(
            _field(obj, "startVersion", "Transition"), "Transition.startVersion"
        ),
        end_version=_version(_field(obj, "endVersion", "Transition"), "Transition.endVersion"),
        modifications=tuple(
            _modification(m, f"Transition.modifications[{i}]") for i, m in enumerate(mods)
        ),
    )


def _parse_mutation_response(obj: JsonObject) -> MutationResponse:
    where = "MutationResponse"
    success = _bool(obj, "success", where)
    raw_ts = obj.get("ts")
    ts = None if raw_ts is None else _ts(raw_ts, f"{where}.ts")
    if success and ts is None:
        raise ProtocolError("a successful MutationResponse must carry its commit ts")
    return MutationResponse(
        request_id=_int(obj, "requestId", where),
        success=success,
        result=_value(obj.get("result"), f"{where}.result") if success else _message(obj),
        ts=ts,
        error_data=_value(obj.get("errorData"), f"{where}.errorData"),
        log_lines=_log_lines(obj, where),
    )


def _parse_action_response(obj: JsonObject) -> ActionResponse:
    where = "ActionResponse"
    success = _bool(obj, "success", where)
    return ActionResponse(
        request_id=_int(obj, "requestId", where),
        success=success,
        result=_value(obj.get("result"), f"{where}.result") if success else _message(obj),
        error_data=_value(obj.get("errorData"), f"{where}.errorData"),
        log_lines=_log_lines(obj, where),
    )


def _parse_auth_error(obj: JsonObject) -> AuthError:
    base = obj.get("baseVersion")
    attempted = obj.get("authUpdateAttempted")
    return AuthError(
        error=str(obj.get("error", "")),
        base_version=int(base) if isinstance(base, (int, float)) else None,
        auth_update_attempted=attempted if isinstance(attempted, bool) else None,
    )


def _parse_chunk(obj: JsonObject) -> TransitionChunk:
    where = "TransitionChunk"
    return TransitionChunk(
        chunk=_str(obj, "chunk", where),
        part_number=_int(obj, "partNumber", where),
        total_parts=_int(obj, "totalParts", where),
        transition_id=_str(obj, "transitionId", where),
    )


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one frame from the server. Raises ``ProtocolError`` if it is malformed."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"server sent invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("server message is not a JSON object")
    kind = obj.get("type")
    if kind == "Transition":
        return _parse_transition(obj)
    if kind == "MutationResponse":
        return _parse_mutation_response(obj)
    if kind == "ActionResponse":
        return _parse_action_response(obj)
    if kind == "Ping":
        return Ping()
    if kind == "AuthError":
        return _parse_auth_error(obj)
    if kind == "FatalError":
        return FatalError(error=str(obj.get("error", "")))
    if kind == "TransitionChunk":
        return _parse_chunk(obj)
    if not isinstance(kind, str):
        raise ProtocolError("server message has no string 'type' field")
    return UnknownMessage(type=kind)


# --------------------------------------------------------------------------- client -> server


def connect_message(
    *,
    session_id: str,
    connection_count: int,
    last_close_reason: str | None,
    max_observed_ts: int | None,
    client_ts: int,
) -> JsonObject:
    msg: JsonObject = {
        "type": "Connect",
        "sessionId": session_id,
        "connectionCount": connection_count,
        "lastCloseReason": last_close_reason,
        "clientTs": client_ts,
    }
    if max_observed_ts is not None:
        msg["maxObservedTimestamp"] = encode_ts(max_observed_ts)
    return msg


def add_query(query_id: int, udf_path: str, args: JsonObject, journal: str | None) -> JsonObject:
    """An ``Add`` modification; ``args`` is the encoded args object (sent as ``[args]``).

    A journal is included only when there is one (a first subscribe omits it, as JS does)."""
    mod: JsonObject = {"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args]}
    if journal is not None:
        mod["journal"] = journal
    return mod


def remove_query(query_id: int) -> JsonObject:
    return {"type": "Remove", "queryId": query_id}


def modify_query_set_message(
    base_version: int, new_version: int, modifications: list[JsonObject]
) -> JsonObject:
    return {
        "type": "ModifyQuerySet",
        "baseVersion": base_version,
        "newVersion": new_version,
        "modifications": modifications,
    }


def request_message(kind: str, request_id: int, udf_path: str, args: JsonObject) -> JsonObject:
    """A ``Mutation`` or ``Action`` message."""
    if kind not in ("Mutation", "Action"):
        raise ValueError(f"not a request kind: {kind!r}")
    return {"type": kind, "requestId": request_id, "udfPath": udf_path, "args": [args]}


def authenticate_message(base_version: int, token_type: str, value: str | None) -> JsonObject:
    """``Authenticate`` with ``tokenType`` ``Admin``, ``User`` or ``None`` (logout)."""
    msg: JsonObject = {"type": "Authenticate", "baseVersion": base_version, "tokenType": token_type}
    if token_type != "None":
        msg["value"] = value
    return msg


def dumps(message: JsonObject) -> str:
    """Serialise a client message: compact, keys sorted (as JS sends them), floats keep ``.0``."""
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS).decode("utf-8")


# --------------------------------------------------------------------------- names and URLs


def canonical_path(path: str) -> str:
    """``dir/mod:fn`` with a missing ``:fn`` made ``:default`` and a trailing ``.js`` dropped."""
    module, sep, name = path.rpartition(":")
    if not sep:
        module, name = path, "default"
    if module.endswith(".js"):
        module = module[: -len(".js")]
    return f"{module}:{name}"


def sync_url(url: str) -> str:
    """The WebSocket URL for a deployment URL: ``http(s)://host/prefix`` ->
    ``ws(s)://host/prefix/api/sync``. A ``ws(s)://`` URL already ending in ``/sync`` is kept."""
    parts = urllib.parse.urlsplit(url)
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    scheme = schemes.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"deployment URL must be http(s):// or ws(s)://host[:port], got {url!r}")
    path = parts.path.rstrip("/")
    if not (parts.scheme.lower() in ("ws", "wss") and path.endswith("/sync")):
        path = f"{path}/api/sync"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))


__all__ = [
    "ActionResponse",
    "AuthError",
    "FatalError",
    "JsonObject",
    "MutationResponse",
    "Ping",
    "QueryFailed",
    "QueryRemoved",
    "QueryUpdated",
    "ServerMessage",
    "StateModification",
    "StateVersion",
    "Transition",
    "TransitionChunk",
    "UnknownMessage",
    "add_query",
    "authenticate_message",
    "canonical_path",
    "connect_message",
    "dumps",
    "modify_query_set_message",
    "parse_server_message",
    "remove_query",
    "request_message",
    "sync_url",
]
