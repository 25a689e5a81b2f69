"""Read-only access to a deployment's database from another process: what a query worker reads.

A slow query runs in a worker process (``functions.query_worker``) so that it cannot hold the
server's event loop. The worker reads the database itself, in its own read transaction (one
consistent snapshot: SQLite's WAL read transaction, PostgreSQL's ``REPEATABLE READ``), instead
of asking the server for every row. It never writes: ``writer`` refuses.

SQLite's file is held exclusively by the serving process (``SqliteStorage`` takes an ``flock``),
so the worker cannot open a ``SqliteStorage``; it opens the file read-only (``mode=ro``), which
WAL allows beside the writer. On PostgreSQL it opens one connection with the same session
settings as the server, without creating anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from livebase.errors import LivebaseError
from livebase.storage.base import Storage, StorageReader, StorageWriter


class ReadOnlyStorageError(LivebaseError):
    code = "ReadOnlyStorage"


class _ReadOnly(Storage):
    def writer(self) -> AbstractContextManager[StorageWriter]:
        raise ReadOnlyStorageError(
            "this process reads the database only; writes go through the server"
        )


class ReadOnlySqlite(_ReadOnly):
    """One read-only connection to a SQLite file another process serves."""

    def __init__(self, path: str | Path, *, cache_mib: int = 16) -> None:
        from livebase.storage import sqlite_vec_loader

        sqlite_vec_loader.prepare()
        uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self._vectors = sqlite_vec_loader.load(self._conn)  # vector indexes' vec0 tables
        self._conn.execute("PRAGMA busy_timeout=1000")
        self._conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")

    @contextmanager
    def reader(self) -> Iterator[StorageReader]:
        from livebase.storage.sqlite import _SqliteReader

        self._conn.execute("BEGIN")
        try:
            yield _SqliteReader(self._conn, self._vectors)
        finally:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class ReadOnlyPostgres(_ReadOnly):
    """One connection to the deployment's PostgreSQL database, reading in ``REPEATABLE READ
    READ ONLY`` transactions."""

    def __init__(self, url: str) -> None:
        import psycopg

        from livebase.storage.postgres import split_url

        conninfo, schema = split_url(url)
        options = "-c default_transaction_read_only=on"
        if schema:
            options += f" -c search_path={schema}"
        self._conn: Any = psycopg.connect(conninfo, autocommit=True, options=options)

    @contextmanager
    def reader(self) -> Iterator[StorageReader]:
        from livebase.storage.postgres import _PgReader

        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with self._conn.cursor() as cur:
                yield _PgReader(cur)

    def close(self) -> None:
        self._conn.close()


def open_read_only(target: str) -> Storage:
    """The database at ``target`` (as ``open_storage`` takes it), for reading only."""
    if target.startswith(("postgresql://", "postgres://")):
        return ReadOnlyPostgres(target)
    return ReadOnlySqlite(target.removeprefix("sqlite://"))


__all__ = ["ReadOnlyPostgres", "ReadOnlySqlite", "ReadOnlyStorageError", "open_read_only"]
