"""What a function receives as ``ctx``, and the capture of its ``print`` and ``logging`` output.

Queries and mutations get ``ctx.db`` (read-only for queries), ``ctx.now`` (milliseconds, frozen
for the call) and ``ctx.random`` (seeded per call; see ``sandbox``), and may call other
functions in the same transaction: ``ctx.run_query`` (both) and ``ctx.run_mutation`` (mutations:
a sub-transaction; see ``nested``). Actions get ``run_query`` / ``run_mutation`` /
``run_action`` and the real clock. Every kind gets ``ctx.env``, the
deployment's environment variables (``livebase.envvars``).
"""

from __future__ import annotations

import contextvars
import copy
import logging
import sys
from typing import IO, Any, Protocol

from livebase.auth.identity import UserIdentity
from livebase.engine.query import Query
from livebase.engine.transaction import Document, Transaction
from livebase.envvars.view import EnvView, empty_view
from livebase.errors import InvalidQueryError, LivebaseError, ReadOnlyError, ValidationError
from livebase.functions.sandbox import SeededRandom, note_varies

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


class Capture:
    """``with Capture(limit) as log:`` — print and logging in the body become ``log.lines``."""

    __slots__ = ("_token", "log")

    def __init__(self, limit: int) -> None:
        self.log = CallLog(limit)

    def __enter__(self) -> CallLog:
        if not _installed or not isinstance(sys.stdout, _RoutingStream):
            install_capture()
        self._token = current_log.set(self.log)
        return self.log

    def __exit__(self, *exc_info: object) -> None:
        self.log.flush()
        current_log.reset(self._token)


class SystemReader:
    """``ctx.db.system``: read-only access to system tables (``_scheduled_functions``,
    ``_cron_jobs``); reads are reactive like any other."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def get(self, doc_id: str) -> Document | None:
        return self._tx.get(doc_id)

    def query(self, table: str) -> Query:
        if not table.startswith("_"):
            raise InvalidQueryError(
                f"ctx.db.system reads system tables; use ctx.db.query({table!r})"
            )
        return self._tx.query(table)


class DatabaseReader:
    """``ctx.db`` in a query."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self.system = SystemReader(tx)

    def get(self, doc_id: str) -> Document | None:
        return self._tx.get(doc_id)

    def query(self, table: str) -> Query:
        return self._tx.query(table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        return self._tx.normalize_id(table, doc_id)


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation."""

    def insert(self, table: str, document: dict[str, Any]) -> str:
        if isinstance(table, str) and table.startswith("_"):
            raise _system_write(table)
        return self._tx.insert(table, document)

    def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        self._check_user_table(doc_id)
        self._tx.patch(doc_id, fields)

    def replace(self, doc_id: str, document: dict[str, Any]) -> None:
        self._check_user_table(doc_id)
        self._tx.replace(doc_id, document)

    def delete(self, doc_id: str) -> None:
        self._check_user_table(doc_id)
        self._tx.delete(doc_id)

    def _check_user_table(self, doc_id: str) -> None:
        info = self._tx.table_of_id(doc_id)
        if info is not None and info.name.startswith("_"):
            raise _system_write(info.name)


def _system_write(table: str) -> ValidationError:
    hint = " (use ctx.scheduler.cancel to cancel a job)" if table == "_scheduled_functions" else ""
    return ValidationError(
        f"{table} is a system table; app code can read it but not write it{hint}",
        code="SystemTableWrite",
    )


class Auth:
    """``ctx.auth``: who the call speaks for. ``identity`` is the verified identity's wire
    form (or None); ``refused`` is set for an HTTP route whose ``Authorization: Bearer`` token
    did not hold: asking for the identity then raises why (a route that never asks is not
    affected; its header may well be its own kind of credential)."""

    def __init__(
        self, identity: dict[str, Any] | None, refused: LivebaseError | None = None
    ) -> None:
        self._identity = identity
        self._refused = refused
        self.used = False
        """Whether the call asked who is calling: a query that never does gives every caller
        the same result, which subscriptions then compute once for all of them."""

    def get_user_identity(self) -> UserIdentity | None:
        """The signed-in user (``subject``, ``issuer``, ``token_identifier``, ``name``,
        ``email``, ``email_verified``, ``picture``; custom claims as keys), or None."""
        self.used = True
        if self._refused is not None:
            raise self._refused
        return None if self._identity is None else UserIdentity(copy.deepcopy(self._identity))


class Calls(Protocol):
    """What ``ctx.run_query`` / ``ctx.run_mutation`` call into (``nested.NestedCalls``)."""

    def run_query(self, fn: Any, args: dict[str, Any] | None) -> Any: ...

    def run_mutation(self, fn: Any, args: dict[str, Any] | None) -> Any: ...


class QueryCtx:
    def __init__(
        self, tx: Transaction, rng: SeededRandom, auth: Auth, env: EnvView | None = None
    ) -> None:
        self.db: DatabaseReader = DatabaseReader(tx)
        self._now = tx.now_ms
        self.random = rng
        self.auth = auth
        self.env: EnvView = empty_view() if env is None else env
        """The deployment's environment variables (``livebase env set``), read-only."""
        self.calls: Calls | None = None
        """Set by the runner: where ``run_query`` / ``run_mutation`` go."""
        self.storage: Any = None
        """``ctx.storage`` (``livebase.files.context``), set by the runner."""

    @property
    def now(self) -> float:
        """The call's frozen time, in milliseconds since the epoch."""
        note_varies()
        return self._now

    def run_query(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (``"module:function"`` or the decorated function) in this call's
        transaction and give its value: it sees this call's writes so far, and its reads count
        as this call's. Its arguments are validated as for any call."""
        return self._calls("ctx.run_query").run_query(fn, args)

    def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        raise ReadOnlyError("a query cannot run a mutation; call it from a mutation or an action")

    def _calls(self, use: str) -> Calls:
        if self.calls is None:
            raise InvalidQueryError(
                f"{use} is not available here (a trigger cannot call functions; a query or "
                "mutation can)"
            )
        return self.calls


class MutationCtx(QueryCtx):
    def __init__(
        self, tx: Transaction, rng: SeededRandom, auth: Auth, env: EnvView | None = None
    ) -> None:
        super().__init__(tx, rng, auth, env)
        self.db = DatabaseWriter(tx)
        self.scheduler: Any = None
        """A ``TxScheduler`` (set by the runner): jobs commit with this transaction."""

    def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation (path or decorated function) as a sub-transaction of this one and
        give its value. If it raises, everything it wrote (documents, scheduled jobs, trigger
        effects) is undone and the error reaches this caller, which may catch it and go on;
        if it returns, its writes commit (or roll back) with this mutation."""
        return self._calls("ctx.run_mutation").run_mutation(fn, args)
