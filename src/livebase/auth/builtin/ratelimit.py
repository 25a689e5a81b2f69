"""Failed sign-ins counted per key (an account, a client address) over a sliding window.

After ``limit`` failures within ``window`` seconds a key is locked until the oldest of them is
``window`` old; attempts while locked are refused before any password is checked (and are not
counted, so a locked key opens again on time). A successful sign-in clears its account's count.
Counts live in this process: each node of a cluster counts its own. The number of keys tracked
is bounded; the least recently failed go first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 100_000


class FailureLimiter:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float], *, max_keys: int = MAX_KEYS
    ) -> None:
        """``clock``: seconds (any origin); tests pass a fake one."""
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again (at least 1), or None if it may now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - self.clock()))

    def failed(self, key: str) -> None:
        failures = self._recent(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.limit)
        failures.append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures


__all__ = ["MAX_KEYS", "FailureLimiter"]
