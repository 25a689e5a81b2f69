"""``wait_for_room_in_the_day`` waits exactly as long as the window needs, and not otherwise."""

from __future__ import annotations

import pytest

from tests.support.day_boundary import DAY_S, wait_for_room_in_the_day

MIDNIGHT = 20_000 * DAY_S


@pytest.mark.parametrize(
    ("now", "waited"),
    [
        (MIDNIGHT + 3_600, 0.0),  # 01:00: room
        (MIDNIGHT + 60, 240.0),  # 00:01: until 00:05
        (MIDNIGHT + DAY_S - 600, 900.0),  # 23:50: past midnight, then 5 minutes
        (MIDNIGHT + DAY_S - 901, 0.0),  # 23:44:59: just room
    ],
)
def test_waits_only_near_midnight(now: float, waited: float) -> None:
    clock = [now]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    after = wait_for_room_in_the_day(300, 900, clock=lambda: clock[0], sleep=sleep)
    assert sum(slept) == pytest.approx(waited)
    assert after == pytest.approx(now + waited)
