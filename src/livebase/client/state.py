"""The client's side of the sync protocol, without any I/O.

``SyncState`` owns everything that must survive a reconnect: the session id, the subscribed
queries (with their ids, encoded args, journals and latest results), the pending mutations and
actions (with their request ids), the auth token and the highest timestamp observed. It also
tracks the per-socket versions (query set, identity, and the last ``Transition``'s end version)
that restart from zero on every new socket.

The connection calls ``on_open`` (which returns the handshake: ``Connect``, ``Authenticate``, a
``ModifyQuerySet`` 0->1 re-adding every query, and every unacknowledged mutation with its
original request id), ``handle`` for every server message, and ``on_close``. Messages produced
while no socket is open are simply not sent: ``on_open`` rebuilds them from the state.

Everything here runs on the client's event loop thread.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from livebase.client import protocol
from livebase.client.errors import (
    ConnectionClosedError,
    ConnectionLostError,
    FunctionError,
    InvalidArgumentsError,
)
from livebase.client.protocol import JsonObject, ServerMessage, StateVersion
from livebase.errors import InvalidValueError
from livebase.values.types import Value
from livebase.values.wire import to_wire

log = logging.getLogger("livebase.client")
function_log = logging.getLogger("livebase.client.functions")


def encode_args(args: Mapping[str, Value] | None) -> JsonObject:
    """Function arguments (one object) in Convex encoded JSON."""
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise InvalidArgumentsError(
            f"function arguments must be a mapping, got {type(args).__name__}"
        )
    try:
        encoded = to_wire(dict(args))
    except InvalidValueError as exc:
        raise InvalidArgumentsError(str(exc)) from None
    if not isinstance(encoded, dict):  # pragma: no cover - to_wire(dict) is a dict
        raise InvalidArgumentsError("function arguments must be an object")
    return encoded


def same_value(a: Value, b: Value) -> bool:
    """Equality that tells ``Int64(1)`` (int64) from ``1`` and ``True``, ``-0.0`` from ``0.0``,
    and treats NaN as equal to itself."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A query's latest result: a value, or the failure's message and ``AppError`` data."""

    value: Value = None
    error_message: str | None = None
    error_data: Value = None

    def unwrap(self, path: str) -> Value:
        if self.error_message is not None:
            raise FunctionError(self.error_message, self.error_data, path=path)
        return self.value

    def same_as(self, other: QueryResult) -> bool:
        return (
            self.error_message == other.error_message
            and same_value(self.value, other.value)
            and same_value(self.error_data, other.error_data)
        )


class QueryEntry:
    """One subscribed query (shared by every subscriber with the same path and args)."""

    __slots__ = ("args", "journal", "key", "path", "query_id", "refs", "removed", "result",
                 "version", "waiters")  # fmt: skip

    def __init__(self, query_id: int, path: str, args: JsonObject, key: tuple[str, str]) -> None:
        self.query_id = query_id
        self.key = key
        self.path = path
        self.args = args
        self.journal: str | None = None
        self.result: QueryResult | None = None
        self.version = 0  # bumped on every new (different) result
        self.refs = 0
        self.removed = False
        self.waiters: list[asyncio.Future[None]] = []

    def wait(self) -> asyncio.Future[None]:
        """A future resolved at the next change of this entry (or when the client closes)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        return fut

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


@dataclass(slots=True)
class PendingRequest:
    request_id: int
    kind: str  # "Mutation" or "Action"
    path: str
    message: JsonObject
    future: asyncio.Future[Value]
    sent: bool = False
    completed_ts: int | None = None  # a successful mutation waiting for its Transition
    result: Value = None


class SyncState:
    """Queries, requests, auth and versions of one client (see the module docstring)."""

    def __init__(self, send: Callable[[JsonObject], None]) -> None:
        self.session_id = str(uuid.uuid4())
        self._send_raw = send
        self._queries: dict[tuple[str, str], QueryEntry] = {}
        self._by_id: dict[int, QueryEntry] = {}
        self._next_query_id = 0
        self._requests: dict[int, PendingRequest] = {}
        # Successful mutations waiting for a Transition at their ts, as a min-heap of
        # (ts, request id): a Transition pops exactly the ones it resolves, so it costs
        # O(k log n) for k resolved mutations instead of a scan of every pending request.
        # Invariant: each entry is a request in ``_requests`` whose ``completed_ts`` is set.
        self._awaiting_transition: list[tuple[int, int]] = []
        self._next_request_id = 0
        self._auth: tuple[str, str] | None = None  # (token type, token)
        self.auth_error: str | None = None
        self.max_observed_ts: int | None = None
        self.closed = False
        # Per-socket state, reset by on_open.
        self.connected = False
        self._query_set_version = 0
        self._identity_version = 0
        self._remote_version = StateVersion.initial()

    # ------------------------------------------------------------------ lifecycle

    def on_open(self, connection_count: int, last_close_reason: str | None) -> list[JsonObject]:
        """A new socket is open: the messages to send first, in order."""
        self.connected = True
        self._remote_version = StateVersion.initial()
        self._query_set_version = 0
        self._identity_version = 0
        messages = [
            protocol.connect_message(
                session_id=self.session_id,
                connection_count=connection_count,
                last_close_reason=last_close_reason,
                max_observed_ts=self.max_observed_ts,
                client_ts=int(time.time() * 1000),
            )
        ]
        if self._auth is not None:
            token_type, token = self._auth
            messages.append(protocol.authenticate_message(0, token_type, token))
            self._identity_version = 1
        # A mutation already answered but still waiting for its Transition is not resent: the
        # first Transition on the new socket carries the latest ts and resolves it. The query
        # set is sent (even empty) whenever there is such a mutation, so that Transition comes.
        if self._by_id or self._awaiting_transition:
            adds = [
                protocol.add_query(e.query_id, e.path, e.args, e.journal)
                for e in self._by_id.values()
            ]
            messages.append(protocol.modify_query_set_message(0, 1, adds))
            self._query_set_version = 1
        for req in self._requests.values():
            if req.completed_ts is None:
                messages.append(req.message)
                req.sent = True
        return messages

    def on_close(self) -> None:
        """The socket closed: actions in flight fail (they are never resent)."""
        self.connected = False
        for request_id, req in list(self._requests.items()):
            if req.kind == "Action" and req.sent:
                del self._requests[request_id]
                if not req.future.done():
                    req.future.set_exception(
                        ConnectionLostError(
                            f"Connection lost while action {req.path!r} was in flight"
                        )
                    )

    def close(self) -> None:
        """The client is closing: fail everything still pending and wake every waiter."""
        self.closed = True
        self.connected = False
        requests, self._requests = self._requests, {}
        self._awaiting_transition = []
        for req in requests.values():
            if not req.future.done():
                req.future.set_exception(ConnectionClosedError("the client was closed"))
        for entry in self._by_id.values():
            entry.wake()

    def check_open(self) -> None:
        if self.closed:
            raise ConnectionClosedError("the client is closed")

    def _send(self, message: JsonObject) -> None:
        if self.connected:
            self._send_raw(message)

    # ------------------------------------------------------------------ queries

    def subscribe(self, path: str, args: Mapping[str, Value] | None) -> QueryEntry:
        """Add a reference to the query ``(path, args)``, subscribing it if it is new."""
        self.check_open()
        canonical = protocol.canonical_path(path)
        encoded = encode_args(args)
        key = (canonical, protocol.dumps(encoded))
        entry = self._queries.get(key)
        if entry is None:
            entry = QueryEntry(self._next_query_id, canonical, encoded, key)
            self._next_query_id += 1
            self._queries[key] = entry
            self._by_id[entry.query_id] = entry
            self._modify([protocol.add_query(entry.query_id, canonical, encoded, None)])
        entry.refs += 1
        return entry

    def release(self, entry: QueryEntry) -> None:
        """Drop a reference; the last one unsubscribes the query."""
        if entry.removed:
            return
        entry.refs -= 1
        if entry.refs > 0:
            return
        entry.removed = True
        self._queries.pop(entry.key, None)
        self._by_id.pop(entry.query_id, None)
        entry.wake()
        if not self.closed:
            self._modify([protocol.remove_query(entry.query_id)])

    def _modify(self, modifications: list[JsonObject]) -> None:
        if not self.connected:
            return  # on_open re-adds every current query
        base = self._query_set_version
        self._query_set_version += 1
        self._send(protocol.modify_query_set_message(base, base + 1, modifications))

    @property
    def query_count(self) -> int:
        return len(self._by_id)

    # ------------------------------------------------------------------ requests

    def request(
        self, kind: str, path: str, args: Mapping[str, Value] | None
    ) -> asyncio.Future[Value]:
        """Queue a ``Mutation`` or ``Action``; the future resolves with its decoded result."""
        self.check_open()
        canonical = protocol.canonical_path(path)
        encoded = encode_args(args)
        request_id = self._next_request_id
        self._next_request_id += 1
        message = protocol.request_message(kind, request_id, canonical, encoded)
        future: asyncio.Future[Value] = asyncio.get_running_loop().create_future()
        req = PendingRequest(request_id, kind, canonical, message, future)
        self._requests[request_id] = req
        if self.connected:
            self._send(message)
            req.sent = True
        return future

    @property
    def pending_requests(self) -> int:
        return len(self._requests)

    # ------------------------------------------------------------------ auth

    def set_auth(self, token_type: str, token: str | None) -> None:
        """Set (``Admin``/``User``) or clear (``None``) the token, on this and future sockets."""
        had_auth = self._auth is not None
        if token_type == "None" or token is None:
            self._auth = None
            if not had_auth:
                return
            message = protocol.authenticate_message(self._identity_version, "None", None)
        else:
            self._auth = (token_type, token)
            message = protocol.authenticate_message(self._identity_version, token_type, token)
        self.auth_error = None
        if self.connected:
            self._identity_version += 1
            self._send(message)

    # ------------------------------------------------------------------ incoming

    def handle(self, message: ServerMessage) -> str | None:
        """Apply one server message; returns a close reason if the socket must be restarted."""
        if isinstance(message, protocol.Transition):
            return self._on_transition(message)
        if isinstance(message, protocol.MutationResponse):
            self._on_mutation_response(message)
        elif isinstance(message, protocol.ActionResponse):
            self._on_action_response(message)
        elif isinstance(message, protocol.AuthError):
            log.warning("server rejected authentication: %s (auth cleared)", message.error)
            self.auth_error = message.error
            self._auth = None  # admin keys are not refreshable: reconnect without auth
            return "AuthError"
        elif isinstance(message, protocol.FatalError):
            log.error("server sent FatalError: %s", message.error)
            return "FatalError"
        elif isinstance(message, protocol.UnknownMessage):
            log.debug("ignoring unknown server message type %r", message.type)
        return None

    def _observe_ts(self, ts: int) -> None:
        if self.max_observed_ts is None or ts > self.max_observed_ts:
            self.max_observed_ts = ts

    def _on_transition(self, t: protocol.Transition) -> str | None:
        if t.start_version != self._remote_version:
            log.warning(
                "Transition start version %s does not match the current version %s; reconnecting",
                t.start_version.describe(),
                self._remote_version.describe(),
            )
            return "StartVersionMismatch"
        changed: list[QueryEntry] = []
        for mod in t.modifications:
            if isinstance(mod, protocol.QueryRemoved):
                continue
            entry = self._by_id.get(mod.query_id)
            path = entry.path if entry is not None else f"query {mod.query_id}"
            _log_function_lines("Q", path, mod.log_lines)
            if entry is None:
                continue  # a query we no longer hold
            entry.journal = mod.journal
            if isinstance(mod, protocol.QueryUpdated):
                result = QueryResult(value=mod.value)
            else:
                result = QueryResult(error_message=mod.error_message, error_data=mod.error_data)
            if entry.result is None or not entry.result.same_as(result):
                entry.result = result
                entry.version += 1
                changed.append(entry)
        self._remote_version = t.end_version
        self._observe_ts(t.end_version.ts)
        # Subscribers first, then mutations: when a mutation's await returns, every
        # subscription already holds the state that includes it (read your writes).
        for entry in changed:
            entry.wake()
        end_ts = t.end_version.ts
        awaiting = self._awaiting_transition
        if not awaiting or awaiting[0][0] > end_ts:
            return None
        resolved: list[PendingRequest] = []
        while awaiting and awaiting[0][0] <= end_ts:
            _, request_id = heapq.heappop(awaiting)
            req = self._requests.pop(request_id, None)
            if req is not None:
                resolved.append(req)
        if len(resolved) > 1:
            resolved.sort(key=_request_order)  # resolve in request order, not ts order
        for req in resolved:
            if not req.future.done():
                req.future.set_result(req.result)
        return None

    def _on_mutation_response(self, r: protocol.MutationResponse) -> None:
        req = self._requests.get(r.request_id)
        if req is None or req.kind != "Mutation" or req.completed_ts is not None:
            log.debug("ignoring MutationResponse for request %d", r.request_id)
            return
        _log_function_lines("M", req.path, r.log_lines)
        if r.success and r.ts is not None:
            req.completed_ts = r.ts
            req.result = r.result
            heapq.heappush(self._awaiting_transition, (r.ts, r.request_id))
            self._observe_ts(r.ts)
            return
        del self._requests[r.request_id]
        if not req.future.done():
            req.future.set_exception(FunctionError(str(r.result), r.error_data, path=req.path))

    def _on_action_response(self, r: protocol.ActionResponse) -> None:
        req = self._requests.get(r.request_id)
        if req is None or req.kind != "Action":
            log.debug("ignoring ActionResponse for request %d", r.request_id)
            return
        _log_function_lines("A", req.path, r.log_lines)
        del self._requests[r.request_id]
        if req.future.done():
            return
        if r.success:
            req.future.set_result(r.result)
        else:
            req.future.set_exception(FunctionError(str(r.result), r.error_data, path=req.path))


def _request_order(req: PendingRequest) -> int:
    return req.request_id


def _log_function_lines(kind: str, path: str, lines: tuple[str, ...]) -> None:
    for line in lines:
        function_log.info("[%s(%s)] %s", kind, path, line)


__all__ = ["PendingRequest", "QueryEntry", "QueryResult", "SyncState", "encode_args", "same_value"]
