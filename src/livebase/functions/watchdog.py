"""Stops a query or mutation that runs past its time limit, even in a loop that never calls
``ctx.db``: a monitor thread raises ``CallTimeout`` inside the running call's thread.

Queries and mutations run on the event-loop thread, so without this a ``while True`` in app code
would stall every client. The exception is delivered between bytecodes of the call (never inside
SQLite), the transaction is rolled back, and the caller gets ``FunctionTimeout``.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CallTimeout(Exception):
    """Raised inside a call that exceeded its limit (converted to ``LimitExceededError``)."""


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class Watchdog:
    def __init__(self, poll_seconds: float = 0.02) -> None:
        self._lock = threading.Lock()
        self._poll = poll_seconds
        self._call: tuple[int, int, float] | None = None  # (call id, thread id, deadline)
        self._fired: int | None = None
        self._ids = iter(range(1, 1 << 62))
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="livebase-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._poll)
            with self._lock:
                call = self._call
                if call is None or self._fired == call[0] or time.monotonic() < call[2]:
                    continue
                self._fired = call[0]
                _set_async_exc(call[1], ctypes.py_object(CallTimeout))

    @contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        """Run the body under a time limit; nested limits keep the outer one."""
        if self._call is not None and self._call[1] == threading.get_ident():
            yield
            return
        self._ensure_thread()
        call_id = next(self._ids)
        with self._lock:
            self._call = (call_id, threading.get_ident(), time.monotonic() + seconds)
        try:
            yield
        finally:
            with self._lock:
                self._call = None
                if self._fired == call_id:
                    # The exception may still be pending if the body ended first: drop it.
                    _set_async_exc(threading.get_ident(), ctypes.py_object())
                    self._fired = None


watchdog = Watchdog()
