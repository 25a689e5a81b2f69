"""One client connection speaking the Convex sync protocol.

State per connection: the received query-set and identity versions, the last version sent, the
subscribed queries and which of them changed. Everything the client sees moves in Transitions
whose ``startVersion`` is exactly the previous ``endVersion``; all changed queries of a client go
out together at one timestamp. Mutations from one client run one at a time, in order, and are
deduplicated by (sessionId, requestId), so a mutation resent after a reconnect is applied once.
Every mutation answer is followed by a Transition, at or past the commit timestamp of a
successful one: that is when the official clients resolve it. A client whose socket is backed
up is not sent anything new until it drains; then it gets the latest state, never a backlog.

Every message is checked (``livebase.sync.frames``) before anything acts on it. A malformed or
out-of-order one closes the socket with a protocol error (1002, 1007 for text that is not JSON)
whose reason names the field, and nothing after it runs; a well-formed call whose arguments are
bad is a failed call, answered like any other. Every request gets an answer: a bug in Livebase
fails the one call (logged with its traceback), never the socket or the requests behind it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from livebase.auth.callers import impersonated_identity
from livebase.errors import LivebaseError
from livebase.functions.registry import canonical_path
from livebase.functions.runner import CallResult, check_args_size, new_request_id
from livebase.subscriptions.manager import SharedQuery
from livebase.sync.frames import (
    AddQuery,
    Authenticate,
    Connect,
    Event,
    FrameError,
    ModifyQuerySet,
    ProtocolError,
    Request,
    close_reason,
    decode_args,
    parse_frame,
)
from livebase.values.wire import dumps, encode_ts, to_wire

if TYPE_CHECKING:
    from livebase.sync.hub import SyncHub

log = logging.getLogger("livebase.sync")

MAX_HELD_MESSAGES = 10_000
"""Messages a client may send while its user token is being checked (a JWKS fetch)."""


class Connection(Protocol):
    def send_text(self, text: str) -> None: ...

    def send_frames(self, frames: Sequence[Sequence[bytes]]) -> None: ...

    def write_paused(self) -> bool: ...

    def send_ping(self) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


@dataclass
class _Query:
    shared: SharedQuery
    path: str
    args: dict[str, Any]
    sent: str | None = None  # the result fragment last sent, to skip unchanged results
    rejected: bool = False
    """Its arguments could not be decoded: it answers QueryFailed and is never run."""


def _watched(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task whose failure is logged when it ends (never "Task exception was never
    retrieved"); the coroutines given here answer every outcome themselves, so this is only a
    net for bugs."""
    task = asyncio.ensure_future(coro)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("sync request task failed", exc_info=exc)


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
        self.admin_credential: str | None = None
        """The dashboard session this socket is admin by (not the admin key): checked again
        when an account's admin role is revoked."""
        self.last_sent = time.monotonic()
        self.closed = False
        self._flush_scheduled = False
        self._failed = False
        self._mutations: deque[tuple[Request, bool, dict[str, Any] | None]] = deque()
        self._held: deque[str] | None = None
        """While a user token is being checked: the messages that came after it, in order."""
        self._expiry: asyncio.TimerHandle | None = None
        self._mutation_task: asyncio.Task[None] | None = None
        self._actions: set[asyncio.Task[None]] = set()

    # -- incoming ----------------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        """One client message: checked against the protocol (``frames``) before anything acts
        on it. A malformed or out-of-order message closes the socket with a protocol error
        naming the field; nothing after it on this socket is acted on."""
        if self._failed or self.closed:
            return
        if self._held is not None:
            # They must run as the identity being checked, and after it, in order.
            if len(self._held) >= MAX_HELD_MESSAGES:
                self._fail(
                    ProtocolError(
                        f"more than {MAX_HELD_MESSAGES} messages sent while "
                        "a token was being checked"
                    )
                )
                return
            self._held.append(text)
            return
        try:
            frame = parse_frame(text)
            if self.session_id is None and not isinstance(frame, Connect):
                kind = frame.kind if isinstance(frame, Request) else type(frame).__name__
                raise FrameError(kind, "came before Connect (send Connect first)")
            match frame:
                case Connect():
                    self._on_connect(frame)
                case ModifyQuerySet():
                    self._on_modify_query_set(frame)
                case Request(kind="Mutation"):
                    self._on_mutation(frame)
                case Request():
                    self._on_action(frame)
                case Authenticate():
                    self._on_authenticate(frame)
                case Event():
                    pass  # client telemetry
        except ProtocolError as exc:
            self._fail(exc)

    def _on_connect(self, frame: Connect) -> None:
        if self.session_id is not None:
            raise ProtocolError("Connect was sent twice on one socket")
        self.session_id = frame.session_id

    def _on_modify_query_set(self, frame: ModifyQuerySet) -> None:
        base, new = frame.base_version, frame.new_version
        if base != self.recv_query_set or new <= base:
            raise ProtocolError(
                f"ModifyQuerySet {base}->{new} does not follow the query set version "
                f"{self.recv_query_set}"
            )
        for mod in frame.modifications:
            if isinstance(mod, AddQuery):
                self._add(mod)
            else:
                query = self.queries.pop(mod.query_id, None)
                if query is not None:
                    self.hub.manager.unsubscribe(query.shared, self, mod.query_id)
                    self.dirty.discard(mod.query_id)
                    self.removed.append(mod.query_id)
        self.recv_query_set = new
        self._schedule_flush()

    def _add(self, mod: AddQuery) -> None:
        path = canonical_path(mod.udf_path)
        old = self.queries.pop(mod.query_id, None)
        if old is not None:
            self.hub.manager.unsubscribe(old.shared, self, mod.query_id)
        try:
            args = self._decode_args(path, mod.args)
        except LivebaseError as exc:
            # Well-formed, but the arguments are no Convex value: the query fails, the socket
            # stays (as for arguments its function's validators reject).
            self.queries[mod.query_id] = _Query(
                self.hub.manager.rejected(path, exc), path, {}, rejected=True
            )
        else:
            shared = self._subscribe(mod.query_id, path, args, mod.journal)
            self.queries[mod.query_id] = _Query(shared, path, args)
        self.dirty.add(mod.query_id)

    def _decode_args(self, path: str, raw: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments as Convex values, within the nesting and size limits (the
        socket takes frames of up to 32 MiB; arguments may be 16 MiB, as over HTTP)."""
        limits = self.hub.engine.settings.limits
        args = decode_args(raw, limits.max_nesting)
        check_args_size(path, args, limits.max_args_bytes)
        return args

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
            journal=journal,
        )

    def _on_authenticate(self, frame: Authenticate) -> None:
        base = frame.base_version
        if base != self.recv_identity:
            raise ProtocolError(
                f"Authenticate.baseVersion {base} is not the identity version {self.recv_identity}"
            )
        if frame.token_type == "Admin":
            value = frame.value or ""
            self.admin_credential = None
            if not hmac.compare_digest(value.encode(), self.hub.admin_key().encode()):
                if not self.hub.admin_session(value):
                    self._auth_error(base, "the admin key is not valid for this deployment")
                    return
                self.admin_credential = value
            acting_as = None
            if frame.impersonating is not None:
                try:
                    acting_as = impersonated_identity(frame.impersonating)
                except LivebaseError as exc:
                    self._auth_error(base, exc.message)
                    return
            self._set_identity(base, admin=True, identity=acting_as, expires_at=None)
        elif frame.token_type == "User":
            self._held = deque()
            _watched(self._check_user_token(base, frame.value or ""))
        else:
            self._set_identity(base, admin=False, identity=None, expires_at=None)

    async def _check_user_token(self, base: int, token: str) -> None:
        try:
            user = await self.hub.verify_user_token(token)
        except LivebaseError as exc:
            self._held = None
            if not self.closed:
                self._auth_error(base, exc.message)
            return
        except Exception:
            self._held = None
            request_id = new_request_id()
            log.exception("[Request ID: %s] checking a user token failed", request_id)
            if not self.closed:
                self._auth_error(base, f"[Request ID: {request_id}] the token could not be checked")
            return
        held, self._held = self._held, None
        if self.closed:
            return
        self._set_identity(base, admin=False, identity=user.identity, expires_at=user.expires_at)
        for text in held or ():
            self.handle_text(text)

    def _set_identity(
        self,
        base: int,
        *,
        admin: bool,
        identity: dict[str, Any] | None,
        expires_at: float | None,
    ) -> None:
        self.admin, self.identity = admin, identity
        self.recv_identity = base + 1
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if expires_at is not None:
            # When the token expires the identity ends, unless the client sends a fresh token
            # first (the JS client refreshes ahead of expiry on the same socket).
            delay = max(0.0, expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self._identity_expired, self.recv_identity
            )
        # Results may depend on who is asking: every query moves to the new identity.
        for query_id, query in self.queries.items():
            if not query.rejected:
                self.hub.manager.unsubscribe(query.shared, self, query_id)
                query.shared = self._subscribe(
                    query_id, query.path, query.args, query.shared.journal
                )
            query.sent = None
            self.dirty.add(query_id)
        self.force_transition = True
        self._schedule_flush()

    def admin_revoked(self) -> None:
        """The admin account this socket signed in with is no longer an admin."""
        if self.closed or self._failed:
            return
        log.info("sync session %s: its admin account lost the admin role", self.session_id)
        self._auth_error(
            self.recv_identity - 1,
            "AdminRevoked: this account is no longer an admin of this deployment",
            attempted=False,
        )

    def _identity_expired(self, version: int) -> None:
        self._expiry = None
        if self.closed or self._failed or self.recv_identity != version:
            return
        log.info("sync session %s: its user token expired", self.session_id)
        self._auth_error(
            version - 1,
            "TokenExpired: the user token expired; authenticate again with a fresh token",
            attempted=False,
        )

    def _auth_error(self, base: int, error: str, *, attempted: bool = True) -> None:
        self._send(
            dumps(
                {
                    "type": "AuthError",
                    "error": error,
                    "baseVersion": base,
                    "authUpdateAttempted": attempted,
                }
            )
        )
        self._failed = True  # nothing after a rejected token is acted on
        self.conn.close(1000, "AuthError")

    def _on_mutation(self, request: Request) -> None:
        # Who is calling is fixed when the request arrives, not when its turn comes.
        self._mutations.append((request, self.admin, self.identity))
        if self._mutation_task is None:
            self._mutation_task = _watched(self._run_mutations())

    def _on_action(self, request: Request) -> None:
        task = _watched(self._run_action(request, self.admin, self.identity))
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    # -- requests --------------------------------------------------------------------------------

    async def _run_mutations(self) -> None:
        try:
            while self._mutations:
                request, admin, identity = self._mutations.popleft()
                result = await self._call(request, admin, identity)
                if self.closed:
                    continue  # committed; the client will resend and get the stored result
                answer = self._response_text("MutationResponse", request.request_id, result)
                # The clients resolve a mutation only on a later Transition: after a success
                # (JS and Rust) and after a failure with errorData (Rust; JS ignores it). It
                # goes out now, with the answer, ahead of the other clients' fan-out.
                self.force_transition = True
                self.flush(lead=answer)
        finally:
            self._mutation_task = None

    async def _run_action(
        self, request: Request, admin: bool, identity: dict[str, Any] | None
    ) -> None:
        result = await self._call(request, admin, identity)
        if not self.closed:
            self._respond("ActionResponse", request.request_id, result, ts=False)

    async def _call(
        self, request: Request, admin: bool, identity: dict[str, Any] | None
    ) -> CallResult:
        """Run one request; every outcome, even a bug in Livebase, is a ``CallResult`` that
        the client is answered with."""
        path = canonical_path(request.udf_path)
        try:
            args = self._decode_args(path, request.args)
        except LivebaseError as exc:
            return CallResult(error=exc, rejected=True)
        runner = self.hub.runner
        try:
            if request.kind == "Mutation":
                key = None
                if self.session_id is not None:
                    key = f"ws:{self.session_id}:{request.request_id}"
                return await runner.run_mutation(
                    path, args, admin=admin, identity=identity, idempotency_key=key
                )
            return await runner.run_action(path, args, admin=admin, identity=identity)
        except Exception as exc:  # a bug in Livebase, not in the request: log it, answer it
            result = CallResult(error=exc, request_id=new_request_id())
            log.exception("[Request ID: %s] %s %s failed", result.request_id, request.kind, path)
            return result

    def _respond(self, kind: str, request_id: int, result: CallResult, *, ts: bool) -> None:
        self._send(self._response_text(kind, request_id, result, ts=ts))

    def _response_text(
        self, kind: str, request_id: int, result: CallResult, *, ts: bool = True
    ) -> str:
        try:
            text = dumps(self._response(kind, request_id, result, ts=ts))
        except LivebaseError:  # e.g. an AppError whose data is no Convex value
            failed = CallResult(error=RuntimeError("unencodable result"))
            failed.request_id = new_request_id()
            log.warning(
                "[Request ID: %s] %s %d: the result could not be encoded",
                failed.request_id,
                kind,
                request_id,
                exc_info=True,
            )
            text = dumps(self._response(kind, request_id, failed, ts=ts))
        return text

    @staticmethod
    def _response(kind: str, request_id: int, result: CallResult, *, ts: bool) -> dict[str, Any]:
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
        return body

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

    def flush(self, lead: str | None = None) -> None:
        """Send one Transition bringing every changed query to the latest commit; ``lead``, a
        message to send first, goes out with it in one write (or alone, if no Transition
        can go now)."""
        self._flush_scheduled = False
        if self.closed or self.conn.write_paused():
            if lead is not None:
                self._send(lead)
            return  # on_writable reschedules; the client then gets the latest state only
        manager = self.hub.manager
        removed = [f'{{"type":"QueryRemoved","queryId":{qid}}}' for qid in self.removed]
        removed_before, self.removed = self.removed, []
        now = time.monotonic()
        dirty = sorted(self.dirty) if len(self.dirty) > 1 else list(self.dirty)
        ready = [manager.refresh(self.queries[query_id].shared) for query_id in dirty]
        if not all(ready):
            # A slow query runs in a worker: this client's queries move to the next timestamp
            # together, once its result is in (the manager invalidates it again then).
            self.removed = removed_before + self.removed
            if lead is not None:
                self._send(lead)
            return
        updated: list[tuple[str, bytes]] = []
        for query_id in dirty:
            query = self.queries[query_id]
            shared = query.shared
            if shared.fragment == query.sent:
                continue
            query.sent = shared.fragment
            updated.append((f"{shared.head}{query_id}", shared.tail))
            if shared.changed_at is not None:
                manager.push_latency.observe(now - shared.changed_at)
        self.dirty.clear()
        end = (self.recv_query_set, self.recv_identity, self.hub.engine.latest_ts)
        if not removed and not updated and end == self.sent and not self.force_transition:
            if lead is not None:
                self._send(lead)
            return
        self.force_transition = False
        start = self.sent
        self.sent = end
        text = (
            '{"type":"Transition","startVersion":'
            f'{{"querySet":{start[0]},"identity":{start[1]},"ts":"{encode_ts(start[2])}"}},'
            f'"endVersion":{{"querySet":{end[0]},"identity":{end[1]},"ts":"{encode_ts(end[2])}"}},'
            f'"modifications":[{",".join(removed)}'
        )
        # The results go out as their shared encoded bytes: a large result fanned out to many
        # sockets is never copied per socket (``WebSocketConnection.send_frames``).
        transition: list[bytes] = []
        comma = "," if removed else ""
        for head, tail in updated:
            transition += ((text + comma + head).encode(), tail)
            text, comma = "", ","
        transition.append((text + "]}").encode())
        frames = [transition] if lead is None else [[lead.encode()], transition]
        self.last_sent = now
        self.conn.send_frames(frames)

    def ping_if_idle(self, now: float, idle: float) -> None:
        if not self.closed and now - self.last_sent >= idle and not self.conn.write_paused():
            self._send('{"type":"Ping"}')

    def _send(self, text: str) -> None:
        self.last_sent = time.monotonic()
        self.conn.send_text(text)

    def _fail(self, error: ProtocolError) -> None:
        """Close the socket for a protocol violation: one log line, no traceback (it is the
        client's fault); nothing the client sends after it is acted on."""
        self._failed = True
        log.info("closing sync session %s: %s", self.session_id, error.reason)
        if error.fatal:
            self._send(dumps({"type": "FatalError", "error": error.reason}))
        self.conn.close(error.code, close_reason(error.reason))

    def close(self) -> None:
        """The socket is gone: drop every subscription (running mutations still commit)."""
        if self.closed:
            return
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        for query_id, query in self.queries.items():
            self.hub.manager.unsubscribe(query.shared, self, query_id)
        self.queries.clear()
