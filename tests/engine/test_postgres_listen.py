"""Hearing other nodes' commits (``storage.postgres_listen``), on the real server: another
storage's commit wakes the listener, its own does not, and after its connection is killed it
listens again by itself and wakes for what it may have missed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import psycopg
import pytest

from livebase.storage.postgres import PostgresStorage
from tests.support.postgres import fresh_database_url


@pytest.fixture
def two_nodes() -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    with fresh_database_url() as url:
        first = PostgresStorage(url)
        second = PostgresStorage(url)
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def commit(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        w.append_commit(w.latest_ts() + 1, '{"writes":[]}')


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)
    assert condition(), what


def test_other_commits_wake_the_listener_and_its_own_do_not(
    two_nodes: tuple[PostgresStorage, PostgresStorage],
) -> None:
    mine, other = two_nodes
    wakes: list[int] = []

    async def main() -> None:
        stop = mine.watch_commits(lambda: wakes.append(1))
        assert stop is not None
        try:
            assert wakes == [1]  # at once: anything committed before it listened
            commit(mine)
            commit(other)  # notified after ours, on the same connection
            await until(lambda: len(wakes) == 2, "the other storage's commit woke it")
            commit(mine)
            commit(mine)
            commit(other)
            await until(lambda: len(wakes) == 3, "the other storage's second commit woke it")
            assert len(wakes) == 3  # its own three commits woke nothing
        finally:
            stop()

    asyncio.run(main())


def test_a_lost_connection_is_opened_again(
    two_nodes: tuple[PostgresStorage, PostgresStorage],
) -> None:
    mine, other = two_nodes
    wakes: list[int] = []

    def listeners() -> list[int]:
        with psycopg.connect(mine.url.split("?")[0], autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"LISTEN {mine.channel}%",),
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    async def main() -> None:
        stop = mine.watch_commits(lambda: wakes.append(1))
        assert stop is not None
        try:
            (pid,) = listeners()
            with psycopg.connect(mine.url.split("?")[0], autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # It wakes when the connection drops and again once it listens anew (what was
            # committed in between is caught up then).
            await until(lambda: len(wakes) == 3, "it listened again and woke for what it missed")
            again = listeners()
            assert again and pid not in again
            commit(other)
            await until(lambda: len(wakes) == 4, "a commit after the reconnect woke it")
        finally:
            stop()
        assert not listeners()  # stop closed the connection

    asyncio.run(main())
