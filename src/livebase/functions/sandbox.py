"""Determinism for queries and mutations: a frozen clock and seeded randomness per call.

``time.time``, ``time.time_ns`` and the ``random`` module's functions are replaced once, at the
first call, by wrappers that consult a thread-local: inside a query or mutation they return the
call's frozen time and draw from its seeded generator; anywhere else (other threads, code outside
calls) they behave exactly like the originals. Entering a call then only sets that thread-local.

``time.sleep`` is wrapped the same way and refused inside a call: a query or mutation that sleeps
would hold up every other client while making its result depend on time (Convex's queries and
mutations cannot wait either). Waiting belongs in an action or in ``ctx.scheduler.run_after``.
"""

from __future__ import annotations

import random
import threading
import time
from types import TracebackType
from typing import Any, SupportsIndex

from livebase.errors import InvalidValueError

_REAL_TIME = time.time
_REAL_TIME_NS = time.time_ns
_REAL_SLEEP = time.sleep
_RANDOM_FUNCTIONS = (
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "gauss", "getrandbits", "randbytes",
)  # fmt: skip
_REAL_RANDOM = {name: getattr(random, name) for name in _RANDOM_FUNCTIONS}
_state = threading.local()
_installed = False


class SeededRandom:
    """A ``random.Random`` seeded for one call, created only if the call uses randomness."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None

    def get(self) -> random.Random:
        if self._rng is None:
            note_varies()  # the result now depends on the snapshot's seed
            self._rng = random.Random(self._seed)
        return self._rng

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def note_varies() -> Frozen | None:
    """The running call read something that differs between runs (the clock, randomness):
    noted on its frozen state, which is returned (None outside a call)."""
    frozen: Frozen | None = getattr(_state, "frozen", None)
    if frozen is not None:
        frozen.varies = True
    return frozen


def _time() -> float:
    frozen = note_varies()
    return _REAL_TIME() if frozen is None else frozen.seconds


def _time_ns() -> int:
    frozen = note_varies()
    return _REAL_TIME_NS() if frozen is None else frozen.nanos


def _sleep(seconds: float | SupportsIndex) -> None:
    if getattr(_state, "frozen", None) is None:
        _REAL_SLEEP(seconds)
        return
    raise InvalidValueError(
        "queries and mutations cannot sleep (time.sleep): it would stall every other client and "
        "make the result depend on time; wait in an action, or schedule the work with "
        "ctx.scheduler.run_after(seconds, ...)",
        code="NonDeterministicSleep",
    )


def _random_wrapper(name: str) -> Any:
    real = _REAL_RANDOM[name]

    def call(*args: Any, **kwargs: Any) -> Any:
        frozen = getattr(_state, "frozen", None)
        if frozen is None:
            return real(*args, **kwargs)
        return getattr(frozen.rng.get(), name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = real.__doc__
    return call


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    time.time, time.time_ns, time.sleep = _time, _time_ns, _sleep
    for name in _RANDOM_FUNCTIONS:
        setattr(random, name, _random_wrapper(name))


class Frozen:
    """``with Frozen(now_ms, seed) as rng:`` — the body sees frozen time and seeded random."""

    __slots__ = ("_previous", "nanos", "rng", "seconds", "varies")

    def __init__(self, now_ms: float, seed: int) -> None:
        self.varies = False
        """Whether the body (or a call nested in it) read the clock or drew random numbers: a
        run at another time or snapshot could answer differently."""
        self.seconds = now_ms / 1000.0
        self.nanos = int(now_ms * 1_000_000)
        self.rng = SeededRandom(seed)
        self._previous: Frozen | None = None

    def __enter__(self) -> SeededRandom:
        if not _installed:
            install()
        self._previous = getattr(_state, "frozen", None)
        _state.frozen = self
        return self.rng

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.frozen = self._previous
