"""A one-shot timer one thread sets and another waits on, for the call watchdog.

The watchdog must look at a call once its time limit could have passed, and not otherwise. With
a condition variable, starting the wait means waking the waiting thread so it can time out
later: on a server doing one write every 50 ms, that wake-up and the look 20 ms later cost 0.11
ms of CPU a write (cold caches between writes; issue 17's W3). A Linux ``timerfd`` is armed
and disarmed by the setting thread in one system call each, and the waiting thread only wakes
when the timer actually fires. Elsewhere (or if ``timerfd`` cannot be had) the condition
variable does the same job at the cost of those wake-ups.

Neither kind is safe to set from two threads at once: the watchdog sets it under its lock.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from typing import Protocol


class WakeTimer(Protocol):
    def set(self, seconds: float) -> None:
        """Fire once, ``seconds`` from now (replacing any earlier setting)."""

    def cancel(self) -> None:
        """Do not fire (until set again)."""

    def wait(self) -> None:
        """Block until the timer fires (only one thread waits)."""


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_MONOTONIC = 1


class KernelTimer:
    """A ``timerfd`` on the monotonic clock, through libc (``os.timerfd_*`` is Python 3.13+)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
        self._settime.restype = ctypes.c_int
        create = libc.timerfd_create
        create.argtypes, create.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        fd = create(_CLOCK_MONOTONIC, os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)

    def _arm(self, seconds: float) -> None:
        value = self._spec.it_value
        whole = int(seconds)
        value.tv_sec, value.tv_nsec = whole, int((seconds - whole) * 1e9)
        if self._settime(self._fd, 0, self._spec_ref, None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def set(self, seconds: float) -> None:
        self._arm(max(seconds, 1e-6))  # an all-zero setting would disarm it

    def cancel(self) -> None:
        self._arm(0.0)

    def wait(self) -> None:
        os.read(self._fd, 8)  # the number of expirations; one setting fires once


class ConditionTimer:
    """The portable fallback: setting it wakes the waiting thread, which then times out."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._at: float | None = None

    def set(self, seconds: float) -> None:
        with self._cond:
            self._at = time.monotonic() + seconds
            self._cond.notify()

    def cancel(self) -> None:
        with self._cond:
            self._at = None  # the waiter finds it gone when its current wait times out

    def wait(self) -> None:
        with self._cond:
            while True:
                if self._at is None:
                    self._cond.wait()
                    continue
                left = self._at - time.monotonic()
                if left <= 0:
                    self._at = None
                    return
                self._cond.wait(left)


def make_timer() -> WakeTimer:
    """A ``KernelTimer`` where Linux gives one, else a ``ConditionTimer``."""
    if sys.platform.startswith("linux"):
        try:
            return KernelTimer()
        except (OSError, AttributeError):
            pass
    return ConditionTimer()
