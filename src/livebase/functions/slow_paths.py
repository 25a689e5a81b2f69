"""Which queries and mutations are slow: they computed on the event loop longer than the inline
budget.

Queries and mutations run on the server's event loop (see ``runner``), where every other client
waits while one runs. The runner measures each call's CPU time on the loop (user code, C calls
and database work alike; measured after the call, so a long C call that the watchdog could not
interrupt is seen too; CPU time rather than wall-clock time, so a fast call that only waited for
a busy machine or for another thread is not marked) and reports calls over
``LIVEBASE_INLINE_BUDGET_MS`` here. A function path seen over budget is remembered as slow for
``REMEMBER_SECONDS`` (then it is probed again: a function that got fast is forgotten), logged
once as a warning naming the function and counted in ``livebase_slow_function_calls_total``.
A slow query or mutation then runs in a worker process (``offload``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from livebase.metrics import Counter

log = logging.getLogger("livebase.functions")

REMEMBER_SECONDS = 300.0
"""How long a path stays marked slow after its last call over budget."""


class SlowPaths:
    """Function paths whose calls ran over the inline budget, and when they last did."""

    def __init__(self, budget_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget_seconds
        self._clock = clock
        """0 turns the bookkeeping off."""
        self._last_over: dict[str, float] = {}
        self._warned: set[str] = set()
        self.calls = Counter(
            "livebase_slow_function_calls_total",
            "Query and mutation calls that computed on the event loop longer than the inline "
            "budget (LIVEBASE_INLINE_BUDGET_MS).",
            ("path", "kind"),
        )

    def observe(self, path: str, kind: str, seconds: float) -> bool:
        """One call of ``path`` held the loop for ``seconds``; True if that was over the
        budget."""
        if self.budget <= 0 or seconds <= self.budget:
            return False
        self._last_over[path] = self._clock()
        self.calls.inc(path, kind)
        if path not in self._warned:
            self._warned.add(path)
            log.warning(
                "%s %s computed on the event loop for %.0f ms (the inline budget is %.0f ms, "
                "LIVEBASE_INLINE_BUDGET_MS): %s",
                kind,
                path,
                seconds * 1e3,
                self.budget * 1e3,
                "served, its calls now run in a worker process; heavy work belongs in an action",
            )
        return True

    def still_slow(self, path: str, seconds: float) -> None:
        """A call of ``path`` ran off the loop for ``seconds``: if that is over the budget, the
        path stays marked slow (not counted or logged: it held nobody up)."""
        if self.budget > 0 and seconds > self.budget:
            self._last_over[path] = self._clock()

    def is_slow(self, path: str) -> bool:
        """Whether ``path`` ran over budget within the last ``REMEMBER_SECONDS``."""
        last = self._last_over.get(path)
        if last is None:
            return False
        if self._clock() - last > REMEMBER_SECONDS:
            del self._last_over[path]
            return False
        return True

    def paths(self) -> list[str]:
        """The paths marked slow now."""
        return sorted(p for p in list(self._last_over) if self.is_slow(p))


__all__ = ["REMEMBER_SECONDS", "SlowPaths"]
