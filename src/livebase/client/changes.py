"""``Client.changes()``: the deployment's change stream (``GET /api/changes``), resumed exactly.

::

    async with Client(url, admin_key=KEY) as client:
        async with client.changes(tables=["messages"], cursor=saved) as stream:
            async for change in stream:
                handle(change.table, change.id, change.operation, change.document)
                saved = change.cursor  # persist it: resuming from it misses and repeats nothing

A background task reads the Server-Sent Events into a bounded queue (so a slow consumer slows
the server down instead of filling memory). When the connection drops, the server restarts or
nothing (not even a keepalive) arrives for ``inactivity_timeout`` seconds, it reconnects with
backoff and resumes from the last position it received, so the consumer sees every change once,
in commit order. Refusals are not retried: ``CursorExpiredError`` (the cursor is older than the
retained change log) and ``ChangeStreamError`` (bad cursor, wrong admin key...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from livebase import __version__
from livebase.client.errors import ChangeStreamError, ClientError, CursorExpiredError
from livebase.client.sse import Event, MalformedResponseError, open_event_stream
from livebase.values.types import Value
from livebase.values.wire import from_wire, loads

log = logging.getLogger("livebase.client")

QUEUE_SIZE = 1024

# Reasons to reconnect; anything else ends the stream with an error.
_TRANSIENT = (OSError, EOFError, TimeoutError, MalformedResponseError, ValueError)


@dataclass(frozen=True)
class Change:
    """One committed write. ``operation`` is "insert", "update" or "delete"; ``document`` is the
    new document (None for a delete); ``ts`` the commit timestamp (ns); ``cursor`` resumes the
    stream right after this change."""

    table: str
    id: str
    operation: str
    document: Value
    ts: int
    cursor: str


def changes_url(url: str, tables: Sequence[str] | None, cursor: str | None) -> str:
    """``http(s)://host/prefix`` (or ``ws(s)://``) -> ``http(s)://host/prefix/api/changes?...``."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(
        parts.scheme.lower()
    )
    if scheme is None or not parts.netloc:
        raise ValueError(f"deployment URL must be http(s)://host[:port], got {url!r}")
    path = parts.path.rstrip("/")
    if parts.scheme.lower() in ("ws", "wss"):
        path = path.removesuffix("/sync").removesuffix("/api")
    query: dict[str, str] = {}
    if tables is not None:
        query["tables"] = ",".join(tables)
    if cursor is not None:
        query["cursor"] = cursor
    return urllib.parse.urlunsplit(
        (scheme, parts.netloc, f"{path}/api/changes", urllib.parse.urlencode(query), "")
    )


class ChangeStream:
    """An async iterator of ``Change``; ``close()`` it (or use ``async with``) when done.

    ``cursor`` is where the stream stands: the cursor of the last change returned (or a later
    position the server reported, past commits that held nothing for this stream)."""

    def __init__(
        self,
        url: str,
        admin_key: str,
        tables: Sequence[str] | None,
        cursor: str | None,
        *,
        inactivity_timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
    ) -> None:
        if isinstance(tables, str):
            raise TypeError("tables must be a list of table names, not a string")
        self._url = url
        self._tables = list(tables) if tables is not None else None
        self._headers = {
            "Authorization": f"Convex {admin_key}",
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            "User-Agent": f"livebase-client/{__version__}",
        }
        self._received: str | None = cursor  # where a reconnect resumes
        self._cursor: str | None = cursor
        self._timeout = inactivity_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._queue: asyncio.Queue[Change | str | BaseException] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connection_count = 0
        """How many HTTP connections have been opened (1 + reconnects)."""

    @property
    def cursor(self) -> str | None:
        return self._cursor

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> ChangeStream:
        return self

    async def __anext__(self) -> Change:
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._run())
        while True:
            if self._closed and self._queue.empty():
                raise StopAsyncIteration
            item = await self._queue.get()
            if isinstance(item, Change):
                self._cursor = item.cursor
                return item
            if isinstance(item, str):
                self._cursor = item  # a checkpoint
                continue
            if isinstance(item, _Closed):
                raise StopAsyncIteration
            raise item

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close(self, error: ClientError | None = None) -> None:
        """Stop reading (idempotent). A waiting ``__anext__`` ends the iteration, or raises
        ``error`` if one is given (the client itself was closed)."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_Closed() if error is None else error)

    async def __aenter__(self) -> ChangeStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the reader task ---------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                if await self._read_once():
                    attempt = 0  # it was connected and working: retry promptly
            except ClientError as exc:  # refused: retrying cannot help
                await self._queue.put(exc)
                return
            except _TRANSIENT as exc:
                log.info("change stream connection failed (%s); reconnecting", _describe(exc))
            except Exception as exc:  # a bug here must reach the consumer, not vanish
                await self._queue.put(exc)
                return
            initial, maximum = self._backoff
            base = min(maximum, initial * 2.0 ** min(attempt, 32))
            attempt += 1
            await asyncio.sleep(base / 2 + random.random() * base / 2)

    async def _read_once(self) -> bool:
        """One connection, read until it ends; True if it delivered a stream at all."""
        url = changes_url(self._url, self._tables, self._received)
        response = await open_event_stream(url, self._headers, timeout=self._timeout)
        self.connection_count += 1
        try:
            if response.status != 200:
                await self._refused(response.status, await response.read_body())
                return False
            async for event in response.events():
                if self._closed:
                    break
                await self._deliver(event)
            return True
        finally:
            await response.aclose()

    async def _deliver(self, event: Event) -> None:
        if event.event == "change":
            data = loads(event.data)
            document = data["document"]
            change = Change(
                data["table"],
                data["id"],
                data["operation"],
                None if document is None else from_wire(document),
                int(data["ts"]),
                data["cursor"],
            )
            await self._queue.put(change)
            self._received = change.cursor
        elif event.event == "error":
            data = loads(event.data)
            raise _refusal(410 if data.get("code") == "CursorExpired" else 400, data)
        elif event.event == "" and event.id is not None:
            await self._queue.put(event.id)
            self._received = event.id

    async def _refused(self, status: int, body: bytes) -> None:
        try:
            data: Any = loads(body)
        except Exception:  # not JSON (a proxy's error page, say): keep the text
            data = None
        if not isinstance(data, dict):
            data = {"code": "", "message": body[:200].decode("utf-8", "replace")}
        if status >= 500 or status in (408, 429):
            raise ConnectionResetError(f"HTTP {status}: {data.get('message', '')}")
        raise _refusal(status, data)


class _Closed(Exception):
    """Queued by ``close`` to end a waiting ``__anext__``."""


def _refusal(status: int, data: dict[str, Any]) -> ChangeStreamError:
    code, message = str(data.get("code", "")), str(data.get("message", ""))
    text = f"change stream refused ({status} {code}): {message}"
    if status == 410 or code == "CursorExpired":
        return CursorExpiredError(text, status=status, code=code)
    return ChangeStreamError(text, status=status, code=code)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def require_admin_key(admin_key: str | None) -> str:
    if not admin_key:
        raise ClientError(
            "the change stream needs the admin key: Client(url, admin_key=...) or "
            "client.set_admin_auth(key)"
        )
    return admin_key


__all__ = ["Change", "ChangeStream", "changes_url", "require_admin_key"]
