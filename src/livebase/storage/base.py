"""The narrow storage interface every backend implements: documents, index entries, commit log,
globals.

Everything above this seam (transactions, read sets, schema, timestamps) is backend-neutral; a
backend only stores bytes and text under ordered keys and provides snapshot reads and atomic
write transactions. SQLite implements it now; PostgreSQL later, against the same conformance suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum


class Durability(StrEnum):
    """``fsync-per-commit``: a commit is on disk before it is acknowledged. ``normal``: a commit
    survives the process being killed (it is in the OS), but not a power loss."""

    FSYNC_PER_COMMIT = "fsync-per-commit"
    NORMAL = "normal"


@dataclass(frozen=True)
class IndexRow:
    key: bytes
    document: str  # the document's stored JSON text


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
    def set_global(self, key: str, value: str) -> None: ...

    @abstractmethod
    def append_commit(self, ts: int, entry: str) -> None: ...

    @abstractmethod
    def savepoint(self) -> None:
        """Mark a point that ``rollback_to_savepoint`` can return to (one level is enough)."""

    @abstractmethod
    def rollback_to_savepoint(self) -> None: ...

    @abstractmethod
    def release_savepoint(self) -> None: ...


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

    def iter_documents(self) -> Iterator[str]:
        """Every stored document (for exports and checks); backends may override for speed."""
        raise NotImplementedError
