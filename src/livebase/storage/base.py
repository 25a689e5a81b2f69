"""The narrow storage interface every backend implements: documents, index entries, commit log,
globals.

Everything above this seam (transactions, read sets, schema, timestamps) is backend-neutral; a
backend only stores bytes and text under ordered keys and provides snapshot reads and atomic
write transactions. SQLite implements it now; PostgreSQL later, against the same conformance suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

from livebase.errors import InvalidQueryError
from livebase.storage.search_types import SearchEntry, SearchHit, SearchRequest
from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)
from livebase.storage.views import ViewDefinition


class Durability(StrEnum):
    """``fsync-per-commit``: a commit is on disk before it is acknowledged. ``normal``: a commit
    survives the process being killed (it is in the OS), but not a power loss."""

    FSYNC_PER_COMMIT = "fsync-per-commit"
    NORMAL = "normal"


@dataclass(frozen=True)
class IndexRow:
    key: bytes
    document: str  # the document's stored JSON text


@dataclass(frozen=True)
class PrunedCommits:
    count: int
    newest_ts: int  # the newest deleted entry's timestamp; 0 if none was deleted


BulkTable: TypeAlias = Literal["documents", "indexes", "commits", "globals"]
Row: TypeAlias = tuple[int | str | bytes, ...]
BULK_TABLES: tuple[BulkTable, ...] = ("globals", "documents", "indexes", "commits")
"""The logical tables, as rows: documents ``(id, table_number, value)``, indexes ``(index_id,
key, doc_id)``, commits ``(ts, entry)``, globals ``(key, value)``."""
KEY_WIDTH: dict[BulkTable, int] = {"documents": 1, "indexes": 2, "commits": 1, "globals": 1}
"""How many leading columns of a row are its (unique, ordered) key."""


@dataclass(frozen=True)
class LogTail:
    """The commit log after a timestamp and some globals, read at one snapshot: what a node
    sharing the database needs to catch up with the others (``StorageReader.tail``)."""

    commits: list[tuple[int, str]]
    """At most ``limit`` entries after the timestamp, oldest first."""
    complete: bool
    """False when ``limit`` cut the list short (more commits follow)."""
    values: dict[str, str]
    """The globals asked for that exist (the engine's catalog, idempotency records)."""


class ExpectationFailed(Exception):
    """A global was not what ``StorageWriter.commit_at_clock`` expected: the transaction
    fails and nothing of it is kept."""


@dataclass(frozen=True)
class ClockedCommit:
    """What ``StorageWriter.commit_at_clock`` did."""

    start_ts: int
    """The newest commit before this transaction's."""
    tail: LogTail
    """The commits after the asked timestamp, before this transaction's, and the globals."""
    timestamps: list[int]
    """Each entry's commit timestamp, in order."""


class CommitInFlight(ABC):
    """A commit sent without waiting for its answer (``Storage.send_at_clock``): ``poll``
    moves it on without blocking, whenever ``fileno`` is readable (or writable, while
    ``wants_write``); once it returns True, ``result`` tells how it went."""

    fileno: int = -1
    wants_write: bool = False

    @abstractmethod
    def poll(self) -> bool: ...

    @abstractmethod
    def result(self) -> ClockedCommit:
        """What ``StorageWriter.commit_at_clock`` returns, or raises what it raises (and
        ``ConflictError`` where ``Storage.writer`` would)."""


class Landed(CommitInFlight):
    """A commit that was done (or failed) before it was handed over."""

    def __init__(self, done: ClockedCommit | None, error: Exception | None = None) -> None:
        self._done, self._error = done, error

    def poll(self) -> bool:
        return True

    def result(self) -> ClockedCommit:
        if self._error is not None:
            raise self._error
        assert self._done is not None
        return self._done


def clock_timestamps(start_ts: int, not_before: Sequence[int]) -> list[int]:
    """Strictly increasing timestamps after ``start_ts``, each at least its ``not_before``."""
    out: list[int] = []
    last = start_ts
    for ns in not_before:
        last = max(ns, last + 1)
        out.append(last)
    return out


class CommitWatch(ABC):
    """Hearing other processes' commits (``Storage.watch_commits``)."""

    @abstractmethod
    def listen(self, on: bool) -> None:
        """Stop hearing commits (``on=False``: a node whose own batches bring the others'
        commits), or hear them again; once hearing holds again, ``wake`` runs, for what was
        committed in between."""

    @abstractmethod
    def close(self) -> None:
        """Stop watching for good."""


class StorageReader(ABC):
    """Reads at one snapshot: all calls on one reader see the same committed state."""

    @abstractmethod
    def latest_ts(self) -> int:
        """The highest commit timestamp in the commit log, or 0 for an empty database."""

    @abstractmethod
    def get_document(self, doc_id: str) -> str | None: ...

    @abstractmethod
    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        """Rows with ``lo <= key < hi`` on one index, in key order (or reversed), at most
        ``limit`` of them."""

    @abstractmethod
    def get_global(self, key: str) -> str | None: ...

    @abstractmethod
    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        """Commit-log entries with timestamp > ``ts``, oldest first."""

    def tail(self, ts: int, limit: int, keys: Sequence[str]) -> LogTail:
        """``commits_after(ts, limit)`` and ``get_global`` of each of ``keys`` together (a
        backend with a network between it and the data answers all in one round trip)."""
        commits = self.commits_after(ts, limit)
        values = {key: value for key in keys if (value := self.get_global(key)) is not None}
        return LogTail(commits, len(commits) < limit, values)

    def search(self, index_id: int, request: SearchRequest) -> list[SearchHit]:
        """Full-text search on one search index: documents holding any of the request's
        terms (or a term its prefix expands to) and every filter token, best first (BM25, see
        ``search_types``), at most ``request.limit``."""
        raise InvalidQueryError(
            "full-text search is not available here (a read at an earlier timestamp cannot "
            "search; query the latest state)"
        )

    def vector_search(self, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
        """Candidates from one vector index, nearest first, at most ``request.limit``, each
        passing ``request.any_of``; None when this reader has no such index to search (a read
        at an earlier timestamp, SQLite without sqlite-vec): the engine then scans."""
        return None

    # -- bulk access (``livebase migrate``); text compares bytewise, so every backend agrees
    # on key order

    def dump(self, table: BulkTable, after: Row | None, limit: int) -> list[Row]:
        """At most ``limit`` rows of ``table`` in key order, after the row whose key (its first
        ``KEY_WIDTH[table]`` columns) is ``after``, or from the start."""
        raise NotImplementedError

    def count(self, table: BulkTable) -> int:
        raise NotImplementedError

    def is_empty(self) -> bool:
        """True if no table holds a row (what ``livebase migrate`` may write into)."""
        return not any(self.dump(table, None, 1) for table in BULK_TABLES)


class StorageWriter(StorageReader):
    """An exclusive write transaction; reads see its own uncommitted writes."""

    @abstractmethod
    def put_document(self, doc_id: str, table_number: int, document: str) -> None: ...

    @abstractmethod
    def delete_document(self, doc_id: str) -> None: ...

    @abstractmethod
    def put_index_entry(self, index_id: int, key: bytes, doc_id: str) -> None: ...

    def put_index_entries(self, entries: list[tuple[int, bytes, str]]) -> None:
        """Several ``(index_id, key, doc_id)`` entries at once (backends may do one statement)."""
        for index_id, key, doc_id in entries:
            self.put_index_entry(index_id, key, doc_id)

    @abstractmethod
    def delete_index_entry(self, index_id: int, key: bytes) -> None: ...

    @abstractmethod
    def drop_index(self, index_id: int) -> None: ...

    @abstractmethod
    def create_search_index(self, index_id: int) -> None:
        """Make an empty full-text search index (nothing happens if it exists)."""

    @abstractmethod
    def has_search_index(self, index_id: int) -> bool: ...

    @abstractmethod
    def put_search_entry(
        self, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool = True
    ) -> None:
        """Index (or re-index) one document; ``replace=False`` says it is not in the index."""

    @abstractmethod
    def delete_search_entry(self, index_id: int, doc_id: str) -> None:
        """Take one document out of the index (nothing happens if it is not in it)."""

    @abstractmethod
    def drop_search_index(self, index_id: int) -> None: ...

    @abstractmethod
    def create_vector_index(self, index_id: int, spec: VectorIndexSpec) -> None:
        """Make an empty vector index (one that exists is dropped first)."""

    @abstractmethod
    def has_vector_index(self, index_id: int) -> bool:
        """Whether the index exists and is in step with every write so far."""

    @abstractmethod
    def put_vector_entry(
        self, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool = True
    ) -> None:
        """Index (or re-index) one document; ``replace=False`` says it is not in the index."""

    @abstractmethod
    def delete_vector_entry(self, index_id: int, doc_id: str) -> None:
        """Take one document out of the index (nothing happens if it is not in it)."""

    @abstractmethod
    def drop_vector_index(self, index_id: int) -> None: ...

    @abstractmethod
    def set_global(self, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_global(self, key: str) -> None:
        """Remove one global (nothing happens if it does not exist)."""

    @abstractmethod
    def take_globals(self, lo: str, hi: str, limit: int) -> list[tuple[str, str]]:
        """Delete the first ``limit`` globals (in key order, bytewise) with ``lo <= key < hi``;
        returns them as ``(key, value)``, in key order."""

    @abstractmethod
    def append_commit(self, ts: int, entry: str) -> None: ...

    def commit_at_clock(
        self,
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> ClockedCommit:
        """Finish the transaction: check that each global of ``expect`` holds its value (None:
        absent; ``ExpectationFailed`` if not), read ``tail(since_ts, limit, expect)``, and log
        each ``(not_before_ns, entry)`` with the next timestamps (``clock_timestamps``). Nothing
        may be written after it. A backend with a network between it and the data does it all,
        with the writes queued before it and COMMIT, in one round trip."""
        tail = self.tail(since_ts, limit, list(expect))
        for key, value in expect.items():
            if tail.values.get(key) != value:
                raise ExpectationFailed(f"the global {key!r} changed")
        start = self.latest_ts()
        timestamps = clock_timestamps(start, [ns for ns, _ in entries])
        for ts, (_, entry) in zip(timestamps, entries, strict=True):
            self.append_commit(ts, entry)
        return ClockedCommit(start, tail, timestamps)

    @abstractmethod
    def prune_commits(self, before_ts: int, *, keep_newest: int, limit: int) -> PrunedCommits:
        """Delete the oldest commit-log entries with timestamp < ``before_ts``, at most ``limit``
        of them, and never one of the newest ``keep_newest`` (at least 1 is always kept: the
        newest entry carries the last timestamp, from which the next one is derived)."""

    @abstractmethod
    def savepoint(self) -> None:
        """Mark a point that ``rollback_to_savepoint`` can return to. Savepoints nest (a
        mutation's savepoint in a batch, a sub-mutation's inside it): rolling back or releasing
        applies to the newest one still open."""

    @abstractmethod
    def rollback_to_savepoint(self) -> None: ...

    @abstractmethod
    def release_savepoint(self) -> None: ...

    def load(self, table: BulkTable, rows: list[Row]) -> None:
        """Insert rows as ``dump`` returns them (keys must be new); loading commits moves the
        latest timestamp to the highest one loaded."""
        raise NotImplementedError

    def clear(self) -> None:
        """Delete every row of every table (``livebase migrate --force``)."""
        raise NotImplementedError

    def replace_views(self, views: dict[str, ViewDefinition]) -> None:
        """Make the read-only SQL views over app data exactly ``views`` (name -> definition),
        leaving objects the backend did not create alone; a view that cannot be made is logged,
        never raised. Backends without SQL access keep none."""


class Storage(ABC):
    """A database: hands out snapshot readers and one write transaction at a time."""

    durability: Durability

    @abstractmethod
    def reader(self) -> AbstractContextManager[StorageReader]: ...

    @abstractmethod
    def writer(self) -> AbstractContextManager[StorageWriter]:
        """Commits on a clean exit, rolls back on an exception; raises ``ConflictError`` if the
        database is held by another writer for too long."""

    @abstractmethod
    def close(self) -> None: ...

    shared: bool = False
    """True when other processes may commit to the same database (PostgreSQL): the engine then
    follows the commit log for their commits."""

    interrupt_safe: bool = True
    """Whether an exception raised asynchronously in the middle of a storage call (the
    watchdog's, at a call's inline budget) leaves the connection usable. True for SQLite, whose
    driver is C (nothing is half-sent between two statements); False for PostgreSQL, whose
    driver speaks the protocol partly in Python: the budget is then checked only at the
    transaction's own safe points."""

    def send_at_clock(
        self,
        write: Callable[[StorageWriter], None],
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> CommitInFlight:
        """A write transaction of ``write``'s writes ended by ``commit_at_clock``, sent
        without waiting for the answer where the backend can (``postgres_nowait``); here,
        done before it returns."""
        try:
            with self.writer() as w:
                write(w)
                done = w.commit_at_clock(entries, since_ts, limit, expect)
        except Exception as exc:
            return Landed(None, exc)
        return Landed(done)

    def read_tail(self, ts: int, limit: int, keys: Sequence[str]) -> LogTail:
        """``reader().tail(...)``, as cheaply as the backend can (one statement, no
        transaction, on PostgreSQL): what a node following other nodes' commits asks for."""
        with self.reader() as r:
            return r.tail(ts, limit, keys)

    def watch_commits(self, wake: Callable[[], None]) -> CommitWatch | None:
        """Call ``wake`` (on the running event loop's thread, which calls this) soon after
        another process commits; None if this backend cannot notify (then poll)."""
        return None

    def iter_documents(self) -> Iterator[str]:
        """Every stored document (for exports and checks); backends may override for speed."""
        raise NotImplementedError
