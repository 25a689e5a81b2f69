"""The deployment's function log: a bounded ring of the last N entries, kept on disk too.

Every line a function prints or logs, and every function failure, becomes one ``LogEntry``
(``Runner`` records them when a call ends). The ring keeps the last ``LIVEBASE_LOG_ENTRIES``
entries (10,000 by default; the oldest are dropped). With a journal (``open_journal``; the server
opens one in its data folder, see ``journal``) the entries survive a restart; each node of a
shared database keeps its own. Entries are numbered from 1 in the order they were recorded, and
the numbers go on across restarts; a reader asks for those after a cursor (the last number it
saw) and can wait for new ones (``wait``), which is how ``livebase logs --follow`` streams them.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from livebase.logs.entry import LogEntry
from livebase.logs.journal import LogJournal

DEFAULT_ENTRIES = 10_000
LEVELS = ("DEBUG", "LOG", "INFO", "WARN", "ERROR")
RANK = {"DEBUG": 0, "LOG": 1, "INFO": 1, "WARN": 2, "ERROR": 3}
"""``--level X`` keeps entries ranked at least X; ``LOG`` and ``INFO`` rank alike."""

log_source: contextvars.ContextVar[str] = contextvars.ContextVar(
    "livebase_log_source", default="call"
)
"""Why the calls made in this context run: ``call``, or ``scheduled`` / ``cron`` (set by the
scheduler around a job)."""


def split_line(line: str) -> tuple[str, str]:
    """``[LEVEL] message`` (a captured line's wire form) as (level, message)."""
    if line.startswith("["):
        end = line.find("] ")
        if 0 < end <= 6 and line[1:end] in RANK:
            return line[1:end], line[end + 2 :]
    return "LOG", line


def entries_limit() -> int:
    """``LIVEBASE_LOG_ENTRIES`` (at least 1; 10,000 when unset or not a number)."""
    try:
        return max(1, int(os.environ.get("LIVEBASE_LOG_ENTRIES", DEFAULT_ENTRIES)))
    except ValueError:
        return DEFAULT_ENTRIES


class LogStore:
    """The ring of the last ``limit`` entries, and a way to wait for new ones. Used on the
    server's event loop thread only."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = entries_limit() if limit is None else max(1, limit)
        self._ring: deque[LogEntry] = deque(maxlen=self.limit)
        self._last = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._closed = False
        self._journal: LogJournal | None = None
        self.on_record: Callable[[], None] | None = None
        """Called after new entries are recorded (the dashboard pushes its live log then)."""

    def open_journal(self, folder: Path) -> None:
        """Keep the entries in ``folder`` as well, and start from the ones already there."""
        self._journal = LogJournal(folder, self.limit)
        kept = self._journal.load()
        self._ring.extend(kept)
        if kept:
            self._last = max(self._last, kept[-1].seq)

    @property
    def last(self) -> int:
        """The number of the newest entry (0 before any)."""
        return self._last

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def oldest(self) -> int:
        """The number of the oldest entry kept (the newest + 1 when there is none)."""
        return self._ring[0].seq if self._ring else self._last + 1

    def record(
        self,
        path: str,
        kind: str,
        lines: Iterable[str],
        request_id: str,
        source: str = "call",
        failure: str | None = None,
    ) -> None:
        """A call's captured ``lines`` and, if it failed, its error message ``failure``."""
        now = time.time()
        new: list[LogEntry] = []
        for line in lines:
            level, message = split_line(line)
            self._last += 1
            new.append(LogEntry(self._last, now, path, kind, level, message, request_id, source))
        if failure is not None:
            self._last += 1
            new.append(
                LogEntry(self._last, now, path, kind, "ERROR", failure, request_id, source, True)
            )
        if new:
            self._ring.extend(new)
            if self._journal is not None:
                self._journal.append(new)
            if self.on_record is not None:
                self.on_record()
        self._wake()

    def _wake(self) -> None:
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    def after(
        self,
        cursor: int,
        *,
        function: str | None = None,
        level: str | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> tuple[list[LogEntry], int]:
        """Entries numbered above ``cursor`` that pass the filters (at most ``limit``), and the
        cursor to ask with next time (the last entry looked at)."""
        ring = self._ring
        if not ring or cursor >= self._last:  # a cursor from before a restart starts over
            return [], min(max(cursor, 0), self._last)
        first = ring[0].seq
        start = max(0, cursor + 1 - first)
        floor = RANK.get(level.upper(), 0) if level else 0
        found: list[LogEntry] = []
        next_cursor = cursor
        for entry in itertools.islice(ring, start, None):
            next_cursor = entry.seq
            if (
                (
                    function is None
                    or entry.path == function
                    or entry.path.startswith(function + ":")
                )
                and RANK.get(entry.level, 1) >= floor
                and (since is None or entry.ts >= since)
            ):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found, next_cursor

    def close(self) -> None:
        """The server is stopping: waits end now (a long poll answers), and later ones at once."""
        self._closed = True
        if self._journal is not None:
            self._journal.close()
        self._wake()

    async def wait(self, cursor: int, timeout: float) -> None:
        """Return when there is an entry numbered above ``cursor``, after ``timeout``, or when
        the store is closed."""
        if self._last > cursor or self._closed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


__all__ = [
    "DEFAULT_ENTRIES",
    "LEVELS",
    "RANK",
    "LogEntry",
    "LogStore",
    "entries_limit",
    "log_source",
    "split_line",
]
