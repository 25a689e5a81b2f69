"""What a function receives as ``ctx``, and the capture of its ``print`` and ``logging`` output.

Queries and mutations get ``ctx.db`` (read-only for queries), ``ctx.now`` (milliseconds, frozen
for the call) and ``ctx.random`` (seeded per call). While they run, ``time.time()``,
``time.time_ns()`` and the ``random`` module are patched to the same frozen clock and seed.
Actions get ``run_query`` / ``run_mutation`` / ``run_action`` and the real clock.
"""

from __future__ import annotations

import contextvars
import logging
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from livebase.engine.query import Query
from livebase.engine.transaction import Document, Transaction

_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "ERROR",
}
MAX_LINE = 4096


class CallLog:
    """Log lines of one call, in the wire form ``[LEVEL] message``."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.limit = limit
        self._partial = ""

    def add(self, level: str, message: str) -> None:
        if len(self.lines) >= self.limit:
            if len(self.lines) == self.limit:  # say once that lines are being dropped
                self.lines.append(
                    f"[WARN] log limit of {self.limit} lines reached; later lines dropped"
                )
            return
        if len(message) > MAX_LINE:
            message = message[:MAX_LINE] + " (truncated)"
        self.lines.append(f"[{level}] {message}")

    def write(self, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.add("LOG", line)

    def flush(self) -> None:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""


current_log: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "livebase_call_log", default=None
)


class _RoutingStream:
    """Stands in for ``sys.stdout``: text written during a call goes to that call's log."""

    def __init__(self, target: IO[str]) -> None:
        self._target = target

    def write(self, text: str) -> int:
        log = current_log.get()
        if log is None:
            return self._target.write(text)
        log.write(text)
        return len(text)

    def flush(self) -> None:
        if current_log.get() is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log = current_log.get()
        if log is not None and not record.name.startswith("livebase."):
            log.add(_LEVELS.get(record.levelno, "LOG"), record.getMessage())


_installed = False


def install_capture() -> None:
    """Route ``print`` and ``logging`` of running functions into their call logs (idempotent;
    wraps ``sys.stdout`` again if something replaced it since)."""
    global _installed
    if not isinstance(sys.stdout, _RoutingStream):
        sys.stdout = _RoutingStream(sys.stdout)
    if not _installed:
        _installed = True
        logging.getLogger().addHandler(_CaptureHandler())


@contextmanager
def capture(limit: int) -> Iterator[CallLog]:
    install_capture()
    log = CallLog(limit)
    token = current_log.set(log)
    try:
        yield log
    finally:
        log.flush()
        current_log.reset(token)


class SeededRandom:
    """A ``random.Random`` seeded for one call, created only if the call uses randomness."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None

    def get(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


_PATCHED_RANDOM = (
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "gauss",
    "getrandbits",
    "randbytes",
)


@contextmanager
def frozen(now_ms: float, seed: int) -> Iterator[SeededRandom]:
    """Freeze ``time.time`` and seed the ``random`` module's functions for one query or
    mutation. Only the calling thread sees the patch: an action running at the same time in a
    worker thread keeps the real clock and the real random source."""
    owner = threading.get_ident()
    real_time, real_time_ns = time.time, time.time_ns
    seconds = now_ms / 1000.0
    nanos = int(now_ms * 1_000_000)

    def frozen_time() -> float:
        return seconds if threading.get_ident() == owner else real_time()

    def frozen_time_ns() -> int:
        return nanos if threading.get_ident() == owner else real_time_ns()

    time.time, time.time_ns = frozen_time, frozen_time_ns
    rng = SeededRandom(seed)
    saved = {name: getattr(random, name) for name in _PATCHED_RANDOM}
    for name, real in saved.items():
        setattr(random, name, _deferred(rng, name, real, owner))
    try:
        yield rng
    finally:
        time.time, time.time_ns = real_time, real_time_ns
        for name, fn in saved.items():
            setattr(random, name, fn)


def _deferred(rng: SeededRandom, name: str, real: Any, owner: int) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != owner:
            return real(*args, **kwargs)
        return getattr(rng.get(), name)(*args, **kwargs)

    return call


class DatabaseReader:
    """``ctx.db`` in a query."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def get(self, doc_id: str) -> Document | None:
        return self._tx.get(doc_id)

    def query(self, table: str) -> Query:
        return self._tx.query(table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        return self._tx.normalize_id(table, doc_id)


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation."""

    def insert(self, table: str, document: dict[str, Any]) -> str:
        return self._tx.insert(table, document)

    def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        self._tx.patch(doc_id, fields)

    def replace(self, doc_id: str, document: dict[str, Any]) -> None:
        self._tx.replace(doc_id, document)

    def delete(self, doc_id: str) -> None:
        self._tx.delete(doc_id)


class Auth:
    """``ctx.auth``; user identities arrive with JWT support in a later version."""

    def __init__(self, identity: dict[str, Any] | None) -> None:
        self._identity = identity

    def get_user_identity(self) -> dict[str, Any] | None:
        return self._identity


class QueryCtx:
    def __init__(self, tx: Transaction, rng: SeededRandom, auth: Auth) -> None:
        self.db: DatabaseReader = DatabaseReader(tx)
        self.now: float = tx.now_ms
        self.random = rng
        self.auth = auth


class MutationCtx(QueryCtx):
    def __init__(self, tx: Transaction, rng: SeededRandom, auth: Auth) -> None:
        super().__init__(tx, rng, auth)
        self.db = DatabaseWriter(tx)
