"""CPU time a call spent, less the garbage collector's pauses.

A query or mutation's inline budget (``LIVEBASE_INLINE_BUDGET_MS``, 20 ms) and its time limit
count its thread's CPU time. A full collection of the server's heap takes about 25 ms of CPU,
and it runs in whatever call happens to allocate when it is due: an insert that computes for
0.1 ms was charged for it, marked slow, and sent with every later call of its function to a
worker process for five minutes (measured: 3,200 mutations/s became 500). The collector's time
is not the call's, so the budget and the limits count ``thread_cpu()``: the thread's CPU time
without it.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

_collecting = threading.local()
"""Per thread: ``since`` (a collection's start) and ``seconds`` (its collections so far)."""
_gc_seconds: dict[int, float] = {}
"""The same totals by thread ident, for the watchdog's thread to read."""
_thread_time = time.thread_time


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _collecting.since = _thread_time()
        return
    since = getattr(_collecting, "since", None)
    if since is not None:
        total = getattr(_collecting, "seconds", 0.0) + _thread_time() - since
        _collecting.seconds = _gc_seconds[threading.get_ident()] = total
        _collecting.since = None


if _on_gc not in gc.callbacks:
    gc.callbacks.append(_on_gc)


def gc_seconds(thread_ident: int | None = None) -> float:
    """CPU seconds a thread (this one by default) has spent in the collector so far."""
    if thread_ident is None:
        return float(getattr(_collecting, "seconds", 0.0))
    return _gc_seconds.get(thread_ident, 0.0)


def thread_cpu() -> float:
    """This thread's CPU time (``time.thread_time``) less its time in the collector."""
    return _thread_time() - getattr(_collecting, "seconds", 0.0)


__all__ = ["gc_seconds", "thread_cpu"]
