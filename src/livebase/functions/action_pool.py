"""Where actions run: a bounded pool of worker threads, each with an event loop of its own.

An action may do anything — call a model, parse a large file, loop for seconds — so it must not
run on the server's event loop, where one busy ``async def`` action would stall every client's
pings, queries and mutations. Each worker thread keeps one event loop and runs one action at a
time on it: an ``async def`` action as a task of that loop, a plain ``def`` action directly.
``ctx.run_query`` / ``run_mutation`` / ``run_action`` cross back to the server's loop (see
``ActionCtx``), so the database is still reached from one thread only.

The pool is bounded (``LIVEBASE_ACTION_THREADS``): a burst of slow actions queues instead of
starving the machine. An action called *from* an action never waits for a free thread (its
caller holds one; waiting could deadlock a full pool), it gets a thread of its own.

A timed-out ``async def`` action is cancelled in its loop. A thread still busy in plain Python or
C code when its action timed out is not stopped (Python cannot stop a thread); it stays out of
the pool until the code returns, and its ``ctx`` refuses any further database call.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

_STOP = object()
IDLE_SECONDS = 60.0
"""A worker with nothing to do for this long ends (a reloaded app's old pool goes away)."""


@dataclass(eq=False)
class ActionJob:
    """One action handed to the pool; ``future`` gets its return value or exception."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    is_async: bool
    context: contextvars.Context
    future: Future[Any] = field(default_factory=Future)
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task[Any] | None = None
    _cancelled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Stop an ``async def`` action at its next ``await``; for one that has not started yet,
        skip it. A thread busy in plain code is not interrupted."""
        with self._lock:
            self._cancelled = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)

    def run_here(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            with self._lock:
                if self._cancelled:
                    raise asyncio.CancelledError
                if self.is_async:
                    coro: Coroutine[Any, Any, Any] = self.context.run(
                        self.fn, *self.args, **self.kwargs
                    )
                    self._task = loop.create_task(coro, context=self.context)
                    self._loop = loop
            if self._task is not None:
                value = loop.run_until_complete(self._task)
            else:
                value = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # the action's own failure goes to its caller
            self.future.set_exception(exc)
        else:
            self.future.set_result(value)
        finally:
            with self._lock:
                self._loop = self._task = None


class ActionPool:
    """``size`` worker threads (started on demand) running ``ActionJob``s in arrival order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the action pool needs at least one thread, got {size}")
        self.size = size
        self._jobs: queue.SimpleQueue[ActionJob | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # workers waiting for a job
        self._queued = 0  # jobs no worker has taken yet
        self._closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        is_async: bool,
        nested: bool = False,
    ) -> ActionJob:
        """Queue ``fn(*args, **kwargs)``; ``nested`` (an action's own call) gets a thread even
        when the pool is full."""
        job = ActionJob(fn, args, kwargs, is_async, contextvars.copy_context())
        with self._lock:
            if self._closed:
                raise RuntimeError("the action pool is closed")
            if nested and self._queued >= self._idle:
                self._start_thread(self._one_off, job)
                return job
            self._queued += 1
            self._jobs.put(job)
            if self._queued > self._idle and self._threads < self.size:
                self._threads += 1
                self._start_thread(self._worker, None)
        return job

    @staticmethod
    def _start_thread(target: Callable[[ActionJob | None], None], job: ActionJob | None) -> None:
        threading.Thread(target=target, args=(job,), name="livebase-action", daemon=True).start()

    def _one_off(self, job: ActionJob | None) -> None:
        assert job is not None
        loop = asyncio.new_event_loop()
        try:
            job.run_here(loop)
        finally:
            loop.close()

    def _worker(self, _: ActionJob | None) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                with self._lock:
                    self._idle += 1
                try:
                    job = self._jobs.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    job = None
                with self._lock:
                    self._idle -= 1
                    if isinstance(job, ActionJob):
                        self._queued -= 1
                    elif job is None and self._queued > self._idle:
                        continue  # a job arrived as the wait ended: stay for it
                    else:
                        self._threads -= 1
                        return
                job.run_here(loop)
        finally:
            loop.close()

    def close(self) -> None:
        """Let the workers end once the queue is drained (running actions are not waited for).
        Idle workers also end by themselves after ``IDLE_SECONDS``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in range(self._threads):
                self._jobs.put(_STOP)


__all__ = ["ActionJob", "ActionPool"]
