"""Stops a query or mutation that runs past its time limit, even in a loop that never calls
``ctx.db``: a monitor thread raises ``CallTimeout`` inside the running call's thread. The limit
counts the call's own CPU time, with a wall-clock backstop (``FUNCTION_WALL_FACTOR``).

Queries and mutations run on the event-loop thread, so without this a ``while True`` in app code
would stall every client. The exception is delivered between bytecodes of the call (never inside
SQLite), the transaction is rolled back, and the caller gets ``FunctionTimeout``.

App code cannot swallow it: ``CallTimeout`` is a ``BaseException`` (``except Exception`` lets it
through), and once it has been delivered, every further line the call runs raises it again (a
trace function installed on the call's frames), so even ``except BaseException: continue`` in a
loop only gets as far as its next line. Finalizers that the garbage collector happens to run
inside the call (``__del__``, ``gc.callbacks``, ``weakref.finalize``) are left alone: an
exception raised in them would be lost and the finalizer half-done. What it cannot interrupt
is one long C call (a huge ``sum(range(...))``, a catastrophic regular expression): the
exception lands when that call returns. ``time.sleep`` is refused in queries and mutations
altogether (see ``sandbox``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from livebase.config import FUNCTION_WALL_FACTOR
from livebase.cpu import gc_seconds

_calls = threading.local()
"""Per thread: ``top`` (the frame that armed the limit) and ``expired``."""


class CallTimeout(BaseException):
    """Raised inside a call that exceeded its limit (converted to ``LimitExceededError``)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        # Instantiated in the call's own thread when the asynchronous exception is delivered:
        # from now on every line of the call raises it again.
        _expire(sys._getframe(1))


def _raise_on_every_line(frame: FrameType, event: str, arg: Any) -> Any:
    if not getattr(_calls, "expired", False) or frame.f_code in _EXEMPT:
        return _raise_on_every_line
    if getattr(_calls, "sheltered", False):
        return None  # inside a finalizer: it and what it calls run untraced
    if event == "call" and _is_finalizer(frame.f_code):
        # The collector runs its callbacks and ``__del__`` methods in whatever frame was
        # allocating. Raised in there, the exception would only be reported as ignored and
        # the finalizer left half-done (a socket not closed, a lock not released).
        _calls.sheltered = True
        return _leave_shelter
    raise CallTimeout


def _leave_shelter(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "return":
        _calls.sheltered = False
    return _leave_shelter


def _is_finalizer(code: CodeType) -> bool:
    if code.co_name == "__del__" or code is _FINALIZE_CALL:
        return True
    return any(getattr(callback, "__code__", None) is code for callback in gc.callbacks)


def _expire(frame: FrameType | None) -> None:
    top = getattr(_calls, "top", None)
    if top is None or getattr(_calls, "expired", False):
        return  # not inside a limited call of this thread, or already done
    _calls.expired = True
    _calls.previous_trace = sys.gettrace()
    sys.settrace(_raise_on_every_line)
    while frame is not None and frame is not top:
        frame.f_trace = _raise_on_every_line
        frame = frame.f_back


def _reset_thread() -> None:
    if getattr(_calls, "expired", False):
        _calls.expired = False
        _calls.sheltered = False
        sys.settrace(getattr(_calls, "previous_trace", None))
    _calls.top = None


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


def _cpu_clock(thread_id: int) -> int | None:
    try:
        return time.pthread_getcpuclockid(thread_id)
    except (AttributeError, OSError):  # no per-thread CPU clocks here: wall time only
        return None


@dataclass(frozen=True)
class _Armed:
    call_id: int
    thread_id: int
    cpu_clock: int | None
    cpu_deadline: float
    wall_deadline: float
    gc_at_start: float
    """The thread's time in the garbage collector when armed: later collections are not the
    call's (``livebase.cpu``)."""

    def expired(self) -> bool:
        if time.monotonic() >= self.wall_deadline:
            return True
        if self.cpu_clock is None:
            return False
        collecting = gc_seconds(self.thread_id) - self.gc_at_start
        return time.clock_gettime(self.cpu_clock) - collecting >= self.cpu_deadline


class Watchdog:
    """One monitor thread, started with the first limited call. It looks every
    ``poll_seconds`` while calls run, and sleeps without waking while none has been armed
    since its last look: a server with a subscriber and little traffic woke it 50 times a
    second for nothing (6 ms of CPU a second; 0.3 ms of each write 50 ms apart, issue 17's
    W3). The first call armed after that wakes it (one event, set under the lock the call is
    armed under, so no call goes unwatched)."""

    def __init__(self, poll_seconds: float = 0.02) -> None:
        self._lock = threading.Lock()
        self._poll = poll_seconds
        self._call: _Armed | None = None
        self._fired: int | None = None
        self._ids = iter(range(1, 1 << 62))
        self._thread: threading.Thread | None = None
        self._armed_total = 0
        self._parked = False
        self._unpark = threading.Event()
        self.polls = 0
        """Times the thread has looked at the running call (for tests)."""
        ref = weakref.ref(self)

        def forget_in_child() -> None:
            dog = ref()
            if dog is not None:
                dog._forget_thread()

        os.register_at_fork(after_in_child=forget_in_child)

    def _forget_thread(self) -> None:
        """In a forked child: the monitor thread did not come along (waking it would wake
        nothing, and no call would ever be stopped). The next call starts a new one."""
        self._lock = threading.Lock()
        self._unpark = threading.Event()
        self._thread = None
        self._call = self._fired = None
        self._parked = False

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="livebase-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        seen = -1
        while True:
            with self._lock:
                if self._call is None and self._armed_total == seen:
                    self._parked = True
                    self._unpark.clear()
                seen, parked = self._armed_total, self._parked
            if parked:
                self._unpark.wait()
                continue
            time.sleep(self._poll)
            with self._lock:
                self.polls += 1
                call = self._call
                if call is None or self._fired == call.call_id or not call.expired():
                    continue
                self._fired = call.call_id
                _set_async_exc(call.thread_id, ctypes.py_object(CallTimeout))

    def limit(self, seconds: float, wall: float | None = None) -> _Limit:
        """``with watchdog.limit(s):`` runs the body under a time limit of ``s`` seconds of its
        thread's CPU time, and ``wall`` seconds of wall-clock time (``FUNCTION_WALL_FACTOR``
        times ``s`` by default); nested limits keep the outer one."""
        return _Limit(self, seconds, wall)

    def _arm(self, seconds: float, wall_seconds: float | None) -> int | None:
        ident = threading.get_ident()
        call = self._call
        if call is not None and call.thread_id == ident:
            return None
        if self._thread is None:
            self._ensure_thread()
        call_id = next(self._ids)
        _calls.top = sys._getframe(2)  # the frame running the ``with`` block
        _calls.expired = False
        clock = _cpu_clock(ident)
        cpu_deadline = 0.0 if clock is None else time.clock_gettime(clock) + seconds
        if wall_seconds is None:
            wall_seconds = seconds * FUNCTION_WALL_FACTOR
        wall = seconds if clock is None else wall_seconds
        with self._lock:
            self._call = _Armed(
                call_id, ident, clock, cpu_deadline, time.monotonic() + wall, gc_seconds()
            )
            self._armed_total += 1
            if self._parked:
                self._parked = False
                self._unpark.set()
        return call_id

    def _disarm(self, call_id: int) -> None:
        _reset_thread()  # stop tracing first: the pending exception must not re-arm it
        with self._lock:
            self._call = None
            fired = self._fired == call_id
            if fired:
                self._fired = None
        if fired:
            _absorb_pending_timeout()


def _absorb_pending_timeout() -> None:
    """Let a ``CallTimeout`` still pending for this thread (the body ended before it landed)
    arrive here, where it is dropped.

    It is not cleared with ``PyThreadState_SetAsyncExc(thread, NULL)``: on CPython 3.11 that
    leaves the interpreter's "asynchronous exception pending" flag set for good, so the eval
    loop handles pending work at every check from then on; with a trace function and a signal
    handler running (a test's line counter and pytest-timeout's alarm) it never got past the
    handler again. An exception that is pending lands at the loop's first backward jump."""
    try:
        for _ in range(1000):
            pass
    except CallTimeout:
        pass


class _Limit:
    __slots__ = ("_call_id", "_seconds", "_wall", "_watchdog")

    def __init__(self, watchdog: Watchdog, seconds: float, wall: float | None) -> None:
        self._watchdog, self._seconds, self._wall = watchdog, seconds, wall

    def __enter__(self) -> None:
        self._call_id = self._watchdog._arm(self._seconds, self._wall)

    def __exit__(self, *exc_info: object) -> None:
        if self._call_id is not None:
            self._watchdog._disarm(self._call_id)


watchdog = Watchdog()
_FINALIZE_CALL = weakref.finalize.__call__.__code__
_EXEMPT = frozenset({_Limit.__exit__.__code__, Watchdog._disarm.__code__, _reset_thread.__code__})
