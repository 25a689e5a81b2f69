"""Time and randomness behind one seam, so tests can run with a fake clock and seeded ids."""

from __future__ import annotations

import os
import random
import time
from typing import Protocol


class Runtime(Protocol):
    def time_ns(self) -> int: ...

    def random_bytes(self, n: int) -> bytes: ...


_REAL_TIME_NS = time.time_ns  # bound before functions.sandbox wraps time.time_ns


class SystemRuntime:
    """The real clock and the OS random source."""

    def time_ns(self) -> int:
        return _REAL_TIME_NS()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


class FakeRuntime:
    """A clock that moves only when told to, and deterministic random bytes."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000, seed: int = 0) -> None:
        self.now_ns = start_ns
        self._rng = random.Random(seed)

    def time_ns(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)

    def random_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)
