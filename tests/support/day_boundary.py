"""Keeping a test that seeds "today" and "yesterday" away from midnight (UTC).

A test whose data and assertions are relative to the current day breaks when the day changes
while it runs: the browser or the server then calls the seeded "today" "yesterday". Such a
test first waits until the day has room for it, which only costs time in the few minutes
around midnight."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

DAY_S = 86_400


def wait_for_room_in_the_day(
    after_midnight_s: float,
    before_midnight_s: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Return the current time once at least ``after_midnight_s`` have passed since the last
    midnight UTC and at least ``before_midnight_s`` remain before the next; waits (saying so)
    when called outside that window."""
    now = clock()
    into_day = now % DAY_S
    if into_day >= DAY_S - before_midnight_s:
        wait = DAY_S - into_day + after_midnight_s
    elif into_day < after_midnight_s:
        wait = after_midnight_s - into_day
    else:
        return now
    print(f"waiting {wait:.0f} s for midnight UTC to be out of this test's way", file=sys.stderr)
    sleep(wait)
    return clock()
