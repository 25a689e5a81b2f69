"""A node's next batch waits for the writers its last batch answered, while other nodes commit
(``engine.gathering``): on two engines sharing one PostgreSQL database, the held batch takes
the answered writer's next call with it (one batch, one delivery), goes out alone once the hold
expires, and a node alone never holds; it only sends the next batch after the answers of the
one that landed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from livebase.engine import Commit, Engine, Transaction, database
from livebase.engine.gathering import MISSES_BEFORE_BACKING_OFF, PROBE_EVERY, Gathering
from tests.engine.conftest import run
from tests.engine.test_optimistic import (
    clock_held,
    commit_log,
    counters,
    mutate_all,
    nodes,
    others_seen,
    waiting_for_the_clock,
)
from tests.support.calls import wait_until_async

__all__ = ["nodes"]  # the fixture, shared with test_optimistic


def deliveries(engine: Engine) -> list[tuple[float, list[int]]]:
    """Each delivery to the engine's listeners: when, and the commits it held."""
    seen: list[tuple[float, list[int]]] = []

    def listener(commits: list[Commit]) -> None:
        seen.append((time.monotonic(), [c.ts for c in commits]))

    engine.add_commit_listener(listener)
    return seen


def insert(n: int, ran: list[int]) -> Callable[[Transaction], Any]:
    return lambda tx: ran.append(n) or tx.insert("counters", {"n": n})


async def two_calls_around_a_landing(
    engine: Engine, ran: list[int], answered: Callable[[], None] = lambda: None
) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
    """Call 1 goes out and waits for the clock (another session holds it); call 2 runs ahead
    behind it; then the clock is let go. Returns once call 1 is answered (``answered`` runs in
    call 1's caller as it resumes with its answer); call 2 is open."""

    async def call_1() -> Any:
        outcome = await engine.mutate(insert(1, ran), optimistic=True)
        answered()
        return outcome

    with clock_held(engine) as holder:
        first = asyncio.ensure_future(call_1())
        await wait_until_async(lambda: engine._in_flight is not None, timeout=10)
        second = asyncio.ensure_future(engine.mutate(insert(2, ran), optimistic=True))
        await wait_until_async(lambda: ran == [1, 2], timeout=10)
        holder.commit()
    await first
    return first, second


@pytest.fixture
def others_stay_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another node's commit keeps counting as recent for the whole test, however slow."""
    monkeypatch.setattr(database, "OTHERS_ACTIVE_SECONDS", 600.0)


@pytest.mark.usefixtures("others_stay_active")
def test_the_held_batch_takes_the_answered_writers_next_call_with_it(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    waiting_for_the_clock(a)
    others_seen(a, b)
    a.gathering = Gathering(hold_seconds=600)  # only the writer's return ends this hold
    seen = deliveries(a)
    ran: list[int] = []

    async def main() -> list[int]:
        first, second = await two_calls_around_a_landing(a, ran)
        assert a._held is not None and not a._paused()  # held, not idle
        await asyncio.sleep(0.05)
        assert not second.done()  # still waiting for the writer call 1 answered
        third = asyncio.ensure_future(a.mutate(insert(3, ran), optimistic=True))
        return [(await call).ts for call in (first, second, third)]

    stamps = run(main())
    assert ran == [1, 2, 3]  # each ran once, as it arrived
    # Calls 2 and 3 went out as one batch: one delivery holds both.
    assert [commits for _, commits in seen] == [[stamps[0]], stamps[1:]]
    assert stamps == sorted(set(stamps)) and stamps == commit_log(a)[-3:]
    assert a.gathering.gathered == 1 and a.gathering.expired == 0
    assert counters(a) == [-1, 0, 0, 1, 2, 3]


@pytest.mark.usefixtures("others_stay_active")
def test_a_hold_that_expires_sends_what_joined_it(nodes: tuple[Engine, Engine]) -> None:
    a, b = nodes
    waiting_for_the_clock(a)
    others_seen(a, b)
    hold = 0.05
    a.gathering = Gathering(hold_seconds=hold)
    seen = deliveries(a)
    ran: list[int] = []

    async def main() -> None:
        _, second = await two_calls_around_a_landing(a, ran)
        await second  # nobody else calls: it goes once the hold expires

    run(main())
    assert [len(commits) for _, commits in seen] == [1, 1]
    assert seen[1][0] - seen[0][0] >= hold - 0.001  # it waited out the hold (the loop's clock)
    assert a.gathering.expired >= 1
    assert counters(a) == [-1, 0, 0, 1, 2]


@pytest.mark.usefixtures("others_stay_active")
def test_a_hold_left_by_an_event_loop_that_ended_does_not_hold_the_next_one(
    nodes: tuple[Engine, Engine],
) -> None:
    """A batch of three lands as its loop ends (a hold for three is left behind, its timer
    never to fire); on the next loop one call is not kept waiting for the other two."""
    a, b = nodes
    waiting_for_the_clock(a)
    others_seen(a, b)
    a.gathering = Gathering(hold_seconds=0.05)
    ran: list[int] = []
    mutate_all(a, [insert(n, ran) for n in (1, 2, 3)])
    assert a._held is not None and a.gathering.target == 3
    until = time.monotonic() + a.gathering.hold_seconds
    while time.monotonic() <= until:
        time.sleep(0.01)  # the hold's time runs out with no loop to end it

    async def main() -> None:
        await asyncio.wait_for(a.mutate(insert(4, ran), optimistic=True), timeout=30)

    run(main())
    assert a.gathering.expired >= 1 and ran == [1, 2, 3, 4]
    assert counters(a) == [-1, 0, 0, 1, 2, 3, 4]


def test_a_node_alone_never_holds(nodes: tuple[Engine, Engine]) -> None:
    a, _ = nodes
    waiting_for_the_clock(a)
    a.gathering = Gathering(hold_seconds=600)  # a hold would outlast the test
    seen = deliveries(a)
    ran: list[int] = []

    async def main() -> None:
        _, second = await two_calls_around_a_landing(a, ran)
        await asyncio.wait_for(second, timeout=30)  # goes as soon as call 1 lands

    run(main())
    assert [len(commits) for _, commits in seen] == [1, 1]
    assert a.gathering.holds == 0 and a._held is None


def test_the_next_batch_goes_out_after_the_answers_of_the_one_that_landed(
    nodes: tuple[Engine, Engine],
) -> None:
    """Sent at once, the next batch's message woke the PostgreSQL backend before the answers
    of the batch that landed were written; it now goes out on the loop's next turn, after the
    callers resumed (a node alone: no hold, just that turn)."""
    a, _ = nodes
    waiting_for_the_clock(a)
    seen = deliveries(a)
    ran: list[int] = []

    when_answered: list[tuple[bool, bool]] = []

    def note() -> None:  # call 2, which ran ahead, has not been sent yet; it is about to be
        when_answered.append((a._in_flight is None, a._held is not None))

    async def main() -> None:
        _, second = await two_calls_around_a_landing(a, ran, note)
        await asyncio.wait_for(second, timeout=30)  # and it goes without anyone else calling

    run(main())
    assert when_answered == [(True, True)]
    assert [len(commits) for _, commits in seen] == [1, 1] and a.gathering.holds == 0
    assert counters(a) == [0, 0, 1, 2]


def test_a_hold_waits_for_as_many_calls_as_the_landed_batch_answered() -> None:
    gathering = Gathering()
    assert not gathering.hold(answered=0, waiting=3)  # nobody answered: nobody to wait for
    assert gathering.hold(answered=4, waiting=2) and gathering.target == 6
    assert not gathering.complete(5)
    assert gathering.complete(6)
    assert (gathering.holds, gathering.gathered) == (1, 1)


def test_holds_that_keep_expiring_back_off_until_one_is_answered() -> None:
    gathering = Gathering()
    for _ in range(MISSES_BEFORE_BACKING_OFF):
        assert gathering.hold(answered=1, waiting=1)
        gathering.expire()
    offered = [gathering.hold(answered=1, waiting=1) for _ in range(2 * PROBE_EVERY)]
    assert offered.count(True) == 2 and offered[-1]  # one probe in PROBE_EVERY
    assert gathering.complete(2)  # the last probe is answered: the back-off ends
    assert all(gathering.hold(answered=1, waiting=1) for _ in range(5))
