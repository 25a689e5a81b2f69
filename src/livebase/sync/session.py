"""One client connection speaking the Convex sync protocol.

State per connection: the received query-set and identity versions, the last version sent, the
subscribed queries and which of them changed. Everything the client sees moves in Transitions
whose ``startVersion`` is exactly the previous ``endVersion``; all changed queries of a client go
out together at one timestamp. Mutations from one client run one at a time, in order, and are
deduplicated by (sessionId, requestId), so a mutation resent after a reconnect is applied once.
Every mutation answer is followed by a Transition, at or past the commit timestamp of a
successful one: that is when the official clients resolve it. A client whose socket is backed
up is not sent anything new until it drains; then it gets the latest state, never a backlog.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from livebase.errors import LivebaseError
from livebase.functions.registry import canonical_path
from livebase.functions.runner import CallResult
from livebase.subscriptions.manager import SharedQuery
from livebase.values.wire import dumps, encode_ts, from_wire, loads, to_wire

if TYPE_CHECKING:
    from livebase.sync.hub import SyncHub

log = logging.getLogger("livebase.sync")


class Connection(Protocol):
    def send_text(self, text: str) -> None: ...

    def write_paused(self) -> bool: ...

    def send_ping(self) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class ProtocolError(Exception):
    """A message that breaks the protocol; the connection is closed with this reason."""

    def __init__(self, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


@dataclass
class _Query:
    shared: SharedQuery
    path: str
    args: dict[str, Any]
    sent: str | None = None  # the result fragment last sent, to skip unchanged results


class SyncSession:
    def __init__(self, hub: SyncHub, connection: Connection) -> None:
        self.hub = hub
        self.conn = connection
        self.session_id: str | None = None
        self.recv_query_set = 0
        self.recv_identity = 0
        self.sent = (0, 0, 0)  # query set, identity, ts of the last Transition's endVersion
        self.queries: dict[int, _Query] = {}
        self.dirty: set[int] = set()
        self.removed: list[int] = []
        self.force_transition = False
        self.identity: dict[str, Any] | None = None
        self.admin = False
        self.last_sent = time.monotonic()
        self.closed = False
        self._flush_scheduled = False
        self._mutations: deque[dict[str, Any]] = deque()
        self._mutation_task: asyncio.Task[None] | None = None
        self._actions: set[asyncio.Task[None]] = set()

    # -- incoming ----------------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        try:
            try:
                message = loads(text)
            except LivebaseError as exc:
                raise ProtocolError(f"malformed message: {exc.message}", fatal=True) from None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError("malformed message: expected an object with a type", fatal=True)
            handler = self._HANDLERS.get(message["type"])
            if handler is None:
                raise ProtocolError(f"unknown message type {message['type']!r}", fatal=True)
            handler(self, message)
        except ProtocolError as exc:
            self._fail(exc)
        except (KeyError, TypeError, ValueError, LivebaseError) as exc:
            self._fail(ProtocolError(f"malformed {text[:80]!r}: {exc}", fatal=True))

    def _on_connect(self, message: dict[str, Any]) -> None:
        session_id = message.get("sessionId")
        if not isinstance(session_id, str):
            raise ProtocolError("Connect needs a sessionId string", fatal=True)
        self.session_id = session_id

    def _on_modify_query_set(self, message: dict[str, Any]) -> None:
        base, new = message["baseVersion"], message["newVersion"]
        if base != self.recv_query_set or new <= base:
            raise ProtocolError(
                f"InternalServerError: ModifyQuerySet {base}->{new} does not follow the "
                f"current query set version {self.recv_query_set}"
            )
        for mod in message["modifications"]:
            query_id = int(mod["queryId"])
            if mod["type"] == "Add":
                self._add(query_id, mod)
            elif mod["type"] == "Remove":
                query = self.queries.pop(query_id, None)
                if query is not None:
                    self.hub.manager.unsubscribe(query.shared, self, query_id)
                    self.dirty.discard(query_id)
                    self.removed.append(query_id)
            else:
                raise ProtocolError(f"unknown query set modification {mod['type']!r}", fatal=True)
        self.recv_query_set = new
        self._schedule_flush()

    def _add(self, query_id: int, mod: dict[str, Any]) -> None:
        args = mod.get("args", [{}])
        if isinstance(args, list):
            args = args[0] if args else {}
        decoded = from_wire(args)
        if not isinstance(decoded, dict):
            decoded = {}
        path = canonical_path(str(mod["udfPath"]))
        old = self.queries.pop(query_id, None)
        if old is not None:
            self.hub.manager.unsubscribe(old.shared, self, query_id)
        shared = self._subscribe(query_id, path, decoded, mod.get("journal"))
        self.queries[query_id] = _Query(shared, path, decoded)
        self.dirty.add(query_id)

    def _subscribe(
        self, query_id: int, path: str, args: dict[str, Any], journal: str | None
    ) -> SharedQuery:
        return self.hub.manager.subscribe(
            self,
            query_id,
            path,
            args,
            identity=self.identity,
            admin=self.admin,
            journal=journal if isinstance(journal, str) else None,
        )

    def _on_authenticate(self, message: dict[str, Any]) -> None:
        base = int(message["baseVersion"])
        token_type = message.get("tokenType")
        if token_type == "Admin":
            value = str(message.get("value", ""))
            if not hmac.compare_digest(value.encode(), self.hub.admin_key().encode()):
                self._auth_error(base, "the admin key is not valid for this deployment")
                return
            self.admin, self.identity = True, None
        elif token_type == "User":
            self._auth_error(
                base,
                "user tokens (JWT) are not supported by this Livebase version yet; connect "
                "without a token or with the admin key",
            )
            return
        elif token_type == "None":
            self.admin, self.identity = False, None
        else:
            raise ProtocolError(f"unknown tokenType {token_type!r}", fatal=True)
        self.recv_identity = base + 1
        # Results may depend on who is asking: every query moves to the new identity.
        for query_id, query in self.queries.items():
            self.hub.manager.unsubscribe(query.shared, self, query_id)
            query.shared = self._subscribe(query_id, query.path, query.args, query.shared.journal)
            query.sent = None
            self.dirty.add(query_id)
        self.force_transition = True
        self._schedule_flush()

    def _auth_error(self, base: int, error: str) -> None:
        self._send(
            dumps(
                {
                    "type": "AuthError",
                    "error": error,
                    "baseVersion": base,
                    "authUpdateAttempted": True,
                }
            )
        )
        self.conn.close(1000, "AuthError")

    def _on_mutation(self, message: dict[str, Any]) -> None:
        self._mutations.append(message)
        if self._mutation_task is None:
            self._mutation_task = asyncio.ensure_future(self._run_mutations())

    def _on_action(self, message: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._run_action(message))
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    def _on_event(self, message: dict[str, Any]) -> None:
        return  # client telemetry

    _HANDLERS = {
        "Connect": _on_connect,
        "ModifyQuerySet": _on_modify_query_set,
        "Authenticate": _on_authenticate,
        "Mutation": _on_mutation,
        "Action": _on_action,
        "Event": _on_event,
    }

    # -- requests --------------------------------------------------------------------------------

    @staticmethod
    def _call_args(message: dict[str, Any]) -> tuple[str, Any]:
        args = message.get("args", [{}])
        if isinstance(args, list):
            args = args[0] if args else {}
        return canonical_path(str(message["udfPath"])), from_wire(args)

    async def _run_mutations(self) -> None:
        try:
            while self._mutations:
                message = self._mutations.popleft()
                request_id = int(message["requestId"])
                try:
                    path, args = self._call_args(message)
                except LivebaseError as exc:
                    self._respond("MutationResponse", request_id, CallResult(error=exc), ts=True)
                    continue
                key = None if self.session_id is None else f"ws:{self.session_id}:{request_id}"
                result = await self.hub.runner.run_mutation(
                    path, args, admin=self.admin, identity=self.identity, idempotency_key=key
                )
                if self.closed:
                    continue  # committed; the client will resend and get the stored result
                self._respond("MutationResponse", request_id, result, ts=True)
                # The clients resolve a mutation only on a later Transition: after a success
                # (JS and Rust) and after a failure with errorData (Rust; JS ignores it).
                self.force_transition = True
                self._schedule_flush()
        finally:
            self._mutation_task = None

    async def _run_action(self, message: dict[str, Any]) -> None:
        request_id = int(message["requestId"])
        try:
            path, args = self._call_args(message)
        except LivebaseError as exc:
            self._respond("ActionResponse", request_id, CallResult(error=exc), ts=False)
            return
        result = await self.hub.runner.run_action(
            path, args, admin=self.admin, identity=self.identity
        )
        if not self.closed:
            self._respond("ActionResponse", request_id, result, ts=False)

    def _respond(self, kind: str, request_id: int, result: CallResult, *, ts: bool) -> None:
        body: dict[str, Any] = {"type": kind, "requestId": request_id}
        if result.error is None:
            body["success"] = True
            body["result"] = to_wire(result.value)
            if ts:
                body["ts"] = encode_ts(result.ts or 0)
        else:
            body["success"] = False
            body["result"] = result.error_message()
            if ts:
                body["ts"] = None
            data = result.error_data()
            if data is not None:
                body["errorData"] = to_wire(data)
        body["logLines"] = result.log_lines
        self._send(dumps(body))

    # -- outgoing --------------------------------------------------------------------------------

    def invalidate(self, query_id: int) -> None:
        self.dirty.add(query_id)
        self._schedule_flush()

    def on_writable(self) -> None:
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and not self.closed:
            self._flush_scheduled = True
            self.hub.request_flush(self)

    def flush(self) -> None:
        """Send one Transition bringing every changed query to the latest commit."""
        self._flush_scheduled = False
        if self.closed or self.conn.write_paused():
            return  # on_writable reschedules; the client then gets the latest state only
        manager = self.hub.manager
        modifications = [f'{{"type":"QueryRemoved","queryId":{qid}}}' for qid in self.removed]
        self.removed = []
        now = time.monotonic()
        for query_id in sorted(self.dirty) if len(self.dirty) > 1 else self.dirty:
            query = self.queries[query_id]
            shared = query.shared
            manager.refresh(shared)
            if shared.fragment == query.sent:
                continue
            query.sent = shared.fragment
            modifications.append(f"{shared.head}{query_id}{shared.tail}")
            if shared.changed_at is not None:
                manager.push_latency.observe(now - shared.changed_at)
        self.dirty.clear()
        end = (self.recv_query_set, self.recv_identity, self.hub.engine.latest_ts)
        if not modifications and end == self.sent and not self.force_transition:
            return
        self.force_transition = False
        start = self.sent
        self.sent = end
        self._send(
            '{"type":"Transition","startVersion":'
            f'{{"querySet":{start[0]},"identity":{start[1]},"ts":"{encode_ts(start[2])}"}},'
            f'"endVersion":{{"querySet":{end[0]},"identity":{end[1]},"ts":"{encode_ts(end[2])}"}},'
            f'"modifications":[{",".join(modifications)}]}}'
        )

    def ping_if_idle(self, now: float, idle: float) -> None:
        if not self.closed and now - self.last_sent >= idle and not self.conn.write_paused():
            self._send('{"type":"Ping"}')

    def _send(self, text: str) -> None:
        self.last_sent = time.monotonic()
        self.conn.send_text(text)

    def _fail(self, error: ProtocolError) -> None:
        log.info("closing sync session %s: %s", self.session_id, error.reason)
        if error.fatal:
            self._send(dumps({"type": "FatalError", "error": error.reason}))
        self.conn.close(1011, error.reason[:120])

    def close(self) -> None:
        """The socket is gone: drop every subscription (running mutations still commit)."""
        if self.closed:
            return
        self.closed = True
        for query_id, query in self.queries.items():
            self.hub.manager.unsubscribe(query.shared, self, query_id)
        self.queries.clear()
