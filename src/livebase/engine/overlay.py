"""A write transaction kept in memory over a read snapshot, to be committed later elsewhere.

A slow mutation runs in a worker process (``functions.offload``), which cannot write the
database: SQLite has one writer, the server. So the worker runs the mutation against an
``Overlay``: a ``StorageWriter`` whose writes are recorded (``ops``) and seen by the mutation's
own later reads (read your writes: an index scan merges them in key order), over a read snapshot
of the database. The server then commits it (``commit_overlay``): inside its own write
transaction it checks that no commit since the snapshot wrote anything the mutation read
(optimistic concurrency control, with the same read set a subscription uses), and replays the
recorded writes. The mutation is serializable: it is as if it ran at the moment it commits.

Anything an overlay cannot replay faithfully (creating a table, a schema change, a global, a
search or vector read after a write to the same index) raises ``NeedsServer``: the mutation is
then run in the server as any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from livebase.engine.reads import ReadSet
from livebase.engine.transaction import Write
from livebase.storage.base import IndexRow, PrunedCommits, StorageReader, StorageWriter
from livebase.storage.search_types import SearchEntry, SearchHit, SearchRequest
from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)
from livebase.values.wire import loads

Op = tuple[str, tuple[Any, ...]]
"""One recorded write: a ``StorageWriter`` method name and its arguments."""

_REPLAYABLE = frozenset(
    {
        "put_document",
        "delete_document",
        "put_index_entries",
        "delete_index_entry",
        "put_search_entry",
        "delete_search_entry",
        "put_vector_entry",
        "delete_vector_entry",
    }
)
MAX_COMMITS_CHECKED = 10_000
"""A snapshot more commits old than this is not checked: the mutation runs again."""


class NeedsServer(BaseException):
    """The mutation did something an overlay cannot replay: run it in the server. A
    ``BaseException``, so that app code catching ``Exception`` cannot swallow it."""


class Overlay(StorageWriter):
    """Writes recorded in memory over ``base`` (a read snapshot); see the module docstring."""

    def __init__(self, base: StorageReader) -> None:
        self._base = base
        self.ops: list[Op] = []
        self._docs: dict[str, str | None] = {}
        """Documents written (None: deleted)."""
        self._index: dict[int, dict[bytes, str | None]] = {}
        """Index entries written, by index: key -> document id (None: deleted)."""
        self._derived: set[tuple[str, int]] = set()
        """Search and vector indexes written: ("search" | "vector", index id)."""
        self._savepoints: list[tuple[int, Any]] = []

    # -- reads -----------------------------------------------------------------------------------

    def latest_ts(self) -> int:
        return self._base.latest_ts()

    def get_document(self, doc_id: str) -> str | None:
        if doc_id in self._docs:
            return self._docs[doc_id]
        return self._base.get_document(doc_id)

    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        written = self._index.get(index_id, {})
        if not written and not self._docs:
            return self._base.scan_index(index_id, lo, hi, reverse=reverse, limit=limit)
        mine = [key for key in written if lo <= key < hi]
        # Each key written here hides at most one stored row: fetching that many more keeps the
        # first ``limit`` of the merge exact.
        stored = self._base.scan_index(index_id, lo, hi, reverse=reverse, limit=limit + len(mine))
        rows: dict[bytes, str] = {}
        for row in stored:
            if row.key in written:
                continue
            text: str | None = row.document
            if self._docs:
                doc_id = json.loads(row.document)["_id"]
                if doc_id in self._docs:
                    text = self._docs[doc_id]
            if text is not None:
                rows[row.key] = text
        for key in mine:
            doc_id = written[key]
            text = None if doc_id is None else self.get_document(doc_id)
            if text is not None:
                rows[key] = text
        keys = sorted(rows, reverse=reverse)[:limit]
        return [IndexRow(key, rows[key]) for key in keys]

    def get_global(self, key: str) -> str | None:
        return self._base.get_global(key)

    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        return self._base.commits_after(ts, limit)

    def search(self, index_id: int, request: SearchRequest) -> list[SearchHit]:
        if ("search", index_id) in self._derived:
            raise NeedsServer("a search after a write to the same search index")
        return self._base.search(index_id, request)

    def vector_search(self, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
        if ("vector", index_id) in self._derived:
            raise NeedsServer("a vector search after a write to the same vector index")
        return self._base.vector_search(index_id, request)

    # -- the writes a mutation makes -------------------------------------------------------------

    def put_document(self, doc_id: str, table_number: int, document: str) -> None:
        self.ops.append(("put_document", (doc_id, table_number, document)))
        self._docs[doc_id] = document

    def delete_document(self, doc_id: str) -> None:
        self.ops.append(("delete_document", (doc_id,)))
        self._docs[doc_id] = None

    def put_index_entry(self, index_id: int, key: bytes, doc_id: str) -> None:
        self.put_index_entries([(index_id, key, doc_id)])

    def put_index_entries(self, entries: list[tuple[int, bytes, str]]) -> None:
        if not entries:
            return
        self.ops.append(("put_index_entries", (list(entries),)))
        for index_id, key, doc_id in entries:
            self._index.setdefault(index_id, {})[key] = doc_id

    def delete_index_entry(self, index_id: int, key: bytes) -> None:
        self.ops.append(("delete_index_entry", (index_id, key)))
        self._index.setdefault(index_id, {})[key] = None

    def put_search_entry(
        self, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool = True
    ) -> None:
        self.ops.append(("put_search_entry", (index_id, doc_id, entry, replace)))
        self._derived.add(("search", index_id))

    def delete_search_entry(self, index_id: int, doc_id: str) -> None:
        self.ops.append(("delete_search_entry", (index_id, doc_id)))
        self._derived.add(("search", index_id))

    def put_vector_entry(
        self, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool = True
    ) -> None:
        self.ops.append(("put_vector_entry", (index_id, doc_id, entry, replace)))
        self._derived.add(("vector", index_id))

    def delete_vector_entry(self, index_id: int, doc_id: str) -> None:
        self.ops.append(("delete_vector_entry", (index_id, doc_id)))
        self._derived.add(("vector", index_id))

    # ``tx.sub_transaction`` (a nested mutation, a trigger that may fail): undo in memory.

    def savepoint(self) -> None:
        state = (
            dict(self._docs),
            {index_id: dict(keys) for index_id, keys in self._index.items()},
            set(self._derived),
        )
        self._savepoints.append((len(self.ops), state))

    def rollback_to_savepoint(self) -> None:
        count, (docs, index, derived) = self._savepoints.pop()
        del self.ops[count:]
        self._docs, self._index, self._derived = docs, index, derived

    def release_savepoint(self) -> None:
        self._savepoints.pop()

    # -- what only the server does ---------------------------------------------------------------

    def drop_index(self, index_id: int) -> None:
        raise NeedsServer("dropping an index")

    def create_search_index(self, index_id: int) -> None:
        raise NeedsServer("creating a search index")

    def has_search_index(self, index_id: int) -> bool:
        raise NeedsServer("a search index check")

    def drop_search_index(self, index_id: int) -> None:
        raise NeedsServer("dropping a search index")

    def create_vector_index(self, index_id: int, spec: VectorIndexSpec) -> None:
        raise NeedsServer("creating a vector index")

    def has_vector_index(self, index_id: int) -> bool:
        raise NeedsServer("a vector index check")

    def drop_vector_index(self, index_id: int) -> None:
        raise NeedsServer("dropping a vector index")

    def set_global(self, key: str, value: str) -> None:
        raise NeedsServer("writing a global")

    def delete_global(self, key: str) -> None:
        raise NeedsServer("deleting a global")

    def take_globals(self, lo: str, hi: str, limit: int) -> list[tuple[str, str]]:
        raise NeedsServer("taking globals")

    def append_commit(self, ts: int, entry: str) -> None:
        raise NeedsServer("appending a commit")

    def prune_commits(self, before_ts: int, *, keep_newest: int, limit: int) -> PrunedCommits:
        raise NeedsServer("pruning commits")


def stale_reads(reader: StorageReader, read_set: ReadSet, since_ts: int) -> bool:
    """Whether a commit after ``since_ts`` wrote a key in ``read_set`` (or created a table it
    found missing, or wrote a table it searched). Conservative where it cannot tell."""
    commits = reader.commits_after(since_ts, MAX_COMMITS_CHECKED + 1)
    if len(commits) > MAX_COMMITS_CHECKED:
        return True
    writes = (
        Write.from_json(raw) for _, entry in commits for raw in loads(entry).get("writes", [])
    )
    return writes_touch(read_set, writes)


def writes_touch(read_set: ReadSet, writes: Iterable[Write]) -> bool:
    """Whether any of ``writes`` changes what ``read_set`` observed (see ``stale_reads``)."""
    for write in writes:
        if write.table in read_set.tables_absent:
            return True
        if read_set.searches:
            return True  # a search's terms are not checked here: any write may match
        for index_id, key in (*write.old_keys.items(), *write.new_keys.items()):
            if read_set.overlaps(index_id, key):
                return True
    return False


def replay(writer: StorageWriter, ops: list[Op]) -> None:
    """Apply the writes an ``Overlay`` recorded, in order."""
    for name, args in ops:
        if name not in _REPLAYABLE:
            raise ValueError(f"cannot replay {name!r}")
        if name in ("put_search_entry", "put_vector_entry"):
            index_id, doc_id, entry, replace = args
            getattr(writer, name)(index_id, doc_id, entry, replace=replace)
        else:
            getattr(writer, name)(*args)


__all__ = [
    "MAX_COMMITS_CHECKED",
    "NeedsServer",
    "Op",
    "Overlay",
    "replay",
    "stale_reads",
    "writes_touch",
]
