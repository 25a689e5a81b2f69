"""Inside queries and mutations, time is frozen for the call and randomness is seeded per call."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

from .conftest import Harness, run

CLOCK = {
    "clock.py": """
        import random
        import time

        from livebase import Int64, action, mutation, query


        def _sample(ctx):
            t1 = time.time()
            busy = sum(range(20000))
            # Storage reads release the GIL: other threads run while this call is frozen.
            busy += len(ctx.db.query("samples").take(100))
            t2 = time.time()
            return {
                "t1": t1,
                "t2": t2,
                "ns": Int64(time.time_ns()),  # beyond 2**53: an int64, said so
                "now": ctx.now,
                "busy": busy,
                "random": [random.random(), random.random(), random.randint(0, 10**9)],
                "ctx_random": [ctx.random.random(), ctx.random.randint(0, 10**9)],
                "choice": random.choice("abcdefghijklmnopqrstuvwxyz" * 4),
            }


        @query
        def sample(ctx) -> dict:
            return _sample(ctx)


        @mutation
        def sample_write(ctx) -> dict:
            s = _sample(ctx)
            ctx.db.insert("samples", {"t": s["t1"]})
            return s


        @query
        def other(ctx) -> dict:
            return _sample(ctx)


        @mutation
        def touch(ctx) -> None:
            ctx.db.insert("samples", {"t": 0.0})


        @action
        def watch_clock(ctx, seconds: float) -> dict:
            # Samples the clock and random in a worker thread while queries run on the loop.
            times, draws = [], []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                times.append(time.time())
                draws.append(random.random())
            return {"times": times, "draws": draws}


        @action
        def action_clock(ctx) -> list:
            t1 = time.time()
            time.sleep(0.02)
            return [t1, time.time()]
    """,
}


def _check_frozen(sample: dict[str, Any]) -> None:
    assert sample["t1"] == sample["t2"]
    assert sample["t1"] == sample["now"] / 1000
    assert abs(sample["ns"] / 1e9 - sample["t1"]) < 1e-3
    # ...and the frozen time is the time of the call, not some fixed epoch.
    assert abs(sample["t1"] - time.time()) < 30


def test_time_is_frozen_in_queries_and_mutations(harness: Any) -> None:
    h: Harness = harness(CLOCK)
    _check_frozen(h.value(h.query("clock:sample")))
    _check_frozen(h.value(h.mutation("clock:sample_write")))


def test_frozen_time_moves_between_calls(harness: Any) -> None:
    h: Harness = harness(CLOCK)
    first = h.value(h.query("clock:sample"))
    time.sleep(0.01)
    second = h.value(h.query("clock:sample"))
    assert second["now"] > first["now"]


def test_random_is_seeded_per_call(harness: Any) -> None:
    """Re-running the same query at the same snapshot gives the same random values."""
    h: Harness = harness(CLOCK)
    h.value(h.mutation("clock:touch"))
    first = h.value(h.query("clock:sample"))
    second = h.value(h.query("clock:sample"))
    assert first["random"] == second["random"]
    assert first["ctx_random"] == second["ctx_random"]
    assert first["choice"] == second["choice"]


def test_random_differs_between_functions_and_snapshots(harness: Any) -> None:
    h: Harness = harness(CLOCK)
    a = h.value(h.query("clock:sample"))
    b = h.value(h.query("clock:other"))
    assert a["random"] != b["random"]
    h.value(h.mutation("clock:touch"))
    c = h.value(h.query("clock:sample"))
    assert a["random"] != c["random"]
    # Within one call, successive draws differ.
    assert a["random"][0] != a["random"][1]


def test_global_random_and_time_are_restored_after_calls(harness: Any) -> None:
    h: Harness = harness(CLOCK)
    real_time, real_time_ns, real_random = time.time, time.time_ns, random.random
    state = random.getstate()
    sample = h.value(h.query("clock:sample"))
    h.value(h.mutation("clock:sample_write"))
    failing = h.query("clock:sample", {"unexpected": 1.0})
    assert failing.error is not None
    # The process-wide random generator was neither used nor reseeded by the calls.
    assert random.getstate() == state
    assert time.time is real_time and time.time_ns is real_time_ns
    assert random.random is real_random
    draws = [random.random() for _ in range(3)]
    assert len(set(draws)) == 3
    assert draws[0] != sample["random"][0]
    # Outside calls the clock is real again.
    before = time.time()
    time.sleep(0.02)
    assert time.time() - before >= 0.015


def test_actions_see_the_real_clock(harness: Any) -> None:
    h: Harness = harness(CLOCK)
    t1, t2 = h.value(h.action("clock:action_clock"))
    assert t2 - t1 >= 0.015


def test_def_action_threads_are_not_affected_by_concurrent_queries(harness: Any) -> None:
    """The freeze applies to the query or mutation only: a ``def`` action running at the same
    time in a worker thread keeps the real clock and unseeded randomness, and does not consume
    the query's seeded random numbers."""
    h: Harness = harness(CLOCK)
    h.value(h.mutation("clock:touch"))
    reference = h.value(h.query("clock:sample"))["random"]

    async def scenario() -> tuple[Any, list[Any]]:
        task = asyncio.ensure_future(h.runner.run_action("clock:watch_clock", {"seconds": 0.3}))
        samples = []
        while not task.done():
            samples.append(h.runner.run_query("clock:sample", {}).value)
            await asyncio.sleep(0)
        return await task, samples

    result, samples = run(scenario())
    watched = h.value(result)
    times = watched["times"]
    assert all(b >= a for a, b in itertools.pairwise(times)), "time went backwards"
    assert all(s["random"] == reference for s in samples), "query randomness was disturbed"
