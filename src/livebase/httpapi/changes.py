"""``GET /api/changes``: the change stream over Server-Sent Events (or one JSON page).

Query parameters: ``tables=a,b`` (default: every app table), ``cursor=C`` (resume after the
change whose cursor is ``C``; ``now``: only changes committed from now on; absent: from the
oldest retained change), and ``format=json`` with ``limit=N`` for polling instead of streaming.
An EventSource reconnecting sends ``Last-Event-ID``, which wins over ``cursor``. The admin key
is required (``Authorization: Convex <key>``).

Each change is one event::

    id: <cursor>
    event: change
    data: {"table", "id", "operation", "document", "ts", "cursor"}

``document`` is the new document in Convex wire JSON (null for a delete). An event with only an
``id:`` line is a checkpoint: it moves the resume cursor past commits that held nothing for this
consumer (and, first of all, tells a ``cursor=now`` consumer where "now" was). ``: keepalive``
comments arrive every 15 s when nothing else does. Errors before the stream starts are ordinary
JSON error responses; a cursor that expires while streaming ends the stream with an
``event: error`` carrying ``{"code", "message"}``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Callable

from livebase.engine.changes import Change, ChangePage, Cursor, parse_cursor
from livebase.engine.database import Engine
from livebase.engine.feed import PAGE_SIZE, ChangeFeed
from livebase.errors import BadRequestError, LivebaseError, UnauthenticatedError
from livebase.httpapi.api import error_response, is_admin, json_response
from livebase.httpserver import Request, Response
from livebase.values.wire import dumps_bytes

KEEPALIVE_SECONDS = 15.0
MAX_JSON_LIMIT = 10_000

_SSE_HEADERS = [("cache-control", "no-cache"), ("x-accel-buffering", "no")]


class ChangesEndpoint:
    """Serves ``GET /api/changes`` for one engine; ``admin_key`` is read on every request (dev
    reloads keep it, but it is not cached here)."""

    def __init__(self, engine: Engine, admin_key: Callable[[], str]) -> None:
        self.feed = ChangeFeed(engine)
        self._admin_key = admin_key

    async def __call__(self, request: Request) -> Response:
        try:
            if not is_admin(request.headers.get("authorization"), self._admin_key()):
                raise UnauthenticatedError(
                    "the change stream needs the admin key: send 'Authorization: Convex <admin "
                    "key>'"
                )
            params = urllib.parse.parse_qs(request.query, keep_blank_values=True)
            tables = _tables(params.get("tables"))
            start = self._start(request.headers.get("last-event-id") or _one(params, "cursor"))
            fmt = _one(params, "format") or "sse"
            if fmt == "json":
                page = self.feed.read(start, tables, _limit(_one(params, "limit")))
                return json_response(
                    200,
                    {
                        "changes": [c.to_json() for c in page.changes],
                        "cursor": str(page.position),
                        "hasMore": page.more,
                    },
                )
            if fmt != "sse":
                raise BadRequestError(f"unsupported format {fmt!r}; use sse (default) or json")
            # Read the first page now, so a bad or expired cursor is a plain 400/410 answer.
            first = self.feed.read(start, tables)
        except LivebaseError as exc:
            return error_response(exc)
        return Response(
            200,
            content_type="text/event-stream",
            headers=list(_SSE_HEADERS),
            stream=self._events(first, tables),
        )

    def _start(self, cursor: str | None) -> Cursor | None:
        if cursor is None or cursor == "":
            return None
        if cursor == "now":
            # The database's newest commit, which on a shared database may be another node's
            # that this node has not delivered yet.
            with self.feed.engine.storage.reader() as r:
                return Cursor(max(r.latest_ts(), self.feed.engine.latest_ts))
        return parse_cursor(cursor)

    async def _events(
        self, first: ChangePage, tables: frozenset[str] | None
    ) -> AsyncIterator[bytes]:
        last_id: str | None = None
        try:
            async for page in self.feed.follow(first, tables, idle=KEEPALIVE_SECONDS):
                if page is None:
                    yield b": keepalive\n\n"
                    continue
                parts = [_event(change) for change in page.changes]
                if page.changes:
                    last_id = str(page.changes[-1].cursor)
                position = str(page.position)
                if position != last_id:
                    parts.append(b"id: %s\n\n" % position.encode())
                    last_id = position
                if parts:
                    yield b"".join(parts)
        except LivebaseError as exc:  # the cursor expired while this consumer lagged behind
            yield b"event: error\ndata: %s\n\n" % dumps_bytes(exc.to_json())


def _event(change: Change) -> bytes:
    cursor = str(change.cursor).encode()
    return b"id: %s\nevent: change\ndata: %s\n\n" % (cursor, dumps_bytes(change.to_json()))


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequestError(f"query parameter {name!r} is given {len(values)} times")
    return values[0]


def _tables(values: list[str] | None) -> frozenset[str] | None:
    """``tables=a,b`` (also ``tables=a&tables=b``); names of tables that do not exist yet are
    fine, since a table appears with its first insert."""
    if values is None:
        return None
    names = frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
    for name in names:
        if not name.replace("_", "a").isalnum() or not name.isascii():
            raise BadRequestError(f"invalid table name {name!r} in 'tables'", code="InvalidTable")
    if not names:
        raise BadRequestError("'tables' is empty; leave it out to get every table")
    return names


def _limit(text: str | None) -> int:
    if text is None:
        return PAGE_SIZE
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_JSON_LIMIT:
        raise BadRequestError(f"'limit' must be a whole number from 1 to {MAX_JSON_LIMIT}")
    return int(text)


__all__ = ["KEEPALIVE_SECONDS", "ChangesEndpoint"]
