"""SQLite storage: four tables in one WAL-mode file, a writer connection and a reader connection.

Index keys are BLOBs under one ``(index_id, key)`` primary key, so a read is a key range and a
scan joins straight to the documents. ``durability`` maps to ``synchronous=FULL`` (fsync on every
commit) or ``NORMAL`` (WAL without fsync; survives a process kill, not a power loss).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from livebase.errors import ConflictError, LivebaseError
from livebase.storage import bulk, sqlite_search, sqlite_vec_loader, sqlite_vectors, sqlite_views
from livebase.storage.base import (
    BULK_TABLES,
    BulkTable,
    Durability,
    IndexRow,
    PrunedCommits,
    Row,
    Storage,
    StorageReader,
    StorageWriter,
)
from livebase.storage.search_types import SearchEntry, SearchHit, SearchRequest
from livebase.storage.sqlite_checkpoint import (
    AUTOCHECKPOINT_PAGES,
    WAL_SIZE_LIMIT,
    WalCheckpointer,
)
from livebase.storage.sqlite_deferred import DeferredWrites, FlushingConnection, RowInsert
from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)
from livebase.storage.views import ViewDefinition

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, table_number INTEGER NOT NULL, value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexes (
    index_id INTEGER NOT NULL, key BLOB NOT NULL, doc_id TEXT NOT NULL,
    PRIMARY KEY (index_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (ts INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS globals (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
    + sqlite_vectors.META_TABLE
)


class StorageLockedError(LivebaseError):
    code = "StorageLocked"


_SCAN = (
    "SELECT i.key, d.value FROM indexes i JOIN documents d ON d.id = i.doc_id "
    "WHERE i.index_id = ? AND i.key >= ? AND i.key < ? ORDER BY i.key {order} LIMIT ?"
)
_SCAN_ASC = _SCAN.format(order="ASC")
_SCAN_DESC = _SCAN.format(order="DESC")
# The row inserts a write transaction may queue (``sqlite_deferred``): one per table.
_PUT_DOCUMENT = RowInsert("INSERT OR REPLACE INTO documents (id, table_number, value) VALUES ", 3)
_PUT_INDEX_ENTRY = RowInsert("INSERT INTO indexes (index_id, key, doc_id) VALUES ", 3)
_APPEND_COMMIT = RowInsert("INSERT INTO commits (ts, entry) VALUES ", 2)
_SET_GLOBAL = RowInsert("INSERT OR REPLACE INTO globals (key, value) VALUES ", 2)


class _SqliteReader(StorageReader):
    def __init__(self, conn: sqlite3.Connection, vectors: bool | None = None) -> None:
        """``vectors``: whether sqlite-vec is loaded on ``conn``; None checks the connection
        (one opened elsewhere, e.g. read-only by a query worker, after
        ``sqlite_vec_loader.prepare()`` or not)."""
        self._conn = conn
        self._vectors = sqlite_vec_loader.works(conn) if vectors is None else vectors

    def latest_ts(self) -> int:
        row = self._conn.execute("SELECT max(ts) FROM commits").fetchone()
        return int(row[0]) if row[0] is not None else 0

    def get_document(self, doc_id: str) -> str | None:
        row = self._conn.execute("SELECT value FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else str(row[0])

    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        sql = _SCAN_DESC if reverse else _SCAN_ASC
        rows = self._conn.execute(sql, (index_id, lo, hi, limit)).fetchall()
        return [IndexRow(bytes(k), str(doc)) for k, doc in rows]

    def get_global(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM globals WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        rows = self._conn.execute(
            "SELECT ts, entry FROM commits WHERE ts > ? ORDER BY ts LIMIT ?", (ts, limit)
        ).fetchall()
        return [(int(t), str(e)) for t, e in rows]

    def search(self, index_id: int, request: SearchRequest) -> list[SearchHit]:
        return sqlite_search.search(self._conn, index_id, request)

    def vector_search(self, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
        if not self._vectors:
            sqlite_vec_loader.warn_unavailable()
            return None
        if not sqlite_vectors.in_step(self._conn, index_id):
            return None
        return sqlite_vectors.search(self._conn, index_id, request)

    def dump(self, table: BulkTable, after: Row | None, limit: int) -> list[Row]:
        sql = bulk.dump_sql(table, prefix="", param="?", after=after is not None)
        return self._conn.execute(sql, (*(after or ()), limit)).fetchall()

    def count(self, table: BulkTable) -> int:
        return int(self._conn.execute(bulk.count_sql(table, prefix="")).fetchone()[0])


class _SqliteWriter(_SqliteReader, StorageWriter):
    """From the first savepoint on, writes go to a queue that runs before the next read or
    other statement and before ``COMMIT`` (``sqlite_deferred``)."""

    def __init__(self, conn: sqlite3.Connection, storage: SqliteStorage) -> None:
        self._deferred = DeferredWrites(conn)
        flushing = cast(sqlite3.Connection, FlushingConnection(conn, self._deferred))
        super().__init__(flushing, storage.vectors)
        self._storage = storage
        self._savepoint_ts: list[int] = []
        self._stale: set[int] = set()  # vector indexes this writer already marked stale

    def latest_ts(self) -> int:
        # This process holds the database exclusively (see SqliteStorage), so the cached value
        # is exact and saves a query per commit.
        return self._storage._pending_ts

    def flush(self) -> None:
        """Run what is queued (before ``COMMIT``)."""
        self._deferred.flush()

    def put_document(self, doc_id: str, table_number: int, document: str) -> None:
        self._deferred.rows(_PUT_DOCUMENT, ((doc_id, table_number, document),))

    def delete_document(self, doc_id: str) -> None:
        self._deferred.statement("DELETE FROM documents WHERE id = ?", (doc_id,))

    def put_index_entry(self, index_id: int, key: bytes, doc_id: str) -> None:
        self._deferred.rows(_PUT_INDEX_ENTRY, ((index_id, key, doc_id),))

    def put_index_entries(self, entries: list[tuple[int, bytes, str]]) -> None:
        if entries:
            self._deferred.rows(_PUT_INDEX_ENTRY, entries)

    def delete_index_entry(self, index_id: int, key: bytes) -> None:
        self._deferred.statement(
            "DELETE FROM indexes WHERE index_id = ? AND key = ?", (index_id, key)
        )

    def drop_index(self, index_id: int) -> None:
        self._conn.execute("DELETE FROM indexes WHERE index_id = ?", (index_id,))

    def create_search_index(self, index_id: int) -> None:
        sqlite_search.create(self._conn, index_id)

    def has_search_index(self, index_id: int) -> bool:
        return sqlite_search.exists(self._conn, index_id)

    def put_search_entry(
        self, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool = True
    ) -> None:
        sqlite_search.put(self._conn, index_id, doc_id, entry, replace=replace)

    def delete_search_entry(self, index_id: int, doc_id: str) -> None:
        sqlite_search.delete(self._conn, index_id, doc_id)

    def drop_search_index(self, index_id: int) -> None:
        sqlite_search.drop(self._conn, index_id)

    def create_vector_index(self, index_id: int, spec: VectorIndexSpec) -> None:
        if self._vectors:
            sqlite_vectors.create(self._conn, index_id, spec)
        else:
            self._mark_stale(index_id)

    def has_vector_index(self, index_id: int) -> bool:
        return self._vectors and sqlite_vectors.in_step(self._conn, index_id)

    def put_vector_entry(
        self, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool = True
    ) -> None:
        if self._vectors:
            sqlite_vectors.put(self._conn, index_id, doc_id, entry, replace=replace)
        else:
            self._mark_stale(index_id)

    def delete_vector_entry(self, index_id: int, doc_id: str) -> None:
        if self._vectors:
            sqlite_vectors.delete(self._conn, index_id, doc_id)
        else:
            self._mark_stale(index_id)

    def drop_vector_index(self, index_id: int) -> None:
        if self._vectors:
            sqlite_vectors.drop(self._conn, index_id)
        else:
            self._mark_stale(index_id)  # a vec0 table cannot be dropped without sqlite-vec

    def _mark_stale(self, index_id: int) -> None:
        """Without sqlite-vec the index misses this write; rebuilt on the next open with it."""
        sqlite_vec_loader.warn_unavailable()
        if index_id not in self._stale:
            sqlite_vectors.mark_stale(self._conn, index_id)
            self._stale.add(index_id)

    def set_global(self, key: str, value: str) -> None:
        self._deferred.rows(_SET_GLOBAL, ((key, value),))

    def delete_global(self, key: str) -> None:
        self._deferred.statement("DELETE FROM globals WHERE key = ?", (key,))

    def take_globals(self, lo: str, hi: str, limit: int) -> list[tuple[str, str]]:
        rows = self._conn.execute(
            "SELECT key, value FROM globals WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
            (lo, hi, limit),
        ).fetchall()
        if rows:
            self._conn.execute(
                "DELETE FROM globals WHERE key >= ? AND key <= ?", (lo, str(rows[-1][0]))
            )
        return [(str(k), str(v)) for k, v in rows]

    def append_commit(self, ts: int, entry: str) -> None:
        self._deferred.rows(_APPEND_COMMIT, ((ts, entry),))
        self._storage._pending_ts = ts

    def prune_commits(self, before_ts: int, *, keep_newest: int, limit: int) -> PrunedCommits:
        keep = self._conn.execute(
            "SELECT ts FROM commits ORDER BY ts DESC LIMIT 1 OFFSET ?", (max(keep_newest, 1) - 1,)
        ).fetchone()
        if keep is None:
            return PrunedCommits(0, 0)
        cutoff = min(before_ts, int(keep[0]))
        row = self._conn.execute(
            "SELECT count(*), max(ts) FROM "
            "(SELECT ts FROM commits WHERE ts < ? ORDER BY ts LIMIT ?)",
            (cutoff, limit),
        ).fetchone()
        if not row[0]:
            return PrunedCommits(0, 0)
        newest = int(row[1])
        self._conn.execute("DELETE FROM commits WHERE ts <= ?", (newest,))
        return PrunedCommits(int(row[0]), newest)

    def savepoint(self) -> None:
        self._deferred.savepoint()  # nests: ROLLBACK TO / RELEASE take the newest
        self._savepoint_ts.append(self._storage._pending_ts)

    def rollback_to_savepoint(self) -> None:
        self._deferred.rollback_to_savepoint()
        self._storage._pending_ts = self._savepoint_ts.pop()
        self._stale.clear()  # the rollback may have undone a stale mark: mark again if needed

    def release_savepoint(self) -> None:
        self._deferred.release_savepoint()
        self._savepoint_ts.pop()

    def load(self, table: BulkTable, rows: list[Row]) -> None:
        self._conn.executemany(bulk.insert_sql(table, prefix="", param="?"), rows)
        if table == "commits" and rows:
            top = max(int(row[0]) for row in rows)
            self._storage._pending_ts = max(self._storage._pending_ts, top)

    def clear(self) -> None:
        for table in BULK_TABLES:
            self._conn.execute(f"DELETE FROM {table}")
        sqlite_search.drop_all(self._conn)
        if self._vectors:
            sqlite_vectors.drop_all(self._conn)
        else:
            self._conn.execute("DELETE FROM vectors_meta")
        self._storage._pending_ts = 0

    def replace_views(self, views: dict[str, ViewDefinition]) -> None:
        sqlite_views.replace_views(self._conn, views)


class SqliteStorage(Storage):
    """Embedded storage in one SQLite file (created if missing), owned by one process at a time:
    a second server on the same file is refused with a clear error instead of racing."""

    def __init__(
        self,
        path: str | Path,
        durability: Durability = Durability.FSYNC_PER_COMMIT,
        *,
        cache_mib: int = 64,
    ):
        if cache_mib < 1:
            raise ValueError(f"LIVEBASE_SQLITE_CACHE_MIB={cache_mib}: must be at least 1")
        self.path = Path(path)
        self.durability = Durability(durability)
        self.cache_mib = cache_mib
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StorageLockedError(
                f"{self.path} is in use by another Livebase process; stop it or use another "
                "--data folder"
            ) from None
        self.vectors = True  # until a connection cannot load sqlite-vec
        self._write_conn = self._connect()
        self._write_conn.executescript(_SCHEMA)
        self._read_conn = self._connect()
        self._latest_ts = _SqliteReader(self._write_conn).latest_ts()
        self._pending_ts = self._latest_ts
        self.wal_checkpointer = WalCheckpointer(str(self.path))

    def _connect(self) -> sqlite3.Connection:
        sqlite_vec_loader.prepare()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.vectors = sqlite_vec_loader.load(conn) and self.vectors
        conn.execute("PRAGMA journal_mode=WAL")
        sync = "FULL" if self.durability is Durability.FSYNC_PER_COMMIT else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        # Short: a busy database raises ConflictError, and the engine retries off the event loop.
        conn.execute("PRAGMA busy_timeout=100")
        conn.execute(f"PRAGMA cache_size=-{self.cache_mib * 1024}")  # negative: KiB, not pages
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        # Once the log starts over, its file is cut back to this (it keeps its largest size
        # otherwise, after a burst that outran the checkpoints).
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return conn

    @contextmanager
    def reader(self) -> Iterator[StorageReader]:
        conn = self._read_conn
        conn.execute("BEGIN")
        try:
            yield _SqliteReader(conn, self.vectors)
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def writer(self) -> Iterator[StorageWriter]:
        conn = self._write_conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ConflictError(f"database is held by another writer: {exc}") from None
        self._pending_ts = self._latest_ts
        try:
            writer = _SqliteWriter(conn, self)
            yield writer
            writer.flush()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            raise ConflictError(f"commit failed: {exc}") from None
        self._latest_ts = self._pending_ts
        self.wal_checkpointer.committed(conn)

    def iter_documents(self) -> Iterator[str]:
        for (value,) in self._read_conn.execute("SELECT value FROM documents ORDER BY id"):
            yield str(value)

    def close(self) -> None:
        if self._lock_fd < 0:
            return  # already closed
        self.wal_checkpointer.close()
        self._read_conn.close()
        self._write_conn.close()
        os.close(self._lock_fd)
        self._lock_fd = -1
