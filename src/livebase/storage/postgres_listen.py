"""Hearing other nodes' commits: ``LISTEN`` on a connection the event loop watches.

Every commit on a shared database sends ``NOTIFY`` (``storage.postgres``), and every listening
node hears it, its own commits included. A thread blocked in ``notifies()`` woke for each one and
needed the GIL to look at it, taking turns with a loop busy serving; here the listening socket
is one more file descriptor of the loop: when it is readable, the notifications that arrived
are read without blocking, and ``wake`` runs (on the loop's thread) if any came from another
session. A lost connection is re-opened a second later, and ``wake`` runs then too, for what
was committed while nobody listened.

A node that commits back to back does not need to hear: each of its batches brings the other
nodes' commits with the clock (``Engine.follow``). Hearing costs every node and PostgreSQL a
wake-up for every commit of every node, its own included (with three busy nodes on two vCPUs,
about a sixth of the write rate), so the engine turns listening off while its batches follow
one another (``listen(False)`` sends ``UNLISTEN``) and on again as soon as it pauses; once the
``LISTEN`` holds again, ``wake`` runs, for what was committed in between. Both statements go
out without blocking the loop; their answers are read with the notifications.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from livebase.storage.base import CommitWatch

log = logging.getLogger("livebase.storage")
RECONNECT_SECONDS = 1.0


class Listener(CommitWatch):
    """``LISTEN channel`` for the running loop until ``close``."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        own_pids: Callable[[], set[int]],
        wake: Callable[[], None],
    ) -> None:
        self._connect, self._channel, self._own_pids, self._wake = connect, channel, own_pids, wake
        self._loop = asyncio.get_running_loop()
        self._conn: psycopg.Connection[Any] | None = None
        self._fd = -1
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        self._wanted = True
        """Whether the engine wants to hear commits (``listen``)."""
        self._listening = False
        """Whether the server holds our ``LISTEN`` (as of the last statement answered)."""
        self._sent: bool | None = None
        """The ``LISTEN`` (True) or ``UNLISTEN`` (False) awaiting its answer, if any."""
        self._open()

    @property
    def listening(self) -> bool:
        """Whether commits wake this listener now (the server has answered our ``LISTEN``)."""
        return self._listening

    def listen(self, on: bool) -> None:
        """Hear commits (``LISTEN``; ``wake`` runs once it holds) or stop (``UNLISTEN``)."""
        self._wanted = on
        self._send_next()

    def _open(self) -> None:
        self._retry = None
        if self._closed:
            return
        try:
            conn = self._connect()
            if self._wanted:
                conn.execute(f"LISTEN {self._channel}")
        except psycopg.Error as exc:
            log.warning("cannot listen for other nodes' commits (retrying): %s", exc)
            self._retry = self._loop.call_later(RECONNECT_SECONDS, self._open)
            return
        self._conn, self._fd = conn, conn.pgconn.socket
        self._listening, self._sent = self._wanted, None
        self._loop.add_reader(self._fd, self._readable)
        self._wake()  # anything committed while nobody listened

    def _send_next(self) -> None:
        """Send ``LISTEN`` or ``UNLISTEN`` if the server's state is not the one wanted (one
        statement at a time: libpq takes no second while one awaits its answer)."""
        conn = self._conn
        if conn is None or self._sent is not None or self._wanted == self._listening:
            return
        verb = "LISTEN" if self._wanted else "UNLISTEN"
        try:
            conn.pgconn.send_query(f"{verb} {self._channel}".encode())
            while conn.pgconn.flush():  # a few bytes: the socket takes them at once
                pass
        except psycopg.OperationalError as exc:
            self._lost(exc)
            return
        self._sent = self._wanted

    def _answered(self, pgconn: Any) -> bool:
        """Read the answer of the statement sent, if it is all in; True if it was a LISTEN."""
        if self._sent is None or pgconn.is_busy():
            return False
        while (result := pgconn.get_result()) is not None:
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                raise psycopg.OperationalError(result.error_message.decode(errors="replace"))
        self._listening, self._sent = self._sent, None
        return self._listening

    def _readable(self) -> None:
        conn = self._conn
        assert conn is not None
        pgconn = conn.pgconn
        others = False
        try:
            pgconn.consume_input()
            own = None
            while (note := pgconn.notifies()) is not None:
                own = self._own_pids() if own is None else own
                others = others or note.be_pid not in own
            if self._answered(pgconn):
                others = True  # listening again: what was committed while we did not
            self._send_next()
        except psycopg.OperationalError as exc:
            self._lost(exc)
            others = True
        if others:
            self._wake()  # this node has delivered its own

    def _lost(self, exc: Exception) -> None:
        log.warning("lost the connection listening for other nodes' commits: %s", exc)
        self._drop()
        self._retry = self._loop.call_later(RECONNECT_SECONDS, self._open)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._listening, self._sent = False, None
        if conn is None:
            return
        # By the number it was watched under: a broken connection no longer tells its socket,
        # and a new connection may get the same number, which must not find it still watched.
        self._loop.remove_reader(self._fd)
        conn.close()

    def close(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._drop()


__all__ = ["Listener"]
