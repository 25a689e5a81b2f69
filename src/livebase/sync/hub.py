"""All sync connections of one deployment: opens sessions on WebSocket upgrades, wires commits to
the subscription manager, and keeps idle connections alive (a ``Ping`` message after 15 s of
silence, which the official clients need; protocol-level pings to notice dead peers)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from livebase.auth.callers import UserTokenCheck, no_user_tokens
from livebase.engine.database import Engine
from livebase.functions.runner import Runner
from livebase.httpserver import Request
from livebase.metrics import Gauge
from livebase.subscriptions.manager import SubscriptionManager
from livebase.sync.session import SyncSession
from livebase.sync.websocket import WebSocketConnection, accept

SYNC_PATH = re.compile(r"^/+api/+(?:[^/]+/+)?sync/*$")
PING_AFTER = 15.0
HEARTBEAT = 5.0


class SyncHub:
    def __init__(
        self,
        engine: Engine,
        runner: Runner,
        admin_key: Callable[[], str],
        verify_user_token: UserTokenCheck = no_user_tokens,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.admin_key = admin_key
        self.verify_user_token = verify_user_token
        """Checks a user token (a JWT) against the app's providers; raises a LivebaseError
        naming the reason when it does not hold. Replaced when the app is reloaded."""
        self.admin_session: Callable[[str], bool] = lambda credential: False
        """Whether a credential other than the admin key is an admin account's dashboard
        session that still holds (``livebase.auth.builtin.admin_sessions``)."""
        self.manager = SubscriptionManager(runner)
        self.sessions: set[SyncSession] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._to_flush: list[SyncSession] = []
        engine.add_commit_listener(self.manager.on_commits)
        self.connections_gauge = Gauge(
            "livebase_sync_connections", "Open sync WebSocket connections.",
            lambda: float(len(self.sessions)),
        )  # fmt: skip
        self.subscriptions_gauge = Gauge(
            "livebase_subscriptions", "Query subscriptions held by sync clients.",
            lambda: float(self.manager.subscriptions),
        )  # fmt: skip

    def upgrade(
        self, request: Request, transport: asyncio.Transport, rest: bytes
    ) -> asyncio.Protocol | None:
        if request.method != "GET" or not SYNC_PATH.match(request.path):
            return None
        protocol = accept(request.headers, request.path, transport)
        if protocol is None:
            return None
        holder: list[SyncSession] = []
        connection = WebSocketConnection(
            transport,
            protocol,
            on_text=lambda text: holder[0].handle_text(text),
            on_writable=lambda: holder[0].on_writable(),
            on_close=lambda: self._closed(holder[0]),
        )
        session = SyncSession(self, connection)
        holder.append(session)
        self.sessions.add(session)
        self._ensure_heartbeat()
        if rest:
            connection.data_received(rest)
        return connection

    def request_flush(self, session: SyncSession) -> None:
        """Flush ``session`` soon; all sessions asking in one loop turn are flushed in one pass
        (one callback for a fan-out to thousands of clients, not one each)."""
        self._to_flush.append(session)
        if len(self._to_flush) == 1:
            asyncio.get_running_loop().call_soon(self._flush_all)

    def _flush_all(self) -> None:
        sessions, self._to_flush = self._to_flush, []
        for session in sessions:
            try:
                session.flush()
            except Exception:
                logging.getLogger("livebase.sync").exception("sync flush failed")
                session.conn.close(1011, "InternalServerError")

    def _closed(self, session: SyncSession) -> None:
        session.close()
        self.sessions.discard(session)

    def invalidate_all(self) -> None:
        """After a code reload every query may answer differently: re-run them all."""
        self.manager.invalidate()

    def end_revoked_admin_sessions(self) -> None:
        """An account lost its admin role (or was disabled): sockets signed in with its
        dashboard session get an ``AuthError`` and are closed now, not at their next call."""
        for session in list(self.sessions):
            credential = session.admin_credential
            if session.admin and credential is not None and not self.admin_session(credential):
                session.admin_revoked()

    def invalidate_env_readers(self) -> None:
        """After an environment variable changed: re-run the queries that read ``ctx.env``
        (and any not run yet)."""
        self.manager.invalidate(lambda q: q.result is None or q.result.reads_env)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while self.sessions:
            await asyncio.sleep(HEARTBEAT)
            now = time.monotonic()
            for session in list(self.sessions):
                session.ping_if_idle(now, PING_AFTER)
                session.conn.send_ping()

    def close_all(self) -> None:
        for session in list(self.sessions):
            session.conn.close(1001, "server shutting down")
        if self._heartbeat is not None:
            self._heartbeat.cancel()
