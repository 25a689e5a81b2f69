"""The action worker process: it loads the app folder itself and runs one action at a time.

``worker_process.ProcessPool`` starts this module's ``main`` with multiprocessing's ``spawn``
method (a fresh interpreter: the server is multi-threaded, so a plain fork is unsafe). The
worker imports the app with the server's own loader, says ``ready`` and then waits for jobs.
Messages are pickled tuples on one duplex pipe (``multiprocessing.Pipe``)::

    server -> worker   ("run", job_id, path, wire_args, identity, request_id, log_limit)
                       ("query", job_id, deployment, job)              a slow query or
                       ("mutation", job_id, deployment, job)           mutation
                                                                       (``query_worker``)
                       ("reply", call_id, ok, wire_value | error)      answer to a "call"
                       ("stop",)                                       idle worker: exit
    worker -> server   ("ready", pid) | ("failed", message)           once, after loading
                       ("log", job_id, line)                           a captured log line
                       ("call", job_id, call_id, method, payload)      ctx.run_query etc.
                                                                       (and "env": ctx.env)
                       ("done", job_id, ok, wire_value | error)     (a query: ok and a
                                                                       ``QueryOutcome``; a
                                                                       mutation: ``MutationRun``)

Arguments and values cross as wire JSON (``livebase.values.wire``), errors as
``worker_errors.encode_error`` dicts. The action's ``ctx`` here is a proxy: every
``run_query`` / ``run_mutation`` / ``run_action`` / ``scheduler`` call is a "call" message that
the server performs exactly as for an action running in the server (same identity, limits and
errors) and answers. ``print`` and ``logging`` of the action are captured as in the server and
each kept line is sent at once, so the lines logged before a timeout are not lost.

A thread reads the pipe all the time, so replies arrive while the action runs; when the pipe
ends (the server exited or was killed) the worker exits at once, whatever the action is doing.
On Linux the worker also asks the kernel to kill it when its parent dies
(``PR_SET_PDEATHSIG``), which works even while the action holds the GIL in a long C call.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from livebase.envvars.view import EnvView
from livebase.errors import AppLoadError, FunctionNotFoundError
from livebase.files.worker import WorkerStorage
from livebase.functions.context import Auth, CallLog, Capture
from livebase.functions.loader import App, load_app
from livebase.functions.registry import Kind, function_path
from livebase.functions.worker_errors import decode_error, encode_error
from livebase.values.types import check_value
from livebase.values.wire import from_wire, to_wire

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the server died before the line above
        os._exit(0)


def main(conn: Connection, app_dir: str, parent_pid: int, log_level: int, nice: int) -> None:
    """Entry point of a worker process (see the module docstring). ``nice``: how much lower
    than the server's this process's CPU priority is (client requests come first)."""
    _die_with_parent(parent_pid)
    if nice > 0 and hasattr(os, "nice"):  # from the start: loading the app is background work
        os.nice(nice)
    logging.getLogger().setLevel(log_level)
    try:
        app = load_app(app_dir)
    except AppLoadError as exc:
        conn.send(("failed", exc.message))
        return
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    Worker(conn, app).serve()


class _StreamLog(CallLog):
    """A call log that also sends every line it keeps to the server as it is written."""

    def __init__(self, limit: int, emit: Callable[[str], None]) -> None:
        super().__init__(limit)
        self._emit = emit

    def add(self, level: str, message: str) -> None:
        before = len(self.lines)
        super().add(level, message)
        for line in self.lines[before:]:
            self._emit(line)


class Worker:
    """The job loop (main thread) and the pipe reader (a daemon thread) of one worker."""

    def __init__(self, conn: Connection, app: App) -> None:
        self.conn = conn
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._pending_lock = threading.Lock()
        self._call_ids = itertools.count(1)
        self._queries: Any = None
        """The ``query_worker.QueryHost`` that runs slow queries, opened on the first one."""

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    def serve(self) -> None:
        threading.Thread(target=self._read, name="livebase-worker-reader", daemon=True).start()
        self.send(("ready", os.getpid()))
        while True:
            message = self._jobs.get()
            if message[0] in ("query", "mutation"):
                self._run_offloaded(message[0], *message[1:])
            else:
                self._run(*message[1:])

    def _read(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                if message[0] in ("run", "query", "mutation"):
                    self._jobs.put(message)
                elif message[0] == "reply":
                    _, call_id, ok, payload = message
                    with self._pending_lock:
                        future = self._pending.pop(call_id, None)
                    if future is None:
                        continue
                    if ok:
                        future.set_result(from_wire(payload))
                    else:
                        future.set_exception(decode_error(payload, "the server"))
                elif message[0] == "stop":
                    break
        except (EOFError, OSError):
            pass
        os._exit(0)  # the server is gone or let us go: stop now, whatever the action does

    def call(self, job_id: int, method: str, payload: Any) -> Future[Any]:
        """Ask the server to perform ``method`` for the action ``job_id``."""
        future: Future[Any] = Future()
        call_id = next(self._call_ids)
        with self._pending_lock:
            self._pending[call_id] = future
        self.send(("call", job_id, call_id, method, payload))
        return future

    def _run(
        self,
        job_id: int,
        path: str,
        wire_args: Any,
        identity: dict[str, Any] | None,
        request_id: str,
        log_limit: int,
    ) -> None:
        ctx = WorkerActionCtx(self, job_id, identity)
        capture = Capture(log_limit)
        capture.log = _StreamLog(log_limit, lambda line: self.send(("log", job_id, line)))
        with capture:
            try:
                fd = self.app.functions.get(path)
                if fd is None:
                    raise FunctionNotFoundError(f"Could not find function for '{path}'")
                args: Any = from_wire(wire_args)
                value = fd.fn(ctx, **args)
                if fd.is_async:
                    value = self.loop.run_until_complete(value)
                check_value(value)
                outcome: tuple[Any, ...] = ("done", job_id, True, to_wire(value))
            except BaseException as exc:  # the action's failure goes to its caller
                outcome = ("done", job_id, False, encode_error(exc))
        self.send(outcome)

    def _run_offloaded(self, kind: str, job_id: int, deployment: Any, job: Any) -> None:
        """Run a slow query or mutation against the database directly (``query_worker``)."""
        from livebase.functions.query_worker import QueryHost

        try:
            host = self._queries
            if host is None or not host.retarget(deployment):
                if host is not None:
                    host.close()
                host = self._queries = QueryHost(self.app, deployment)
            load_env = lambda: self.call(job_id, "env", None).result()  # noqa: E731
            run = host.run if kind == "query" else host.run_mutation
            outcome = run(job, load_env)
            message: tuple[Any, ...] = ("done", job_id, True, outcome)
        except BaseException as exc:  # the database cannot be opened: the caller's answer
            message = ("done", job_id, False, encode_error(exc))
        self.send(message)


class WorkerActionCtx:
    """``ctx`` of an action in a worker process: the same interface as ``ActionCtx`` in the
    server. In an ``async def`` action, ``await`` the calls; in a plain ``def`` action they
    return the value directly."""

    def __init__(self, worker: Worker, job_id: int, identity: dict[str, Any] | None) -> None:
        self._worker = worker
        self._job_id = job_id
        self.auth = Auth(identity)
        self.env = EnvView(lambda: self._call_blocking("env", None))
        """The environment variables, fetched from the server on first use."""
        self.scheduler = WorkerScheduler(self)
        self.storage = WorkerStorage(self)

    def _call_blocking(self, method: str, payload: Any) -> Any:
        """Wait for the server's answer, even inside an ``async def`` action (the reply comes
        on the reader thread, so blocking the action's loop cannot deadlock)."""
        return self._worker.call(self._job_id, method, payload).result()

    def _call(self, method: str, payload: Any) -> Any:
        future = self._worker.call(self._job_id, method, payload)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return future.result()  # a plain ``def`` action: wait here
        return asyncio.wrap_future(future)  # ``await`` it in an async action

    def _run(self, kind: Kind, target: Any, args: dict[str, Any] | None) -> Any:
        """The reference is resolved here: a decorated function cannot cross the pipe."""
        method = f"run_{kind}"
        return self._call(
            method, (function_path(target, f"ctx.{method}", kind), to_wire(args or {}))
        )

    def run_query(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return self._run("query", fn, args)

    def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return self._run("mutation", fn, args)

    def run_action(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return self._run("action", fn, args)

    def vector_search(
        self,
        table: str,
        index: str,
        *,
        vector: Any,
        limit: Any = None,
        filter: Any = None,
    ) -> Any:
        """``ctx.vector_search``: the filter is built here and its fields checked in the
        server."""
        from livebase.vectors.filters import build_filter, filter_to_wire

        eqs = filter_to_wire(build_filter(index, None, filter))
        vec = list(vector) if isinstance(vector, (list, tuple)) else vector
        return self._call("vector_search", (table, index, vec, limit, to_wire(eqs)))  # type: ignore[arg-type]


class WorkerScheduler:
    """``ctx.scheduler`` in a worker: each call commits at once, in the server."""

    def __init__(self, ctx: WorkerActionCtx) -> None:
        self._ctx = ctx

    def run_after(self, seconds: float, target: Any, args: dict[str, Any] | None = None) -> Any:
        return self._ctx._call(
            "run_after", (seconds, function_path(target, "ctx.scheduler"), to_wire(args or {}))
        )

    def run_at(self, when: Any, target: Any, args: dict[str, Any] | None = None) -> Any:
        return self._ctx._call(
            "run_at", (when, function_path(target, "ctx.scheduler"), to_wire(args or {}))
        )

    def cancel(self, job_id: str) -> Any:
        return self._ctx._call("cancel", job_id)


__all__ = ["Worker", "WorkerActionCtx", "WorkerScheduler", "main"]
