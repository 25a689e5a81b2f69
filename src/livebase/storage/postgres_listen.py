"""Hearing other nodes' commits: ``LISTEN`` on a connection the event loop watches.

Every commit on a shared database sends ``NOTIFY`` (``storage.postgres``), and every listening
node hears it, its own commits included. A thread blocked in ``notifies()`` woke for each one and
needed the GIL to look at it, taking turns with a loop busy serving; here the listening socket
is one more file descriptor of the loop: when it is readable, the notifications that arrived
are read without blocking, and ``wake`` runs (on the loop's thread) if any came from another
session. A lost connection is re-opened a second later, and ``wake`` runs then too, for what
was committed while nobody listened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

log = logging.getLogger("livebase.storage")
RECONNECT_SECONDS = 1.0


class Listener:
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
        self._open()

    def _open(self) -> None:
        self._retry = None
        if self._closed:
            return
        try:
            conn = self._connect()
            conn.execute(f"LISTEN {self._channel}")
        except psycopg.Error as exc:
            log.warning("cannot listen for other nodes' commits (retrying): %s", exc)
            self._retry = self._loop.call_later(RECONNECT_SECONDS, self._open)
            return
        self._conn, self._fd = conn, conn.pgconn.socket
        self._loop.add_reader(self._fd, self._readable)
        self._wake()  # anything committed while nobody listened

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
        except psycopg.OperationalError as exc:
            log.warning("lost the connection listening for other nodes' commits: %s", exc)
            self._drop()
            self._retry = self._loop.call_later(RECONNECT_SECONDS, self._open)
            others = True
        if others:
            self._wake()  # this node has delivered its own

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
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
