"""What one group commit is made of: the queued mutations, their outcomes and the commits.

``Engine.mutate`` queues a ``Pending``; the committer runs everything queued in one storage
transaction (``Engine._commit_batch``), collecting a ``Batch``: each mutation's outcome (a value
or its error), the ``Commit`` of each one that wrote, and, on a database several nodes share,
the other nodes' commits not yet delivered here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from livebase.engine.catalog import Catalog
from livebase.engine.transaction import Transaction, Write
from livebase.errors import IdempotencyKeyReusedError
from livebase.values.wire import dumps, loads

R = TypeVar("R")


class Commit:
    """One mutation's writes at its commit timestamp. A commit read back from the log (another
    node's) keeps its text and decodes the writes only when something asks for them: a node
    that follows others' commits with nothing subscribed to them never decodes a document."""

    __slots__ = ("_text", "_writes", "ts")

    def __init__(self, ts: int, writes: list[Write] | None = None, text: str | None = None):
        assert (writes is None) != (text is None), "a commit has its writes or their text"
        self.ts, self._writes, self._text = ts, writes, text

    @property
    def writes(self) -> list[Write]:
        if self._writes is None:
            assert self._text is not None
            self._writes = [Write.from_json(x) for x in loads(self._text).get("writes", [])]
            self._text = None
        return self._writes

    def may_write(self, *tables: str) -> bool:
        """False only if the commit certainly writes to none of ``tables`` (checked on the
        text while it is undecoded: a table's name appears in it as ``"table":"<name>"``)."""
        if self._text is not None:
            return any(f'"table":{dumps(table)}' in self._text for table in tables)
        return any(w.table in tables for w in self._writes or ())

    def __repr__(self) -> str:  # without decoding an undecoded commit
        what = "undecoded" if self._writes is None else f"writes={len(self._writes)}"
        return f"Commit(ts={self.ts}, {what})"


@dataclass
class MutationOutcome(Generic[R]):
    value: R
    ts: int
    replayed: bool = False


@dataclass
class Pending:
    fn: Callable[[Transaction], Any]
    future: asyncio.Future[MutationOutcome[Any]]
    record_key: str | None
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None
    fingerprint: str | None = None
    optimistic: bool = False
    """May run before the commit clock is taken (``engine.optimistic``): an app mutation."""
    attempts: int = 0

    def run(self, tx: Transaction) -> tuple[Any, str | None]:
        """Run the mutation in ``tx``: its value and, with an idempotency key, the outcome to
        keep for it as JSON text (the record is made of it at commit:
        ``idempotency.record_text``). Raises what the mutation raises."""
        value = self.fn(tx)
        if self.record_key is None:
            return value, None
        return value, dumps(self.encode(value) if self.encode else value)

    def stored_outcome(self, stored: str) -> MutationOutcome[Any] | BaseException:
        """The answer kept for this call's idempotency key (``stored``, the record's text):
        the outcome it recorded, or an error if another call made the record."""
        assert self.record_key is not None
        record = loads(stored)
        if record.get("fingerprint") != self.fingerprint:
            return _key_reused(self.record_key)
        value = self.decode(record["value"]) if self.decode else record["value"]
        return MutationOutcome(value, record["ts"], replayed=True)


@dataclass
class Batch:
    catalog: Catalog
    last_ts: int
    start_ts: int = 0  # the newest commit in the database when the batch began
    missed: list[Commit] | None = None
    """On a shared database: other nodes' commits not yet delivered when the batch began (None:
    not known, more than one page of them)."""
    commits: list[Commit] = field(default_factory=list)
    results: list[tuple[Pending, MutationOutcome[Any] | BaseException]] = field(
        default_factory=list
    )
    tail: int = 0
    """Which read of other nodes' commits with the clock the batch began with (its number,
    ``Engine._begin_tail``); 0: none (a database of one process)."""


def decode_commits(rows: list[tuple[int, str]]) -> list[Commit]:
    """Commit-log entries (timestamp, text) as commits."""
    return [Commit(ts, text=entry) for ts, entry in rows]


def _key_reused(record_key: str) -> IdempotencyKeyReusedError:
    key = record_key.split(":", 2)[-1]  # "request:http:<key>", "request:ws:<session>:<id>"
    return IdempotencyKeyReusedError(
        f"the idempotency key {key[:200]!r} already answered a different call (another caller, "
        "function or arguments); a stored outcome is replayed only to the call that made it. "
        "Use a new key for a new call."
    )
