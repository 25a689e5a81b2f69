"""``Subscription``: an async iterator over a live query's results.

Each ``__anext__`` returns the query's newest result that this iterator has not returned yet,
waiting for one if needed. Results are coalesced: a consumer slower than the updates skips the
intermediate states and always gets the latest (memory stays bounded). A result equal to the
previous one (e.g. re-sent after a reconnect) is not yielded again. A failed query raises
``FunctionError`` from ``__anext__``; the subscription stays usable and yields the next result.

The subscription ends (``StopAsyncIteration``) once closed with ``close``/``aclose``, by leaving
``async with``, or when the object is garbage collected (so ``break`` out of ``async for`` removes
it). If the client itself is closed, ``__anext__`` raises ``ConnectionClosedError``.

Values are shared between subscribers of the same query: treat them as read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from livebase.client.errors import ClientError
from livebase.client.state import QueryEntry, SyncState
from livebase.values.types import Value


class Subscription:
    """A live query. Iterate with ``async for``; ``latest`` is the current result."""

    def __init__(self, state: SyncState, entry: QueryEntry) -> None:
        self._loop = asyncio.get_running_loop()
        self._state = state
        self._entry = entry
        self._seen = 0
        self._closed = False

    @property
    def path(self) -> str:
        """The canonical function path (``module:function``)."""
        return self._entry.path

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def has_result(self) -> bool:
        """Whether a first result has arrived."""
        return self._entry.result is not None

    @property
    def latest(self) -> Value:
        """The newest result (raises ``FunctionError`` if the query currently fails, and
        ``ClientError`` before the first result)."""
        result = self._entry.result
        if result is None:
            raise ClientError(f"subscription to {self.path} has no result yet")
        return result.unwrap(self.path)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Value:
        entry = self._entry
        while True:
            if self._closed:
                raise StopAsyncIteration
            self._state.check_open()
            if entry.result is not None and entry.version > self._seen:
                self._seen = entry.version
                return entry.result.unwrap(entry.path)
            await entry.wait()

    def close(self) -> None:
        """Unsubscribe (idempotent). A pending ``__anext__`` ends with ``StopAsyncIteration``."""
        if self._closed:
            return
        self._closed = True
        self._state.release(self._entry)
        self._entry.wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Runs when an ``async for`` is left with ``break`` and nothing else holds the object;
        # may run on any thread, so the release is handed to the loop.
        if getattr(self, "_closed", True):
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.call_soon_threadsafe(self._state.release, self._entry)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Subscription {self.path} ({state})>"


__all__ = ["Subscription"]
