"""``@trigger("table")``: app code that runs inside the transaction of every write to a table.

A trigger sees the change (``operation``, ``id``, ``old_doc``, ``new_doc``) and a mutation-like
``ctx`` over the same transaction, so what it writes commits or rolls back with the write that
fired it, whether that write came from a mutation, a scheduled job, an import or an admin edit.
An exception in a trigger aborts the whole transaction. A trigger whose writes come back to a
table whose triggers are already running (directly or through other triggers) is a loop and fails
with ``TriggerLoop`` instead of recursing.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livebase.engine.transaction import DocumentChange, Transaction
from livebase.errors import InvalidValueError, LivebaseError
from livebase.functions.context import Auth, MutationCtx
from livebase.functions.sandbox import SeededRandom

if TYPE_CHECKING:
    from livebase.functions.scheduling import SchedulerFactory

MAX_TRIGGER_DEPTH = 16


class TriggerLoopError(LivebaseError):
    code = "TriggerLoop"
    http_status = 400


@dataclass
class TriggerDef:
    fn: Callable[..., Any]
    table: str
    path: str = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def trigger(table: str) -> Callable[[Callable[..., Any]], TriggerDef]:
    """``@trigger("messages")`` on ``def on_change(ctx, change)``."""
    if not isinstance(table, str) or not table:
        raise TypeError("@trigger needs the table name: @trigger('messages')")

    def wrap(fn: Callable[..., Any]) -> TriggerDef:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"{fn.__qualname__}: a trigger runs inside a transaction and must be a plain "
                "`def`, not `async def`"
            )
        if len(inspect.signature(fn).parameters) != 2:
            raise TypeError(f"{fn.__qualname__}: a trigger takes (ctx, change)")
        return TriggerDef(fn, table)

    return wrap


class TriggerHook:
    """The engine's change hook: runs the current app's triggers for each write."""

    def __init__(
        self,
        triggers: Callable[[], dict[str, list[TriggerDef]]],
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        self._triggers = triggers
        self._scheduler = scheduler

    def __call__(self, tx: Transaction, change: DocumentChange) -> None:
        defs = self._triggers().get(change.table)
        if not defs:
            return
        if change.table in tx.trigger_stack:
            chain = " -> ".join([*tx.trigger_stack, change.table])
            raise TriggerLoopError(
                f"trigger loop: a trigger on {tx.trigger_stack[-1]!r} wrote to {change.table!r} "
                f"whose triggers are already running ({chain}); write to another table or "
                "guard the write"
            )
        if len(tx.trigger_stack) >= MAX_TRIGGER_DEPTH:
            raise TriggerLoopError(f"triggers nested more than {MAX_TRIGGER_DEPTH} tables deep")
        tx.trigger_stack.append(change.table)
        try:
            seed = zlib.crc32(f"trigger:{change.id}:{tx.snapshot_ts}".encode())
            ctx = MutationCtx(tx, SeededRandom(seed), Auth(None))
            if self._scheduler is not None:
                ctx.scheduler = self._scheduler(tx)
            for definition in defs:
                result = definition.fn(ctx, change)
                if inspect.isawaitable(result):
                    raise InvalidValueError(
                        f"trigger {definition.path} returned an awaitable; triggers are plain def"
                    )
        finally:
            tx.trigger_stack.pop()
