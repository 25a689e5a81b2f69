"""Hearing other nodes' commits (``storage.postgres_listen``), on the real server: another
storage's commit wakes the listener, its own does not, and after its connection is killed it
listens again by itself and wakes for what it may have missed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import psycopg
import pytest
import uvloop

from livebase.storage.postgres import PostgresStorage
from livebase.storage.postgres_listen import Listener
from tests.support.calls import wait_until_async
from tests.support.postgres import fresh_database_url


@pytest.fixture(params=["asyncio", "uvloop"])
def run_loop(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    """Both event loops: the server runs on uvloop, the tests' clients on asyncio."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


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


def watching(
    storage: PostgresStorage,
    run_loop: Callable[..., None],
    body: Callable[[Listener, list[int]], Coroutine[Any, Any, None]],
) -> None:
    """Run ``body(watch, wakes)`` with ``storage`` watching (each wake appended to ``wakes``)."""
    wakes: list[int] = []

    async def main() -> None:
        watch = storage.watch_commits(lambda: wakes.append(1))
        try:
            await body(watch, wakes)
        finally:
            watch.close()

    run_loop(main())


def test_other_commits_wake_the_listener_and_its_own_do_not(
    two_nodes: tuple[PostgresStorage, PostgresStorage], run_loop: Callable[..., None]
) -> None:
    mine, other = two_nodes

    async def body(watch: Listener, wakes: list[int]) -> None:
        assert wakes == [1]  # at once: anything committed before it listened
        commit(mine)
        commit(other)  # notified after ours, on the same connection
        await wait_until_async(lambda: len(wakes) == 2, timeout=10)
        commit(mine)
        commit(mine)
        commit(other)
        await wait_until_async(lambda: len(wakes) == 3, timeout=10)
        assert len(wakes) == 3  # its own three commits woke nothing

    watching(mine, run_loop, body)


def test_a_lost_connection_is_opened_again(
    two_nodes: tuple[PostgresStorage, PostgresStorage], run_loop: Callable[..., None]
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
        watch = mine.watch_commits(lambda: wakes.append(1))
        try:
            (pid,) = listeners()
            with psycopg.connect(mine.url.split("?")[0], autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # It wakes when the connection drops and again once it listens anew (what was
            # committed in between is caught up then).
            await wait_until_async(lambda: len(wakes) == 3, timeout=10)
            again = listeners()
            assert again and pid not in again
            commit(other)
            await wait_until_async(lambda: len(wakes) == 4, timeout=10)
        finally:
            watch.close()
        assert not listeners()  # close closed the connection

    run_loop(main())


def test_a_listener_turned_off_is_not_woken_and_wakes_once_it_listens_again(
    two_nodes: tuple[PostgresStorage, PostgresStorage], run_loop: Callable[..., None]
) -> None:
    mine, other = two_nodes

    async def body(watch: Listener, wakes: list[int]) -> None:
        assert wakes == [1] and watch.listening
        watch.listen(False)
        await wait_until_async(lambda: not watch.listening, timeout=10)
        commit(other)
        commit(other)
        watch.listen(True)
        await wait_until_async(lambda: watch.listening, timeout=10)
        # Woken once the LISTEN holds, for what was committed while it did not listen.
        await wait_until_async(lambda: len(wakes) == 2, timeout=10)
        commit(other)
        await wait_until_async(lambda: len(wakes) == 3, timeout=10)
        assert len(wakes) == 3  # the two commits made while it did not listen woke nothing

    watching(mine, run_loop, body)


def test_a_listener_switched_back_before_the_server_answers_ends_up_listening(
    two_nodes: tuple[PostgresStorage, PostgresStorage], run_loop: Callable[..., None]
) -> None:
    """One statement at a time goes to the server: the LISTEN follows the UNLISTEN's answer."""
    mine, other = two_nodes

    async def body(watch: Listener, wakes: list[int]) -> None:
        watch.listen(False)
        watch.listen(True)  # before the UNLISTEN's answer: the LISTEN goes after it
        # Woken when the LISTEN holds again (an UNLISTEN that never went would not).
        await wait_until_async(lambda: watch.listening and len(wakes) == 2, timeout=10)
        commit(other)
        await wait_until_async(lambda: len(wakes) == 3, timeout=10)

    watching(mine, run_loop, body)
