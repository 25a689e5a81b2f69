"""Queries and mutations that hold the event loop past the inline budget
(``LIVEBASE_INLINE_BUDGET_MS``) are remembered as slow, counted, and logged once per function,
whether the time went to a Python loop or to one long C call the watchdog cannot interrupt."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from livebase.functions.slow_paths import SlowPaths

from .conftest import Harness

APP = {
    "work.py": """
        import gc
        import time

        from livebase import mutation, query


        def spin(seconds):
            end = time.thread_time() + seconds
            n = 0
            while time.thread_time() < end:
                n += 1
            return n


        @query
        def quick(ctx) -> int:
            return 1


        @query
        def busy(ctx) -> int:
            spin(0.08)
            return 2


        @query
        def c_call(ctx) -> int:
            # One C call: the watchdog cannot interrupt it, but its time is seen afterwards.
            end = time.thread_time() + 0.08
            n = 0
            while time.thread_time() < end:
                n += sum(range(200_000))
            return n


        @mutation
        def busy_write(ctx) -> str:
            spin(0.08)
            return ctx.db.insert("things", {"n": 1})


        @mutation
        def write_while_collecting(ctx) -> str:
            # A full collection lands in this call (the server's would, whenever it is due).
            gc.collect()
            return ctx.db.insert("things", {"n": 2})
    """,
}


def test_a_busy_query_is_marked_slow_and_logged_once(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(APP)
    assert h.runner.slow.budget == pytest.approx(0.02)
    with caplog.at_level(logging.WARNING, logger="livebase.functions"):
        for _ in range(3):
            assert h.value(h.query("work:busy")) == 2
        assert h.value(h.query("work:quick")) == 1
    assert h.runner.slow.is_slow("work:busy")
    assert not h.runner.slow.is_slow("work:quick")
    assert h.runner.slow.calls.get("work:busy", "query") == 3
    warnings = [r.getMessage() for r in caplog.records if "inline budget" in r.getMessage()]
    assert len(warnings) == 1
    assert "work:busy" in warnings[0] and "LIVEBASE_INLINE_BUDGET_MS" in warnings[0]


def test_time_in_c_calls_and_mutations_counts(harness: Callable[..., Harness]) -> None:
    h = harness(APP)
    h.value(h.query("work:c_call"))
    h.value(h.mutation("work:busy_write"))
    assert h.runner.slow.paths() == ["work:busy_write", "work:c_call"]
    assert h.runner.slow.calls.get("work:busy_write", "mutation") == 1


def test_a_timed_out_call_counts_as_slow(harness: Callable[..., Harness]) -> None:
    from livebase.config import Limits

    h = harness(APP, limits=Limits(max_function_seconds=0.03))
    result = h.query("work:busy")
    assert result.error is not None and getattr(result.error, "code", "") == "FunctionTimeout"
    assert h.runner.slow.is_slow("work:busy")


def test_a_budget_of_zero_turns_it_off() -> None:
    slow = SlowPaths(0)
    assert not slow.observe("a:b", "query", 10.0)
    assert not slow.is_slow("a:b")


def test_a_path_is_forgotten_after_a_while() -> None:
    import livebase.functions.slow_paths as module

    clock = [1000.0]
    slow = SlowPaths(0.02, clock=lambda: clock[0])
    assert slow.observe("a:b", "query", 0.05)
    assert slow.is_slow("a:b")
    clock[0] += module.REMEMBER_SECONDS + 1
    assert not slow.is_slow("a:b")


def test_a_garbage_collection_in_a_call_is_not_the_calls_time(
    harness: Callable[..., Harness],
) -> None:
    """The collector's pauses are not counted (``livebase.cpu``): a quick insert during which a
    full collection of a big heap takes longer than the budget runs inline, is not stopped by
    the watchdog and is not marked slow."""
    h = harness(APP)
    heap: list[list[Any]] = []
    for _ in range(40):  # until a full collection costs twice the budget (or 4 M objects)
        started = time.thread_time()
        gc.collect()
        took = time.thread_time() - started
        if took > 2 * h.runner.slow.budget:
            break
        heap.extend([[i] for i in range(100_000)])
    assert took > h.runner.slow.budget, f"a full collection took only {took * 1e3:.1f} ms"
    assert isinstance(h.value(h.mutation("work:write_while_collecting")), str)
    assert not h.runner.slow.is_slow("work:write_while_collecting")
    assert h.runner.slow.calls.get("work:write_while_collecting", "mutation") == 0
    del heap
