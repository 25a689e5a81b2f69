"""``ctx.run_query`` / ``ctx.run_mutation`` inside queries and mutations, as in Convex.

The called function runs in the caller's transaction, synchronously: a query sees the caller's
writes so far and its reads join the caller's read set; a mutation runs as a sub-transaction
(``Transaction.sub_transaction``): if it raises, all it wrote is undone and the error reaches the
caller, which may catch it and go on; if it returns, its writes commit with the caller's. The
callee's arguments and result are validated as for any call, and copied, so neither side can
change the other's values. It shares the caller's identity, environment, clock, time limit and
read/write limits, and its log lines go to the caller's log. Calls nest at most
``MAX_CALL_DEPTH`` deep.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from livebase.engine.transaction import Transaction
from livebase.envvars.view import EnvView
from livebase.errors import LimitExceededError, ReadOnlyError
from livebase.functions.context import Auth, MutationCtx, QueryCtx
from livebase.functions.registry import FunctionDef, Kind, function_path
from livebase.functions.sandbox import SeededRandom
from livebase.values.wire import from_wire, to_wire

if TYPE_CHECKING:
    from livebase.functions.runner import Runner

MAX_CALL_DEPTH = 8
"""Convex's ``MAX_REACTOR_CALL_DEPTH``: a top-level call may nest calls 8 deep."""


class NestedCalls:
    """``ctx.calls`` of a query or mutation at call depth ``depth`` (0: the top-level call)."""

    def __init__(
        self, runner: Runner, tx: Transaction, auth: Auth, env: EnvView, depth: int = 0
    ) -> None:
        self._runner = runner
        self._tx = tx
        self._auth = auth
        self._env = env
        self._depth = depth
        self._made = 0

    def run_query(self, fn: Any, args: dict[str, Any] | None) -> Any:
        return self._call(fn, args, "query")

    def run_mutation(self, fn: Any, args: dict[str, Any] | None) -> Any:
        if not self._tx.writable:
            raise ReadOnlyError("a query cannot run a mutation; call it from a mutation or action")
        return self._call(fn, args, "mutation")

    def _call(self, target: Any, args: dict[str, Any] | None, kind: Kind) -> Any:
        from livebase.functions.runner import check_args_size

        use = f"ctx.run_{kind}"
        path = function_path(target, use, kind)
        if self._depth >= MAX_CALL_DEPTH:
            raise LimitExceededError(
                f"{use}({path!r}): calls nest more than {MAX_CALL_DEPTH} deep",
                code="CallDepthExceeded",
            )
        runner, tx = self._runner, self._tx
        args = {} if args is None else args
        check_args_size(path, args, runner.engine.settings.limits.max_args_bytes)
        fd = runner.lookup(path, kind, admin=True)  # internal functions may be called
        checked = runner.check_args(fd, _copied(args))
        tx.check_deadline()
        runner.executions.inc(fd.path, fd.kind)
        self._made += 1
        seed = zlib.crc32(f"{fd.path}:{tx.snapshot_ts}:{self._depth}:{self._made}".encode())
        ctx = self._ctx(kind, SeededRandom(seed))
        # A paginated query's journal belongs to the top-level call, not to what it calls.
        journal, page_end = tx.page_journal, tx.page_end
        tx.page_journal = tx.page_end = None
        try:
            if kind == "mutation":
                with tx.sub_transaction():
                    value = self._invoke(fd, ctx, checked)
            else:
                value = self._invoke(fd, ctx, checked)
        finally:
            tx.page_journal, tx.page_end = journal, page_end
        return _copied(value)

    def _ctx(self, kind: Kind, rng: SeededRandom) -> QueryCtx:
        from livebase.functions.scheduling import TxScheduler

        tx = self._tx
        ctx: QueryCtx
        if kind == "mutation":
            ctx = mctx = MutationCtx(tx, rng, self._auth, self._env)
            mctx.scheduler = TxScheduler(tx, self._runner)
        else:
            ctx = QueryCtx(tx, rng, self._auth, self._env)
        ctx.calls = NestedCalls(self._runner, tx, self._auth, self._env, self._depth + 1)
        return ctx

    def _invoke(self, fd: FunctionDef, ctx: QueryCtx, args: dict[str, Any]) -> Any:
        from livebase.functions.runner import drive_coroutine

        value = fd.fn(ctx, **args)
        if fd.is_async:
            value = drive_coroutine(value)
        self._tx.check_deadline()
        return self._runner.checked_result(fd, value)


def _copied(value: Any) -> Any:
    """A copy of a Convex value (what crosses a call boundary)."""
    return from_wire(to_wire(value))
