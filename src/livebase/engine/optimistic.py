"""App mutations run before the commit clock is taken, on a database several nodes share.

On PostgreSQL a write transaction holds the commit clock from its first statement to COMMIT
(``storage.postgres``): while one node runs a batch's mutations under it, no other node can
commit. So a batch of app mutations first runs here, outside the transaction, over an
``Overlay`` of a read snapshot (opened only if a mutation reads: one that only inserts reads
nothing), recording each mutation's read set, its writes and its outcome.

Then the write transaction's first round trip takes the clock and brings back every commit
since the snapshot, the catalog and the batch's idempotency records (``StorageReader.tail``).
The batch commits as it ran if

- no commit since the snapshot wrote a key any mutation read (``overlay.writes_touch``, the
  check slow mutations and subscriptions use; a failed mutation's reads count too, since its
  error may depend on them),
- the catalog is the one the mutations ran with, and
- no idempotency record of the batch appeared meanwhile (another node answered the same call);

the recorded writes are then replayed and each mutation gets its timestamp, under the clock, so
it is serializable: as if it had run at that moment. Otherwise the batch runs again under the
clock, as every batch did before (``Engine._run_one``): a conflict costs one more run, never a
wrong answer. A mutation that does something an overlay cannot replay (``NeedsServer``), or
creates a table, sends the whole batch down that path too.

A batch that reads runs ahead only while other nodes are committing (the engine saw their
commits in the last second): the snapshot costs round trips of its own (its ``BEGIN``, the clock,
``COMMIT``), which buy nothing when no other node waits for the clock, so alone a node runs such
a batch under the clock from the start, as fast as before. A batch that reads nothing always
runs ahead: it then commits in one round trip.

Only mutations that read through the transaction's read set may run here: the app's, which
``Runner`` marks ``optimistic``. The platform's own (a restore, the scheduler, a worker's
replayed run) read storage directly and always run under the clock.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from livebase.engine.batch import Commit, Pending
from livebase.engine.overlay import NeedsServer, Op, Overlay, writes_touch
from livebase.engine.reads import ReadSet
from livebase.engine.transaction import Write
from livebase.storage.base import IndexRow, Storage, StorageReader
from livebase.storage.search_types import SearchHit, SearchRequest
from livebase.storage.vector_types import VectorCandidate, VectorRequest

MAX_BATCH = 64
"""Larger batches run under the clock: each mutation's savepoint copies the overlay so far."""


class LazySnapshot(StorageReader):
    """A read snapshot of ``storage`` opened on the first read (``ts``: its newest commit);
    unless ``may_read``, the first read raises ``NeedsServer`` instead."""

    def __init__(self, storage: Storage, may_read: bool = True) -> None:
        self._storage = storage
        self._may_read = may_read
        self._stack = ExitStack()
        self._reader: StorageReader | None = None
        self.ts: int | None = None

    def _open(self) -> StorageReader:
        if self._reader is None:
            if not self._may_read:
                raise NeedsServer("a read while no other node commits")
            self._reader = self._stack.enter_context(self._storage.reader())
            self.ts = self._reader.latest_ts()
        return self._reader

    def close(self) -> None:
        self._stack.close()

    def latest_ts(self) -> int:
        return self._open().latest_ts()

    def get_document(self, doc_id: str) -> str | None:
        return self._open().get_document(doc_id)

    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        return self._open().scan_index(index_id, lo, hi, reverse=reverse, limit=limit)

    def get_global(self, key: str) -> str | None:
        return self._open().get_global(key)

    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        return self._open().commits_after(ts, limit)

    def search(self, index_id: int, request: SearchRequest) -> list[SearchHit]:
        return self._open().search(index_id, request)

    def vector_search(self, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
        return self._open().vector_search(index_id, request)


@dataclass
class Ran:
    """One mutation of the batch, run over the overlay and not yet committed."""

    item: Pending
    value: Any = None
    error: Exception | None = None
    read_set: ReadSet = field(default_factory=ReadSet)
    writes: list[Write] = field(default_factory=list)
    stored: str | None = None
    """The outcome to keep for the call's idempotency key (its timestamp set at commit)."""


@dataclass
class Prepared:
    """A batch run ahead of its commit; ``holds`` says whether it may commit as it ran."""

    catalog_text: str | None
    snapshot_ts: int | None
    """The snapshot's newest commit, or None if no mutation read anything."""
    ops: list[Op]
    runs: list[Ran]
    new_keys: list[str]
    """The batch's idempotency keys: the batch commits as it ran only if none has a record."""
    last_creation_time: float

    @property
    def blind(self) -> bool:
        """Nothing was read and no outcome is kept for a key: the database can check all
        that is left (``StorageWriter.commit_at_clock``)."""
        return self.snapshot_ts is None and not any(run.stored for run in self.runs)

    def holds(self, catalog_text: str | None, commits: list[Commit], records: set[str]) -> bool:
        """Given the catalog, the commits after the snapshot (at least) and which of
        ``new_keys`` have a record now, all read under the clock."""
        if catalog_text != self.catalog_text or any(key in records for key in self.new_keys):
            return False
        if self.snapshot_ts is None:
            return True  # nothing was read from storage: no commit can have changed it
        later = [w for c in commits if c.ts > self.snapshot_ts for w in c.writes]
        return not later or not any(writes_touch(run.read_set, later) for run in self.runs)


class Ahead:
    """A batch run ahead one mutation at a time, as they are queued: the next batch, while the
    engine commits the one before (``Engine._send_blind``). ``finish`` (or ``close``) ends it."""

    def __init__(
        self,
        storage: Storage,
        new_transaction: Any,
        catalog_text: str | None,
        last_creation_time: float,
        may_read: bool,
    ) -> None:
        self._snapshot = LazySnapshot(storage, may_read)
        self._overlay = Overlay(self._snapshot)
        self._new_transaction = new_transaction
        self._catalog_text = catalog_text
        self.last_creation_time = last_creation_time
        self.items: list[Pending] = []
        self._runs: list[Ran] = []
        self._new_keys: list[str] = []
        self.full = False
        """An item could not run ahead: nothing more joins (the queue's order is kept)."""

    def add(self, item: Pending) -> bool:
        """Run ``item`` over the batch so far; False, keeping nothing of it, if it must run
        under the clock (and then so must everything queued after it)."""
        if self.full or len(self.items) >= MAX_BATCH or not item.optimistic:
            self.full = True
            return False
        self._overlay.savepoint()
        tx = self._new_transaction(self._overlay, self.last_creation_time)
        try:
            value, stored = item.run(tx)
        except NeedsServer:
            self._overlay.rollback_to_savepoint()
            self.full = True
            return False
        except Exception as exc:
            self._overlay.rollback_to_savepoint()
            self._ran(Ran(item, error=exc, read_set=tx.read_set))
            return True
        if tx.catalog_changed:
            self._overlay.rollback_to_savepoint()
            self.full = True
            return False
        self._overlay.release_savepoint()
        self.last_creation_time = tx._last_creation_time
        self._ran(Ran(item, value, None, tx.read_set, tx.writes, stored))
        return True

    def _ran(self, run: Ran) -> None:
        if run.item.record_key is not None:
            # Looked up with the clock, not here: a record there (a retried call) sends the
            # batch under the clock, which answers from it. Almost every call is new.
            self._new_keys.append(run.item.record_key)
        self.items.append(run.item)
        self._runs.append(run)

    def finish(self) -> Prepared:
        self.close()
        return Prepared(
            self._catalog_text,
            self._snapshot.ts,
            self._overlay.ops,
            self._runs,
            self._new_keys,
            self.last_creation_time,
        )

    def close(self) -> None:
        self._snapshot.close()


def prepare(
    storage: Storage,
    items: list[Pending],
    new_transaction: Any,
    catalog_text: str | None,
    last_creation_time: float,
    may_read: bool = True,
) -> Prepared | None:
    """Run ``items`` over an overlay (``new_transaction(store, last_creation_time)`` makes each
    one's transaction); None if the batch must run under the clock instead. ``may_read``: a
    snapshot may be opened (else a batch that reads runs under the clock: see the module
    docstring)."""
    ahead = Ahead(storage, new_transaction, catalog_text, last_creation_time, may_read)
    try:
        if not all(ahead.add(item) for item in items):
            return None
        return ahead.finish()
    finally:
        ahead.close()


__all__ = ["MAX_BATCH", "Ahead", "LazySnapshot", "Prepared", "Ran", "prepare"]
