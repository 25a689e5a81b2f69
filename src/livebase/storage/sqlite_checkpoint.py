"""Copies the SQLite write-ahead log into the database file on a thread of its own.

SQLite checkpoints the WAL from inside the ``COMMIT`` that takes it past 1,000 pages: that commit
syncs the log, copies every page written since the last checkpoint into the database file and
syncs that, about 5 ms on this machine, on the event loop, once every hundred or so commits. It
was the whole of a socket mutation's p99 (5 ms against a p50 of 0.5 ms).

Here the copying moves to a thread with its own connection, which runs ``PASSIVE`` checkpoints
(they never wait for, nor hold up, the writer or readers) every few dozen commits and whenever
writes pause. The log must still be started over now and then, or its file grows: that needs a
checkpoint that copies *everything* with no commit in between, which only the writer's own
connection can guarantee. So every ``RESTART_COMMITS`` commits the writer runs one, right after
its commit, and the next transaction reuses the log from its start. The thread has copied nearly
all of it, but that checkpoint still syncs the log and the database file: 1-3 ms on this
machine (against about 5 ms), in one commit of 160 (against one of about a hundred), so a p99
no longer sees it and a p999 still does. Removing it entirely would need the writer to stop for
a moment, or checkpoints without syncs, which could corrupt the file on a power loss. SQLite's
own automatic checkpoint stays as a backstop for very large transactions. Durability does not
change: a checkpoint only moves pages already committed to the log.

On a machine short of CPU and disk the thread's passes can take long enough that the writer's
checkpoint finds the log busy commit after commit, and the log, not starting over, grew past
8 MiB (a test run beside a loaded suite). So once the writer's checkpoint is due, the thread
starts no new pass until the log has started over (the commit after a complete checkpoint), and
the log's file is cut back to ``WAL_SIZE_LIMIT`` when it does (``journal_size_limit``), so a
burst does not keep its disk space for ever.

That limit is well above what one cycle of the log holds in steady use (``RESTART_COMMITS``
commits of a few pages each: the file reached 7.5 MiB under the benchmark's socket mutations,
which each write a document, three index entries, a commit and an idempotency record). Below it,
each cycle cut the file back and then grew it again: the cut costs a sync of its own (1.8 ms
here), and a commit that grows the file needs a costlier sync than one that overwrites it
(``fsync-per-commit``: 238 against 108 us p50 for five pages on this machine's disk).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("livebase.storage")

COPY_EVERY_COMMITS = 48
"""Commits after which the thread copies the log."""
RESTART_COMMITS = 160
"""Commits after which the writer checkpoints what is left itself (then the log starts over)."""
AUTOCHECKPOINT_PAGES = 4_000
"""SQLite's own checkpoint inside a commit, for a log that grows faster than the above keep up
with (one very large transaction): 16 MiB with 4 KiB pages; SQLite's default is 1,000."""
WAL_SIZE_LIMIT = 16 << 20
"""Bytes the log's file is cut back to when the log starts over (``journal_size_limit``); the
file keeps what it has below this, to be written over again."""
IDLE_SECONDS = 0.5
"""After this long without a new commit, what was written is copied too. Writes that trickle
in (one every 50 ms, say) are copied every ``COPY_EVERY_COMMITS`` like a burst: copying every
half second took a pass and a sync of the database file every ten writes there (0.06 ms of CPU
a write, issue 17's W3). With nothing written since the last copy, the thread sleeps until the
next commit."""
MAX_PASSES = 4
"""PASSIVE checkpoints in a row while the writer keeps adding to the log."""


class WalCheckpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection, and
    the writer's periodic checkpoint that lets the log start over."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._commits = 0
        self._since_restart = 0
        self._restart_due = False
        self._wake = threading.Event()
        self._stopping = False
        self.copies = 0
        """Background checkpoints run (for tests and diagnosis)."""
        self.restarts = 0
        """Checkpoints the writer ran itself."""
        self._thread = threading.Thread(target=self._run, name="livebase-wal-checkpoint")
        self._thread.daemon = True
        self._thread.start()

    def committed(self, writer: sqlite3.Connection) -> None:
        """Called after every commit, on the writer's connection (outside a transaction)."""
        if self._restart_due and self._since_restart == 0:
            self._restart_due = False  # this commit's transaction started the log over
        self._commits += 1
        if self._commits >= COPY_EVERY_COMMITS or self._commits == 1:
            self._wake.set()  # the first commit since a copy starts the idle clock
        self._since_restart += 1
        if self._since_restart < RESTART_COMMITS:
            return
        self._restart_due = True  # the thread starts no pass until the writer has had its turn
        try:
            busy, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.debug("the writer's WAL checkpoint failed", exc_info=True)
            return
        # Busy: the thread is in a pass (its last one now); fewer copied: a reader still holds
        # part of the log. Either way the log cannot start over yet: again after the next commit.
        if not busy and copied >= frames:
            # The log starts over when the next write transaction begins, if no checkpoint is
            # reading it then: the thread waits for that commit too (``_restart_due``).
            self._since_restart = 0
            self.restarts += 1

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.warning("the WAL checkpoint thread could not open %s", self._path, exc_info=True)
            return
        try:
            conn.execute("PRAGMA busy_timeout=0")  # PASSIVE never waits; nor does its setup
            seen = 0  # commits counted at the last look
            while not self._stopping:
                woken = self._wake.wait(IDLE_SECONDS if seen else None)
                self._wake.clear()
                commits = self._commits
                due = commits >= COPY_EVERY_COMMITS or (not woken and commits == seen)
                if self._stopping or not due:
                    seen = commits  # 0: nothing to copy; more than last time: not idle yet
                    continue
                self._commits = seen = 0
                self._copy(conn)
        finally:
            conn.close()

    def _copy(self, conn: sqlite3.Connection) -> None:
        """PASSIVE passes, each copying what the writer added during the one before."""
        for _ in range(MAX_PASSES):
            if self._restart_due:
                return  # the writer's checkpoint must not find the log busy again
            try:
                busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                log.debug("a background WAL checkpoint failed", exc_info=True)
                return
            self.copies += 1
            if busy or copied >= frames or self._stopping:
                return
