"""Following other nodes' commits (``Engine.follow``) on two engines sharing one PostgreSQL
database: a node about to commit leaves them to its batch, which reads them with the clock
anyway, instead of reading the log a second time; an idle node reads them itself after a short
grace, and an idle one at once; a node woken while a batch is on its way reads what that
batch could not bring; and a node committing back to back stops listening and listens again
once it pauses (``engine.hearing``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from livebase.engine import Engine, Transaction
from livebase.engine.hearing import MUTE_AFTER
from tests.engine.conftest import run
from tests.engine.test_optimistic import (
    clock_held,
    commit_log,
    mutate_all,
    nodes,  # noqa: F401  (the fixture)
    on_other_node,
    seen_by,
    storage_of,
    waiting_for_the_clock,
)
from tests.support.calls import wait_until, wait_until_async


def insert(n: int) -> Callable[[Transaction], Any]:
    return lambda tx: tx.insert("counters", {"n": n})


def counting_reads(engine: Engine) -> list[int]:
    """Each ``catch_up`` (a read of the log for other nodes' commits) appends what it found."""
    reads: list[int] = []
    catch_up = engine.catch_up

    def counted(upto: int | None = None) -> int:
        found = catch_up(upto)
        reads.append(found)
        return found

    engine.catch_up = counted  # type: ignore[method-assign]
    return reads


def clock_value(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT ts FROM lb_clock WHERE id = 1").fetchone()
    assert row is not None
    return int(row[0])


def waits_for_a_lock(conn: psycopg.Connection[Any], pid: int) -> bool:
    # pg_locks, not pg_stat_activity: the latter is a snapshot for the whole transaction.
    row = conn.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,))
    return bool(row.fetchone()[0])  # type: ignore[index]


@asynccontextmanager
async def following(engine: Engine) -> AsyncIterator[asyncio.Event]:
    """``engine.follow`` running (its poll far away): yields the event that wakes it."""
    wake = asyncio.Event()
    follower = asyncio.ensure_future(engine.follow(wake, poll_seconds=30.0))
    try:
        await asyncio.sleep(0)
        yield wake
    finally:
        follower.cancel()


def woken_by_another_nodes_commit(a: Engine, b: Engine, seen: list[int]) -> tuple[int, float]:
    """b commits and a is woken (as by b's notification) with nothing of its own to commit:
    b's commit's timestamp, and how long a took to deliver it."""

    async def main() -> tuple[int, float]:
        async with following(a) as wake:
            on_other_node(b, insert(1))
            woken = time.monotonic()
            wake.set()
            await wait_until_async(lambda: len(seen) == 1, timeout=10)
            return b.latest_ts, time.monotonic() - woken

    return run(main())


def test_a_node_about_to_commit_leaves_other_nodes_commits_to_its_batch(
    nodes: tuple[Engine, Engine],  # noqa: F811
) -> None:
    a, b = nodes
    mutate_all(a, [insert(0)])  # learns the catalog
    a.follow_busy_seconds = 30.0  # a counts as a node with writers
    a.follow_grace_seconds = 30.0  # only a batch of a's can deliver the commit in time
    reads, seen = counting_reads(a), seen_by(a)

    async def main() -> tuple[int, int]:
        async with following(a) as wake:
            on_other_node(b, insert(1))
            wake.set()  # b's notification
            for _ in range(3):
                await asyncio.sleep(0)  # the follower is woken and waits
            mine = await a.mutate(insert(2), optimistic=True)
            await wait_until_async(lambda: len(seen) == 2, timeout=10)
            return b.latest_ts, mine.ts

    theirs, mine = run(main())
    assert reads == []  # a's batch brought b's commit: the log was not read again
    assert seen == [theirs, mine] == commit_log(a)[1:]


def test_a_node_with_writers_but_no_batch_coming_reads_other_nodes_commits_after_the_grace(
    nodes: tuple[Engine, Engine],  # noqa: F811
) -> None:
    a, b = nodes
    mutate_all(a, [insert(0)])
    a.follow_busy_seconds = 30.0
    a.follow_grace_seconds = 0.05
    reads, seen = counting_reads(a), seen_by(a)
    theirs, waited = woken_by_another_nodes_commit(a, b, seen)
    assert reads == [1] and seen == [theirs]
    assert waited >= 0.05  # it gave a batch of its own the chance first


def test_an_idle_node_reads_other_nodes_commits_at_once(
    nodes: tuple[Engine, Engine],  # noqa: F811
) -> None:
    a, b = nodes
    mutate_all(a, [insert(0)])
    a.follow_busy_seconds = 0.0  # no batch of a's counts as recent
    a.follow_grace_seconds = 30.0  # would time the test out if it waited
    reads, seen = counting_reads(a), seen_by(a)
    theirs, _ = woken_by_another_nodes_commit(a, b, seen)
    assert reads == [1] and seen == [theirs]


def test_a_node_woken_while_its_batch_is_in_flight_reads_what_the_batch_could_not_bring(
    nodes: tuple[Engine, Engine],  # noqa: F811
) -> None:
    """The notification arrives while a's batch waits for the clock; b commits only after that
    batch (so its tail does not hold b's commit), and a has nothing more to commit: a reads
    b's commit once its batch has landed, not at the next poll."""
    a, b = nodes
    waiting_for_the_clock(a)
    a.follow_busy_seconds, a.follow_grace_seconds = 30.0, 0.01
    storage_of(b)._write_conn.execute("SET lock_timeout = 0")  # b waits for a's batch
    reads, seen = counting_reads(a), seen_by(a)

    async def main() -> tuple[int, int]:
        async with following(a) as wake:
            with clock_held(a) as holder:
                batch = asyncio.ensure_future(a.mutate(insert(1), optimistic=True))
                await wait_until_async(lambda: a._in_flight is not None, timeout=10)
                sender = storage_of(a)._sender
                assert sender is not None
                # a's batch is queued for the clock on the server before b's commit asks for it.
                await wait_until_async(
                    lambda: waits_for_a_lock(holder, sender.info.backend_pid), timeout=10
                )
                wake.set()
                for _ in range(3):
                    await asyncio.sleep(0)
                held = clock_value(holder)
                holder.commit()  # a's batch takes the clock and commits; then b commits
                # A session that asks for a free row lock takes it at once: b could overtake
                # a's batch if a's backend were slow to wake (a loaded machine). It waits.
                wait_until(lambda: clock_value(holder) > held, timeout=10)
                on_other_node(b, insert(2))
            mine = await batch
            await wait_until_async(lambda: len(seen) == 2, timeout=10)
            return mine.ts, b.latest_ts

    mine, theirs = run(main())
    assert mine < theirs and seen == [mine, theirs] == commit_log(a)[2:]
    assert reads == [1]


def test_a_node_committing_back_to_back_stops_listening_and_still_delivers_every_commit(
    nodes: tuple[Engine, Engine],  # noqa: F811
) -> None:
    a, b = nodes
    mutate_all(a, [insert(0)])
    a.follow_grace_seconds = 30.0  # batches a second apart still follow one another
    a.follow_busy_seconds = 0.0  # once it listens again, it reads at once when woken
    reads, seen = counting_reads(a), seen_by(a)
    wakes: list[int] = []

    async def main() -> tuple[list[int], int]:
        wake = asyncio.Event()

        def woken() -> None:
            wakes.append(1)
            wake.set()

        watch = storage_of(a).watch_commits(woken)
        follower = asyncio.ensure_future(a.follow(wake, poll_seconds=30.0, watch=watch))
        try:
            for n in range(MUTE_AFTER + 1):
                await a.mutate(insert(n), optimistic=True)
            await wait_until_async(lambda: not watch.listening, timeout=10)
            heard = len(wakes)
            on_other_node(b, insert(100))
            theirs = b.latest_ts
            mine = await a.mutate(insert(101), optimistic=True)
            assert seen[-2:] == [theirs, mine.ts]  # its batch brought b's commit, in order
            assert len(wakes) == heard and reads == []
            # It pauses (no batch for the grace): it listens again and, once that holds, is
            # woken and reads what came meanwhile.
            a.follow_grace_seconds = 0.0
            wake.set()
            await wait_until_async(lambda: watch.listening and len(wakes) == heard + 1, 10)
            on_other_node(b, insert(102))  # an idle node hears it
            await wait_until_async(lambda: seen[-1] == b.latest_ts, timeout=10)
            return seen, len(wakes) - heard
        finally:
            follower.cancel()
            watch.close()

    delivered, woken_after = run(main())
    assert delivered == commit_log(a)[1:]  # every commit once, in order
    assert woken_after >= 2 and reads and reads[-1] == 1
