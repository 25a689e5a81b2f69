"""Where actions run by default: a bounded pool of worker processes the server can kill.

A thread cannot be stopped, and an action burning the CPU in a thread holds the GIL the
server's event loop needs: four busy actions raised every other client's p99 by 150-250 ms,
and one stuck in a long C call ran on past its time limit. So each action runs in a worker
process (``worker_main``), which loads the app folder itself and runs one action at a time;
its ``ctx`` calls come back to the server as messages and run here, on the server's loop,
exactly as for an action in the server (``ActionCtx``: same identity, limits and errors).

- **Bounded.** At most ``size`` workers (``LIVEBASE_ACTION_PROCESSES``) serve client calls; a
  burst waits in arrival order for a free one. An action called *from* an action never waits
  (its caller holds a worker; waiting could deadlock a full pool): without an idle worker it
  gets an extra one, let go after the call when the pool is full.
- **Hard limit.** At the action's deadline the worker is sent SIGTERM and, if it still runs
  ``KILL_GRACE_SECONDS`` later, SIGKILL; the caller gets its answer at once, and messages from
  that action arriving afterwards are dropped. A replacement worker is started right away. The
  limit counts the action's own run time in its worker, not a wait for a free worker.
- **Warm.** Workers start on first demand and stay, so the start-up cost (a fresh interpreter
  importing Livebase and the app) is paid once per worker, not per call. ``reload`` (``livebase
  dev``) retires every worker of the old code: idle ones at once, busy ones when their action
  ends. ``close`` kills them all; workers are also daemonic (multiprocessing ends them at exit)
  and die with the server even on ``kill -9`` (see ``worker_main``).

Pool state lives on the event loop thread; per worker, one thread reads its pipe and one writes
to it, and one thread starts every process, so the loop never blocks on a worker, even one that
does not read.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from livebase.errors import AppLoadError, LivebaseError
from livebase.functions import worker_main
from livebase.functions.worker_errors import decode_error, encode_error
from livebase.values.wire import from_wire, to_wire

log = logging.getLogger("livebase.functions")

KILL_GRACE_SECONDS = 1.0
"""Between SIGTERM and SIGKILL for a worker whose action ran out of time."""

Perform = Callable[[str, Any], Awaitable[Any]]
"""Runs one ``ctx`` call of an action in the server: ``(method, payload) -> value``."""


def default_size() -> int:
    """``min(4, CPUs)``, but at least 2."""
    return max(2, min(4, os.cpu_count() or 1))


class ActionTimedOut(Exception):
    """The action reached its deadline; its worker was killed."""


class _Job:
    __slots__ = ("done", "finished", "id", "on_log", "perform")

    def __init__(
        self,
        job_id: int,
        perform: Perform,
        on_log: Callable[[str], None],
        done: asyncio.Future[Any],
    ) -> None:
        self.id, self.perform, self.on_log, self.done = job_id, perform, on_log, done
        self.finished = False


class _Worker:
    """One worker process, its pipe, and the reader and writer threads for that pipe."""

    def __init__(
        self,
        pool: ProcessPool,
        generation: int,
        *,
        extra: bool,
        reserved: asyncio.Future[_Worker] | None,
    ) -> None:
        self.pool = pool
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        """Both set by ``start``, on the spawner thread."""
        self.generation = generation
        self.extra = extra
        """Started for a nested call in a full pool; let go after it unless the pool has room."""
        self.reserved = reserved
        """The caller this worker serves once ready (a nested call), instead of the queue."""
        self.ready = False
        self.gone = False
        self.job: _Job | None = None
        self.outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()

    def start(self) -> None:
        """Start the process and its pipe threads (on the spawner thread: starting a process
        takes 2-20 ms, too long to hold the event loop)."""
        pool = self.pool
        try:
            with _start_lock:  # ``close`` sees every started worker, or none starts after it
                if self.gone or pool._closed:
                    raise _NotStarted
                parent, child = pool._mp.Pipe(duplex=True)
                process = pool._mp.Process(
                    target=worker_main.main,
                    args=(child, str(pool.app_root), os.getpid(), logging.getLogger().level,
                          pool.nice),
                    name="livebase-action-worker",
                    daemon=True,
                )  # fmt: skip
                with _without_main():
                    process.start()
                child.close()
                self.process, self.conn = process, parent
        except Exception as exc:
            if not isinstance(exc, _NotStarted):
                log.error("could not start an action worker process", exc_info=exc)
            pool._post(pool._on_exit, self)
            return
        for target in (self._read, self._write):
            threading.Thread(target=target, name="livebase-action-pipe", daemon=True).start()
        if self.gone:  # terminated while it was starting
            self.terminate()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def send(self, message: tuple[Any, ...]) -> None:
        self.outbox.put(message)

    def _write(self) -> None:
        assert self.conn is not None
        while (message := self.outbox.get()) is not None:
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                return

    def _read(self) -> None:
        assert self.conn is not None and self.process is not None
        try:
            while True:
                self.pool._post(self.pool._on_message, self, self.conn.recv())
        except (EOFError, OSError):
            pass
        # The process ended (or is ending): reap it, then tell the pool.
        try:
            self.process.join(KILL_GRACE_SECONDS)
            if self.process.exitcode is None:
                self.process.kill()
                self.process.join()
        except (OSError, ValueError, AssertionError):
            pass  # reaped by ``ProcessPool.close`` on another thread
        self.outbox.put(None)
        self.conn.close()
        self.pool._post(self.pool._on_exit, self)

    def terminate(self) -> None:
        """SIGTERM now, SIGKILL after ``KILL_GRACE_SECONDS`` if it still runs."""
        self.gone = True
        if self.process is None:
            return  # not started yet: ``start`` will not start it
        try:
            self.process.terminate()
        except (OSError, ValueError):
            return
        timer = threading.Timer(KILL_GRACE_SECONDS, self._kill_if_alive)
        timer.daemon = True
        timer.start()

    def _kill_if_alive(self) -> None:
        assert self.process is not None
        try:
            if self.process.exitcode is None:
                self.process.kill()
        except (OSError, ValueError):
            pass


class ProcessPool:
    """Up to ``size`` worker processes for the app at ``app_root`` (see the module docstring)."""

    def __init__(self, app_root: Path, size: int, *, nice: int = 0) -> None:
        if size < 1:
            raise ValueError(f"the action pool needs at least one process, got {size}")
        self.app_root = app_root
        self.size = size
        self.nice = nice
        self._mp = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()  # guards _workers; ``close`` may run on any thread, even
        # from a finalizer in the middle of a block holding it (so re-entrant)
        self._workers: set[_Worker] = set()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        self._generation = 0
        self._job_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- what the runner calls ---------------------------------------------------------------

    def pids(self) -> list[int]:
        """Process ids of the current workers (for tests and diagnostics)."""
        with self._lock:
            return [w.pid for w in self._workers if w.pid is not None]

    async def run(
        self,
        path: str,
        args: Any,
        identity: dict[str, Any] | None,
        *,
        request_id: str,
        seconds: float,
        log_limit: int,
        perform: Perform,
        on_log: Callable[[str], None],
        nested: bool = False,
    ) -> Any:
        """Run the action ``path`` in a worker and return its value, or raise its error;
        ``ActionTimedOut`` after ``seconds`` of running (the worker is killed)."""
        request = (path, to_wire(args), identity, request_id, log_limit)
        wire = await self._run_job("run", request, seconds, perform, on_log, nested)
        try:
            return from_wire(wire)
        except LivebaseError as exc:
            raise exc from None

    async def run_offloaded(
        self, kind: str, deployment: Any, job: Any, *, seconds: float, perform: Perform
    ) -> Any:
        """Run a slow query or mutation (``kind``) in a worker (``query_worker``) and return
        its ``QueryOutcome`` or ``MutationRun``; ``ActionTimedOut`` after ``seconds`` (the
        worker is killed: a call stuck in a C call stops there)."""
        return await self._run_job(kind, (deployment, job), seconds, perform, _no_log, False)

    async def _run_job(
        self,
        kind: str,
        request: tuple[Any, ...],
        seconds: float,
        perform: Perform,
        on_log: Callable[[str], None],
        nested: bool,
    ) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        worker = await self._acquire(nested)
        job = _Job(next(self._job_ids), perform, on_log, loop.create_future())
        worker.job = job
        worker.send((kind, job.id, *request))
        try:
            return await asyncio.wait_for(asyncio.shield(job.done), seconds)
        except TimeoutError:
            self._abandon(worker, job)
            raise ActionTimedOut from None
        except BaseException:
            if not job.done.done():  # the caller was cancelled: nobody wants the result
                self._abandon(worker, job)
            raise
        finally:
            if worker.job is job and not worker.gone:
                worker.job = None
                self._release(worker)

    def warm(self, count: int = 1) -> None:
        """Start workers now (up to ``count`` in all), so that the first actions do not wait
        for a process to start."""
        while not self._closed and self._regular_count() < min(count, self.size):
            self._spawn()

    def reload(self, app_root: Path | None = None) -> None:
        """New app code: workers started from now on load it; idle old ones stop now, busy
        ones when their action ends."""
        if app_root is not None:
            self.app_root = app_root
        self._generation += 1
        stale = [w for w in self._idle if w.generation != self._generation]
        for w in stale:
            self._idle.remove(w)
            self._stop(w)
        for _ in stale:
            self._spawn()

    def close(self) -> None:
        """Kill every worker and wait (briefly) until they are gone; later calls fail."""
        with _start_lock:
            self._closed = True
            with self._lock:
                processes = [w.process for w in self._workers if w.process is not None]
                for w in self._workers:
                    w.gone = True
        for process in processes:
            try:
                process.terminate()
            except (OSError, ValueError):
                pass
        for process in processes:
            try:
                process.join(KILL_GRACE_SECONDS)
                if process.exitcode is None:
                    process.kill()
                    process.join(KILL_GRACE_SECONDS)
            except (OSError, ValueError, AssertionError):
                pass
        self._idle.clear()
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.get_loop().call_soon_threadsafe(_fail, waiter, _closed_error())

    # -- workers -------------------------------------------------------------------------------

    async def _acquire(self, nested: bool) -> _Worker:
        if self._closed:
            raise _closed_error()
        while self._idle:
            worker = self._idle.popleft()
            if not worker.gone:
                return worker
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        if nested:
            self._spawn(waiter, extra=True)
        else:
            self._waiters.append(waiter)
            if self._regular_count() < self.size:
                self._spawn()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # handed over as we were cancelled: pass it on
            raise

    def _regular_count(self) -> int:
        with self._lock:
            return sum(1 for w in self._workers if not w.extra and not w.gone)

    def _spawn(self, waiter: asyncio.Future[_Worker] | None = None, *, extra: bool = False) -> None:
        """Start a worker; once ready it serves ``waiter`` (if given), else the queue."""
        if self._closed:
            return
        worker = _Worker(self, self._generation, extra=extra, reserved=waiter)
        with self._lock:
            self._workers.add(worker)
        _spawner().put(worker)

    def _release(self, worker: _Worker) -> None:
        """``worker`` is free: give it to the first waiter, or keep it idle (or retire it)."""
        if worker.gone:
            return
        if self._closed or worker.generation != self._generation:
            self._stop(worker)
            if not self._closed:
                self._spawn()
            return
        if worker.extra:
            if self._regular_count() >= self.size:
                self._stop(worker)
                return
            worker.extra = False  # the pool has room: keep it
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def _stop(self, worker: _Worker) -> None:
        """Let an idle worker go (it exits; its reader thread reaps it)."""
        worker.gone = True
        worker.send(("stop",))

    def _abandon(self, worker: _Worker, job: _Job) -> None:
        """The action ran out of time (or its caller went away): kill its worker, drop its
        later messages, and start a replacement."""
        job.finished = True
        worker.job = None
        worker.terminate()
        if not worker.extra and self._regular_count() < self.size:
            self._spawn()

    # -- messages from the worker threads ----------------------------------------------------

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the pool's loop; kept for the next ``run`` when there is
        no loop yet (workers warmed before it started) or it closed (one loop per call)."""
        with self._lock:
            loop = self._loop
            if loop is None:
                self._early.append((callback, args))
                return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # that loop has closed
            with self._lock:
                if self._loop is loop:
                    self._loop = None
                self._early.append((callback, args))

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop
            early, self._early = self._early, []
        for callback, args in early:  # on the loop thread (from ``run``): handle them now
            callback(*args)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            reserved, worker.reserved = worker.reserved, None
            if reserved is not None and not reserved.done():
                reserved.set_result(worker)
            else:
                self._release(worker)
            return
        if kind == "failed":
            worker.gone = True
            self._fail_waiters(worker, AppLoadError(f"an action worker could not load the app: "
                                                     f"{message[1]}"))  # fmt: skip
            return
        job = worker.job
        if job is None or job.finished or job.id != message[1] or job.done.get_loop().is_closed():
            return  # from an action that already ended (timed out, or its caller left)
        if kind == "log":
            job.on_log(message[2])
        elif kind == "call":
            task = asyncio.ensure_future(self._perform(worker, job, message[2], message[3],
                                                       message[4]))  # fmt: skip
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "done":
            job.finished = True
            _, _, ok, payload = message
            if job.done.done():
                return
            if ok:
                job.done.set_result(payload)
            else:
                job.done.set_exception(decode_error(payload))

    async def _perform(
        self, worker: _Worker, job: _Job, call_id: int, method: str, payload: Any
    ) -> None:
        try:
            value = await job.perform(method, payload)
            reply: tuple[Any, ...] = ("reply", call_id, True, to_wire(value))
        except Exception as exc:
            reply = ("reply", call_id, False, encode_error(exc))
        if worker.job is job and not job.finished:
            worker.send(reply)

    def _on_exit(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        was_gone, worker.gone = worker.gone, True
        if worker in self._idle:
            self._idle.remove(worker)
        code = None if worker.process is None else worker.process.exitcode
        job = worker.job
        if job is not None and not job.finished:
            job.finished = True
            if not job.done.done():
                job.done.set_exception(
                    LivebaseError(
                        f"the worker process running this action exited (exit code {code})",
                        code="ActionWorkerExited",
                    )
                )
            return
        if not worker.ready and not was_gone:
            self._fail_waiters(worker, LivebaseError(
                f"an action worker process exited while starting (exit code {code})",
                code="ActionWorkerExited",
            ))  # fmt: skip

    def _fail_waiters(self, worker: _Worker, error: LivebaseError) -> None:
        """A worker could not start: its callers, and everyone queued, get ``error`` (starting
        another would most likely fail the same way)."""
        waiters = [worker.reserved] if worker.reserved is not None else []
        worker.reserved = None
        waiters += list(self._waiters)
        self._waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)


_spawn_lock = threading.Lock()
_spawner_lock = threading.Lock()
_start_lock = threading.RLock()
"""Re-entrant: a pool is also closed by a garbage-collection finalizer (its runner was dropped),
which can run in the spawner thread while it starts another worker holding this lock."""
_spawn_queue: queue.SimpleQueue[_Worker] | None = None


class _NotStarted(Exception):
    """The pool closed, or the worker was let go, before its process started."""


def _spawner() -> queue.SimpleQueue[_Worker]:
    """The queue of the one thread that starts every worker process. It never ends: a worker
    asks the kernel to kill it when the thread that started it ends (``PR_SET_PDEATHSIG``)."""
    global _spawn_queue
    with _spawner_lock:
        if _spawn_queue is None:
            jobs: queue.SimpleQueue[_Worker] = queue.SimpleQueue()

            def run() -> None:
                while True:
                    jobs.get().start()

            threading.Thread(target=run, name="livebase-action-spawner", daemon=True).start()
            _spawn_queue = jobs
        return _spawn_queue


class _without_main:
    """Start a worker without re-running the server's ``__main__`` in it: ``spawn`` normally
    imports the parent's main script in the child (so functions defined there can be found),
    which would run a script that starts a server at import again. The worker's target is
    ``worker_main.main``, importable by name, so nothing of ``__main__`` is needed."""

    def __enter__(self) -> None:
        _spawn_lock.acquire()
        self._real = spawn.get_preparation_data

        def preparation_data(name: str) -> dict[str, Any]:
            data: dict[str, Any] = self._real(name)
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
            return data

        spawn.get_preparation_data = preparation_data

    def __exit__(self, *exc_info: object) -> None:
        spawn.get_preparation_data = self._real
        _spawn_lock.release()


def _no_log(line: str) -> None:
    """A query's log lines come back with its outcome."""


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _closed_error() -> LivebaseError:
    return LivebaseError("the server is shutting down; actions no longer run", code="Unavailable")


__all__ = ["ActionTimedOut", "Perform", "ProcessPool", "default_size"]
