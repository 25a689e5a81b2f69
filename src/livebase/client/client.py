"""``Client``: the asyncio-native Livebase client, speaking the Convex sync protocol.

::

    async with Client("http://127.0.0.1:3210") as c:
        msg_id = await c.mutation("messages:send", {"channel": "general", "body": "hi"})
        print(await c.query("messages:count", {"channel": "general"}))
        async for messages in c.subscribe("messages:list", {"channel": "general"}):
            ...

One WebSocket (``/api/sync``) carries every call; ``changes()`` (the change stream, admin
only) reads ``/api/changes`` over its own HTTP connection. The client connects in the background and
reconnects on its own (exponential backoff), re-authenticating, re-subscribing and resending
unacknowledged mutations under their original request ids, so the server applies each exactly
once. Calls made while disconnected wait for the connection; a mutation resolves only after the
server has pushed the state that includes it (read your writes). Actions running when the
connection drops fail with ``ConnectionLostError``; nothing else raises because of the network.

Values: ``int`` and ``float`` are float64 numbers (a whole one comes back as an ``int``), an
``Int64`` is an int64, ``bytes`` is bytes, as in the official clients (see ``livebase.values``).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType

from livebase import __version__
from livebase.client import protocol
from livebase.client.changes import ChangeStream, require_admin_key
from livebase.client.connection import Connection
from livebase.client.errors import ConnectionClosedError
from livebase.client.protocol import JsonObject
from livebase.client.state import SyncState
from livebase.client.subscription import Subscription
from livebase.values.types import Value

Args = Mapping[str, Value] | None


class Client:
    """An asyncio client for one deployment URL (``http(s)://host:port``).

    Use it from one event loop. ``admin_key`` authenticates as the admin (like
    ``set_admin_auth``). ``inactivity_timeout`` is how long a silent server is trusted before
    reconnecting; ``backoff_initial``/``backoff_max`` bound the reconnect delays (seconds).
    """

    def __init__(
        self,
        url: str,
        *,
        admin_key: str | None = None,
        inactivity_timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
    ) -> None:
        self.url = url
        self._sync_url = protocol.sync_url(url)
        self._state = SyncState(self._send)
        self._conn: Connection | None = None
        self._options = (inactivity_timeout, backoff_initial, backoff_max)
        self._closed = False
        self._admin_key: str | None = None
        self._streams: weakref.WeakSet[ChangeStream] = weakref.WeakSet()
        if admin_key is not None:
            self.set_admin_auth(admin_key)

    # ------------------------------------------------------------------ lifecycle

    def _send(self, message: JsonObject) -> None:
        if self._conn is not None:
            self._conn.send(message)

    def _start(self) -> None:
        """Open the connection on first use (needs the running event loop)."""
        if self._closed:
            raise ConnectionClosedError("the client is closed")
        if self._conn is None:
            inactivity, initial, maximum = self._options
            self._conn = Connection(
                self._sync_url,
                self._state,
                headers={"Convex-Client": f"livebase-{__version__}"},
                inactivity_timeout=inactivity,
                backoff_initial=initial,
                backoff_max=maximum,
            )
            self._conn.start()

    async def __aenter__(self) -> Client:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket. Pending calls and subscriptions raise ``ConnectionClosedError``."""
        if self._closed:
            return
        self._closed = True
        self._state.close()
        for stream in list(self._streams):
            stream.close(ConnectionClosedError("the client is closed"))
        if self._conn is not None:
            await self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        """Whether a socket is open right now."""
        return self._conn is not None and self._conn.is_open

    @property
    def session_id(self) -> str:
        """The sync session id, kept across reconnects (the mutation-deduplication key)."""
        return self._state.session_id

    @property
    def connection_count(self) -> int:
        """How many sockets have been opened so far (1 + the number of reconnects)."""
        return 0 if self._conn is None else self._conn.connection_count

    @property
    def auth_error(self) -> str | None:
        """The server's message if it rejected the last token (which was then cleared)."""
        return self._state.auth_error

    # ------------------------------------------------------------------ auth

    def set_admin_auth(self, admin_key: str) -> None:
        """Call functions as the admin (internal functions become callable)."""
        self._admin_key = admin_key
        self._state.set_auth("Admin", admin_key)

    def set_auth(self, token: str) -> None:
        """Call functions as the user identified by ``token`` (a JWT)."""
        self._admin_key = None
        self._state.set_auth("User", token)

    def clear_auth(self) -> None:
        """Go back to anonymous calls."""
        self._admin_key = None
        self._state.set_auth("None", None)

    # ------------------------------------------------------------------ calls

    async def query(self, path: str, args: Args = None) -> Value:
        """Run a query once: the current result of an existing subscription, or subscribe,
        wait for the first result and unsubscribe."""
        self._start()
        entry = self._state.subscribe(path, args)
        try:
            while entry.result is None:
                self._state.check_open()
                await entry.wait()
            return entry.result.unwrap(entry.path)
        finally:
            self._state.release(entry)

    async def mutation(self, path: str, args: Args = None) -> Value:
        """Run a mutation; returns once its effects are visible to this client's queries."""
        self._start()
        return await self._state.request("Mutation", path, args)

    async def action(self, path: str, args: Args = None) -> Value:
        """Run an action."""
        self._start()
        return await self._state.request("Action", path, args)

    def subscribe(self, path: str, args: Args = None) -> Subscription:
        """Subscribe to a query: ``async for result in client.subscribe(...)``."""
        self._start()
        return Subscription(self._state, self._state.subscribe(path, args))

    def changes(
        self, tables: Sequence[str] | None = None, cursor: str | None = None
    ) -> ChangeStream:
        """The change stream (needs the admin key): ``async for change in client.changes()``.

        ``tables`` limits it to those tables (default: every app table). ``cursor`` resumes
        right after the change that carried it; ``"now"`` starts with the next commit; None
        starts at the oldest change the server still keeps. The stream reconnects by itself and
        resumes exactly; ``CursorExpiredError`` means the cursor fell out of the server's
        retention window. See ``livebase.client.changes``.
        """
        if self._closed:
            raise ConnectionClosedError("the client is closed")
        inactivity, initial, maximum = self._options
        stream = ChangeStream(
            self.url,
            require_admin_key(self._admin_key),
            tables,
            cursor,
            inactivity_timeout=inactivity,
            backoff_initial=initial,
            backoff_max=maximum,
        )
        self._streams.add(stream)
        return stream

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "connecting")
        return f"<livebase.client.Client {self.url} ({state})>"


__all__ = ["Args", "Client"]
