"""The watchdog's one-shot timers (``livebase.functions.wake_timer``): both kinds fire once at
the time last set, not before, and not at all once cancelled. Real threads and clocks."""

from __future__ import annotations

import threading
import time

import pytest

from livebase.functions.wake_timer import ConditionTimer, KernelTimer, WakeTimer, make_timer

KINDS = [pytest.param(KernelTimer, id="timerfd"), pytest.param(ConditionTimer, id="condition")]


class Waiter:
    """A thread that records when each wait on the timer returns."""

    def __init__(self, timer: WakeTimer) -> None:
        self.fired: list[float] = []
        self._timer = timer
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self._timer.wait()
            self.fired.append(time.monotonic())

    def wait_fired(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.fired) < count:
            assert time.monotonic() < deadline, f"fired {len(self.fired)} times, not {count}"
            time.sleep(0.002)


@pytest.mark.parametrize("kind", KINDS)
def test_a_timer_fires_once_no_sooner_than_set(kind: type[WakeTimer]) -> None:
    timer = kind()
    waiter = Waiter(timer)
    set_at = time.monotonic()
    timer.set(0.05)
    waiter.wait_fired(1)
    assert waiter.fired[0] - set_at >= 0.05
    time.sleep(0.1)
    assert len(waiter.fired) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_setting_again_replaces_the_earlier_time(kind: type[WakeTimer]) -> None:
    timer = kind()
    waiter = Waiter(timer)
    timer.set(0.03)
    set_at = time.monotonic()
    timer.set(0.15)
    waiter.wait_fired(1)
    assert waiter.fired[0] - set_at >= 0.15
    timer.set(0.01)  # sooner than anything before: fires then
    waiter.wait_fired(2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_cancelled_timer_does_not_fire_until_set_again(kind: type[WakeTimer]) -> None:
    timer = kind()
    waiter = Waiter(timer)
    timer.set(0.03)
    timer.cancel()
    time.sleep(0.15)
    assert waiter.fired == []
    timer.set(0.01)
    waiter.wait_fired(1)


def test_linux_gets_the_kernel_timer() -> None:
    assert isinstance(make_timer(), KernelTimer)
