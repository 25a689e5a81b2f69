"""Following the change stream live: read pages of changes, then wait for the next commit.

A follower never trusts what a commit listener hands it: the listener only wakes it, and it
re-reads the commit log from its own position. Reading and registering the wake-up both happen
on the event-loop thread, where commits are applied too (synchronously, in ``Engine._flush``),
and ``wait_after`` checks ``engine.latest_ts`` before sleeping, so no commit can land unseen
between "read up to the latest" and "wait".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

from livebase.engine.batch import Commit
from livebase.engine.changes import ChangePage, Cursor, read_changes
from livebase.engine.database import Engine

PAGE_SIZE = 1000


class ChangeFeed:
    """Wakes followers of one engine's change stream; make one per engine and share it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._waiters: set[asyncio.Future[None]] = set()
        engine.add_commit_listener(self._on_commit)

    def _on_commit(self, commits: list[Commit]) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def read(
        self, after: Cursor | None, tables: Collection[str] | None, limit: int = PAGE_SIZE
    ) -> ChangePage:
        """One page from a fresh snapshot (see ``read_changes``)."""
        with self.engine.storage.reader() as reader:
            return read_changes(reader, after, tables, limit)

    async def wait_after(self, ts: int, timeout: float) -> bool:
        """Wait until a commit newer than ``ts`` exists; False if ``timeout`` passed first."""
        if self.engine.latest_ts > ts:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
        return self.engine.latest_ts > ts

    async def follow(
        self,
        first: ChangePage,
        tables: Collection[str] | None,
        *,
        page_size: int = PAGE_SIZE,
        idle: float = 15.0,
    ) -> AsyncIterator[ChangePage | None]:
        """``first``, then every later page, forever; None when ``idle`` seconds passed without
        a new commit (a chance to send a keepalive). Raises ``CursorExpiredError`` if a slow
        follower falls behind the retention window."""
        page = first
        while True:
            yield page
            if not page.more and not await self.wait_after(page.position.ts, idle):
                yield None
            else:
                await asyncio.sleep(0)  # a long catch-up must not starve the event loop
            page = self.read(page.position, tables, page_size)


__all__ = ["PAGE_SIZE", "ChangeFeed"]
