"""The thread pool behind ``LIVEBASE_ACTION_ISOLATION=thread`` (the default, ``process``, is
tested in ``test_worker_processes.py``): at most ``size`` actions run at once (more wait their
turn), an action's own nested call never waits for a free thread (no deadlock when the pool is
full), ``async def`` actions run on a loop of their own thread and can be cancelled there, and
every action sees the context variables of its caller (the call log)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from livebase.functions.action_pool import ActionPool

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="")


def test_at_most_size_actions_run_at_once_and_the_rest_wait() -> None:
    pool = ActionPool(2)
    release = threading.Event()
    running: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def job() -> None:
        with lock:
            running.append(1)
            peak.append(len(running))
        assert release.wait(30)
        with lock:
            running.pop()

    jobs = [pool.submit(job, (), {}, is_async=False) for _ in range(5)]
    deadline = time.monotonic() + 30
    while len(peak) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not any(j.future.done() for j in jobs)
    assert len(running) == 2  # the other three wait for a thread
    release.set()
    for j in jobs:
        j.future.result(30)
    assert max(peak) == 2
    pool.close()


def test_a_nested_action_gets_a_thread_even_when_the_pool_is_full() -> None:
    pool = ActionPool(1)

    def inner() -> str:
        return "inner"

    def outer() -> str:
        # The only pool thread is busy running this: a nested call must not wait for it.
        return pool.submit(inner, (), {}, is_async=False, nested=True).future.result(10)

    assert pool.submit(outer, (), {}, is_async=False).future.result(30) == "inner"
    pool.close()


def test_async_actions_run_on_their_own_loop_and_can_be_cancelled() -> None:
    pool = ActionPool(2)
    main_thread = threading.get_ident()
    sleeping = threading.Event()

    async def sleeper() -> None:
        assert threading.get_ident() != main_thread
        sleeping.set()
        await asyncio.sleep(60)

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    job = pool.submit(sleeper, (), {}, is_async=True)
    # Cancel it as a running task of its loop (not before it started, which a job also allows).
    assert sleeping.wait(30)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        job.future.result(10)
    # The thread and its loop are reusable afterwards.
    assert pool.submit(answer, (), {}, is_async=True).future.result(10) == 42
    pool.close()


def test_actions_see_their_callers_context_variables() -> None:
    pool = ActionPool(1)
    marker.set("from the caller")

    async def read_async() -> str:
        return marker.get()

    assert pool.submit(marker.get, (), {}, is_async=False).future.result(10) == "from the caller"
    assert pool.submit(read_async, (), {}, is_async=True).future.result(10) == "from the caller"
    pool.close()


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        ActionPool(0)
