"""PostgreSQL storage: the same five tables as SQLite, shared by any number of Livebase nodes.

Commit order comes from the database: every write transaction first locks the single row of
``lb_clock`` (``SELECT ... FOR UPDATE``), so write transactions run one at a time across all
nodes, each sees everything committed before it (READ COMMITTED takes a fresh snapshot per
statement, after the lock is granted), and the timestamp it derives from the latest commit is
strictly greater than every earlier one. A transaction that commits late cannot slip an older
timestamp into the log, because no other writer could have started meanwhile. Readers use
``REPEATABLE READ READ ONLY`` transactions: one snapshot for a whole call.

``durability`` maps to ``synchronous_commit``: ``on`` for ``fsync-per-commit`` (the commit is on
the server's disk before it is acknowledged), ``off`` for ``normal``.

URL: ``postgresql://user@host:port/db``; ``?schema=NAME`` keeps the tables in their own
PostgreSQL schema (created if missing), so several apps can share one database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg_pool import ConnectionPool

from livebase.errors import ConflictError, LivebaseError
from livebase.storage import (
    bulk,
    postgres_clocked,
    postgres_listen,
    postgres_search,
    postgres_vectors,
    postgres_views,
    redact,
)
from livebase.storage.base import (
    BULK_TABLES,
    BulkTable,
    ClockedCommit,
    CommitInFlight,
    Durability,
    IndexRow,
    Landed,
    LogTail,
    PrunedCommits,
    Row,
    Storage,
    StorageReader,
    StorageWriter,
)
from livebase.storage.postgres_deferred import DeferredWrites, FlushingCursor, RowInsert
from livebase.storage.search_types import SearchEntry, SearchHit, SearchRequest
from livebase.storage.vector_types import (
    VectorCandidate,
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
)
from livebase.storage.views import ViewDefinition

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS lb_documents (
    id TEXT COLLATE "C" PRIMARY KEY, table_number INTEGER NOT NULL, value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lb_indexes (
    index_id INTEGER NOT NULL, key BYTEA NOT NULL, doc_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (index_id, key)
);
CREATE TABLE IF NOT EXISTS lb_commits (ts BIGINT PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lb_globals (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lb_clock (id INTEGER PRIMARY KEY CHECK (id = 1), ts BIGINT NOT NULL);
INSERT INTO lb_clock (id, ts)
    SELECT 1, coalesce((SELECT max(ts) FROM lb_commits), 0) ON CONFLICT (id) DO NOTHING;
"""
    + postgres_vectors.META_TABLE
    + postgres_clocked.FUNCTIONS
)

_SCAN = (
    "SELECT i.key, d.value FROM lb_indexes i JOIN lb_documents d ON d.id = i.doc_id "
    "WHERE i.index_id = %s AND i.key >= %s AND i.key < %s ORDER BY i.key {order} LIMIT %s"
)
_SCAN_ASC = _SCAN.format(order="ASC")
_SCAN_DESC = _SCAN.format(order="DESC")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CONFLICTS = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
)


_PUT_DOCUMENTS = RowInsert(
    "INSERT INTO lb_documents (id, table_number, value) VALUES ",
    3,
    " ON CONFLICT (id) DO UPDATE SET table_number = EXCLUDED.table_number, value = EXCLUDED.value",
    keyed=True,
)
_PUT_INDEX_ENTRIES = RowInsert("INSERT INTO lb_indexes (index_id, key, doc_id) VALUES ", 3)
_PUT_COMMITS = RowInsert("INSERT INTO lb_commits (ts, entry) VALUES ", 2)
_PUT_GLOBALS = RowInsert(
    "INSERT INTO lb_globals (key, value) VALUES ",
    2,
    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    keyed=True,
)
_LOCK_CLOCK = "SELECT ts FROM lb_clock WHERE id = 1 FOR UPDATE"
_TAIL = (
    "(SELECT ts, entry, NULL::text FROM lb_commits WHERE ts > %s ORDER BY ts LIMIT %s) "
    "UNION ALL (SELECT NULL, value, key FROM lb_globals WHERE key = ANY(%s::text[]))"
)


def _tail(cur: psycopg.Cursor[Any], ts: int, limit: int, keys: Sequence[str]) -> LogTail:
    return _parse_tail(cur.execute(_TAIL, (ts, limit, list(keys))).fetchall(), limit)


def _parse_tail(rows: list[tuple[Any, ...]], limit: int) -> LogTail:
    commits: list[tuple[int, str]] = []
    values: dict[str, str] = {}
    for row_ts, text, key in rows:
        if row_ts is None:
            values[str(key)] = str(text)
        else:
            commits.append((int(row_ts), str(text)))
    commits.sort()
    return LogTail(commits, len(commits) < limit, values)


def _as_reader(conn: psycopg.Connection[Any]) -> None:
    """A pooled connection's transactions each read one snapshot and write nothing."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


class PostgresUnavailableError(LivebaseError):
    code = "StorageUnavailable"


def split_url(url: str) -> tuple[str, str | None]:
    """The connection URL without our own ``schema`` parameter, and that schema."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in params if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in params if k != "schema"])
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema {schema!r}: lower-case letters, digits and '_' only")
    return urlunsplit(parts._replace(query=rest)), schema


class _PgReader(StorageReader):
    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def latest_ts(self) -> int:
        row = self._cur.execute("SELECT ts FROM lb_clock WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def get_document(self, doc_id: str) -> str | None:
        row = self._cur.execute(
            "SELECT value FROM lb_documents WHERE id = %s", (doc_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        sql = _SCAN_DESC if reverse else _SCAN_ASC
        rows = self._cur.execute(sql, (index_id, lo, hi, limit)).fetchall()
        return [IndexRow(bytes(k), str(doc)) for k, doc in rows]

    def get_global(self, key: str) -> str | None:
        row = self._cur.execute("SELECT value FROM lb_globals WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        rows = self._cur.execute(
            "SELECT ts, entry FROM lb_commits WHERE ts > %s ORDER BY ts LIMIT %s", (ts, limit)
        ).fetchall()
        return [(int(t), str(e)) for t, e in rows]

    def search(self, index_id: int, request: SearchRequest) -> list[SearchHit]:
        return postgres_search.search(self._cur, index_id, request)

    def vector_search(self, index_id: int, request: VectorRequest) -> list[VectorCandidate] | None:
        return postgres_vectors.search(self._cur, index_id, request)

    def dump(self, table: BulkTable, after: Row | None, limit: int) -> list[Row]:
        sql = bulk.dump_sql(table, prefix="lb_", param="%s", after=after is not None)
        return self._cur.execute(sql, (*(after or ()), limit)).fetchall()

    def count(self, table: BulkTable) -> int:
        row = self._cur.execute(bulk.count_sql(table, prefix="lb_")).fetchone()
        return int(row[0]) if row else 0


class _PgWriter(_PgReader, StorageWriter):
    def __init__(self, cur: psycopg.Cursor[Any], channel: str) -> None:
        # Writes that need no answer are queued and sent together, the transaction's start
        # (BEGIN and the clock) with the first read, COMMIT with the last writes
        # (``postgres_deferred``).
        self._deferred = DeferredWrites(cur)
        self._deferred.begin(_LOCK_CLOCK, self._locked)
        super().__init__(cast("psycopg.Cursor[Any]", FlushingCursor(cur, self._deferred)))
        self._latest: int | None = None
        self._started = 0
        self._channel = channel
        self._savepoint_latest: list[int | None] = []

    def _locked(self, cur: psycopg.Cursor[Any]) -> None:
        row = cur.fetchone()
        self._started = int(row[0]) if row else 0
        if self._latest is None:
            self._latest = self._started

    def latest_ts(self) -> int:
        # Read under the clock lock; only this transaction can move it.
        if self._latest is None:
            self._deferred.flush()
        assert self._latest is not None
        return self._latest

    def tail(self, ts: int, limit: int, keys: Sequence[str]) -> LogTail:
        return _tail(self._cur, ts, limit, keys)

    def put_document(self, doc_id: str, table_number: int, document: str) -> None:
        self._deferred.defer_rows(_PUT_DOCUMENTS, [(doc_id, table_number, document)])

    def delete_document(self, doc_id: str) -> None:
        self._deferred.defer("DELETE FROM lb_documents WHERE id = %s", (doc_id,))

    def put_index_entry(self, index_id: int, key: bytes, doc_id: str) -> None:
        self._deferred.defer_rows(_PUT_INDEX_ENTRIES, [(index_id, key, doc_id)])

    def put_index_entries(self, entries: list[tuple[int, bytes, str]]) -> None:
        self._deferred.defer_rows(_PUT_INDEX_ENTRIES, list(entries))

    def delete_index_entry(self, index_id: int, key: bytes) -> None:
        self._deferred.defer(
            "DELETE FROM lb_indexes WHERE index_id = %s AND key = %s", (index_id, key)
        )

    def drop_index(self, index_id: int) -> None:
        self._cur.execute("DELETE FROM lb_indexes WHERE index_id = %s", (index_id,))

    def create_search_index(self, index_id: int) -> None:
        postgres_search.create(self._cur, index_id)

    def has_search_index(self, index_id: int) -> bool:
        return postgres_search.exists(self._cur, index_id)

    def put_search_entry(
        self, index_id: int, doc_id: str, entry: SearchEntry, *, replace: bool = True
    ) -> None:
        postgres_search.put(self._cur, index_id, doc_id, entry, replace=replace)

    def delete_search_entry(self, index_id: int, doc_id: str) -> None:
        postgres_search.delete(self._cur, index_id, doc_id)

    def drop_search_index(self, index_id: int) -> None:
        postgres_search.drop(self._cur, index_id)

    def create_vector_index(self, index_id: int, spec: VectorIndexSpec) -> None:
        postgres_vectors.create(self._cur, index_id, spec)

    def has_vector_index(self, index_id: int) -> bool:
        return postgres_vectors.exists(self._cur, index_id)

    def put_vector_entry(
        self, index_id: int, doc_id: str, entry: VectorEntry, *, replace: bool = True
    ) -> None:
        postgres_vectors.put(self._cur, index_id, doc_id, entry, replace=replace)

    def delete_vector_entry(self, index_id: int, doc_id: str) -> None:
        postgres_vectors.delete(self._cur, index_id, doc_id)

    def drop_vector_index(self, index_id: int) -> None:
        postgres_vectors.drop(self._cur, index_id)

    def set_global(self, key: str, value: str) -> None:
        self._deferred.defer_rows(_PUT_GLOBALS, [(key, value)])

    def delete_global(self, key: str) -> None:
        self._deferred.defer("DELETE FROM lb_globals WHERE key = %s", (key,))

    def take_globals(self, lo: str, hi: str, limit: int) -> list[tuple[str, str]]:
        rows = self._cur.execute(
            "SELECT key, value FROM lb_globals WHERE key >= %s AND key < %s ORDER BY key LIMIT %s",
            (lo, hi, limit),
        ).fetchall()
        if rows:
            self._cur.execute(
                "DELETE FROM lb_globals WHERE key >= %s AND key <= %s", (lo, str(rows[-1][0]))
            )
        return [(str(k), str(v)) for k, v in rows]

    def append_commit(self, ts: int, entry: str) -> None:
        if ts <= self.latest_ts():
            raise ConflictError(f"commit timestamp {ts} is not after {self._latest}")
        self._deferred.defer_rows(_PUT_COMMITS, [(ts, entry)])
        self._latest = ts

    def commit_at_clock(
        self,
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> ClockedCommit:
        done = postgres_clocked.commit(self._deferred, self._end(entries, since_ts, limit, expect))
        self._latest = done.timestamps[-1] if done.timestamps else done.start_ts
        self._started = self._latest  # the clock has moved already: nothing left to send
        return done

    def send_at_clock(
        self,
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> postgres_clocked.Sending:
        """``commit_at_clock`` without waiting for the answer."""
        end = self._end(entries, since_ts, limit, expect)
        return postgres_clocked.Sending(self._deferred, end)

    def _end(
        self,
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> postgres_clocked.End:
        return postgres_clocked.End(_parse_tail, self._channel, entries, since_ts, limit, expect)

    def commit(self) -> None:
        """Move the clock to the last commit of this transaction and notify the other nodes
        (delivered when, and only if, the transaction commits), once per transaction, not per
        commit; then COMMIT, in the same message as the writes still queued."""
        if self._latest is not None and self._latest > self._started:
            self._deferred.defer("UPDATE lb_clock SET ts = %s WHERE id = 1", (self._latest,))
            self._deferred.defer(f"NOTIFY {self._channel}")
        self._deferred.commit()

    def prune_commits(self, before_ts: int, *, keep_newest: int, limit: int) -> PrunedCommits:
        keep = self._cur.execute(
            "SELECT ts FROM lb_commits ORDER BY ts DESC LIMIT 1 OFFSET %s",
            (max(keep_newest, 1) - 1,),
        ).fetchone()
        if keep is None:
            return PrunedCommits(0, 0)
        cutoff = min(before_ts, int(keep[0]))
        row = self._cur.execute(
            "SELECT count(*), max(ts) FROM "
            "(SELECT ts FROM lb_commits WHERE ts < %s ORDER BY ts LIMIT %s) AS old",
            (cutoff, limit),
        ).fetchone()
        if row is None or not row[0]:
            return PrunedCommits(0, 0)
        newest = int(row[1])
        self._cur.execute("DELETE FROM lb_commits WHERE ts <= %s", (newest,))
        return PrunedCommits(int(row[0]), newest)

    def savepoint(self) -> None:
        self._deferred.savepoint()  # nests: ROLLBACK TO / RELEASE take the newest
        self._savepoint_latest.append(self._latest)

    def rollback_to_savepoint(self) -> None:
        self._deferred.rollback_to_savepoint()
        saved = self._savepoint_latest.pop()
        # None: the clock was not read before the savepoint; what it read since is the start.
        self._latest = saved if saved is not None or self._latest is None else self._started

    def release_savepoint(self) -> None:
        self._deferred.release_savepoint()
        self._savepoint_latest.pop()

    def load(self, table: BulkTable, rows: list[Row]) -> None:
        if rows:
            self._cur.execute(bulk.json_insert_sql(table, prefix="lb_"), (bulk.json_rows(rows),))
        if table == "commits" and rows:
            top = max(int(row[0]) for row in rows)
            if top > self.latest_ts():
                self._cur.execute("UPDATE lb_clock SET ts = %s WHERE id = 1", (top,))
                self._latest = top

    def clear(self) -> None:
        # DELETE, not TRUNCATE: its exclusive locks would wait on any idle reader.
        for table in BULK_TABLES:
            self._cur.execute(f"DELETE FROM lb_{table}")
        postgres_search.drop_all(self._cur)
        postgres_vectors.drop_all(self._cur)
        self._cur.execute("UPDATE lb_clock SET ts = 0 WHERE id = 1")
        self._latest = 0

    def replace_views(self, views: dict[str, ViewDefinition]) -> None:
        postgres_views.replace_views(self._cur, views)


class PostgresStorage(Storage):
    """Storage in a PostgreSQL database (tables created if missing); safe to share between
    processes and machines."""

    def __init__(
        self,
        url: str,
        durability: Durability = Durability.FSYNC_PER_COMMIT,
        *,
        pool_size: int = 4,
        lock_timeout_ms: int = 100,
    ) -> None:
        self.url = url
        self.durability = Durability(durability)
        # Short, like SQLite's busy_timeout: a held clock raises ConflictError and the engine
        # retries with back-off instead of blocking the event loop.
        self.lock_timeout_ms = lock_timeout_ms
        conninfo, self.schema = split_url(url)
        sync = "on" if self.durability is Durability.FSYNC_PER_COMMIT else "off"
        # standard_conforming_strings: the literals ``postgres_literals`` writes rely on it.
        settings = [
            f"synchronous_commit={sync}",
            f"lock_timeout={lock_timeout_ms}",
            "standard_conforming_strings=on",
        ]
        if self.schema:
            settings.append(f"search_path={self.schema}")
        self._conninfo = conninfo
        self._pg_options = " ".join(f"-c {s}" for s in settings)
        try:
            self._write_conn = self._connect()
        except psycopg.OperationalError as exc:
            raise PostgresUnavailableError(
                f"cannot connect to PostgreSQL at {redact(conninfo)}: {str(exc).strip()}"
            ) from None
        with self._write_conn.transaction():
            # Creating the schema and tables concurrently from several nodes races on the
            # catalogs (IF NOT EXISTS is not atomic); one advisory lock serialises start-ups.
            self._write_conn.execute("SET LOCAL lock_timeout = '60s'")
            self._write_conn.execute("SELECT pg_advisory_xact_lock(7216540321)")
            if self.schema:
                self._write_conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            self._write_conn.execute(_SCHEMA)
        self.channel = f"lb_commits_{self.schema or 'public'}"
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "options": self._pg_options},
            configure=_as_reader,
            open=True,
        )
        self._closed = False
        self._sender: psycopg.Connection[Any] | None = None
        """The connection ``send_at_clock`` sends on (the writer's may be mid-transaction)."""
        self.write_round_trips = 0
        """Round trips of write transactions so far (for tests and benchmarks)."""

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._conninfo, autocommit=True, options=self._pg_options)

    @contextmanager
    def reader(self) -> Iterator[StorageReader]:
        # The pool's connections begin REPEATABLE READ READ ONLY (``_as_reader``): one BEGIN.
        with self._pool.connection() as conn:
            with conn.transaction(), conn.cursor() as cur:
                yield _PgReader(cur)

    @contextmanager
    def writer(self) -> Iterator[StorageWriter]:
        if self._write_conn.closed or self._write_conn.broken:
            try:
                self._write_conn = self._connect()
            except psycopg.OperationalError as exc:
                raise ConflictError(f"PostgreSQL is unavailable: {exc}") from None
        conn = self._write_conn
        with conn.cursor() as cur:
            writer = _PgWriter(cur, self.channel)
            try:
                yield writer
                writer.commit()
            except _CONFLICTS as exc:
                self._abandon(writer)
                raise ConflictError(f"write transaction failed, will retry: {exc}") from None
            except BaseException:
                self._abandon(writer)
                raise
            finally:
                self.write_round_trips += writer._deferred.round_trips

    def send_at_clock(
        self,
        write: Callable[[StorageWriter], None],
        entries: Sequence[tuple[int, str]],
        since_ts: int,
        limit: int,
        expect: Mapping[str, str | None],
    ) -> CommitInFlight:
        """On a connection of its own, so the loop's writers are not held up meanwhile."""
        if self._sender is None or self._sender.closed or self._sender.broken:
            try:
                self._sender = self._connect()
            except psycopg.OperationalError as exc:
                return Landed(None, ConflictError(f"PostgreSQL is unavailable: {exc}"))
        conn = self._sender
        try:
            with conn.cursor() as cur:
                writer = _PgWriter(cur, self.channel)
                write(writer)
                sending = writer.send_at_clock(entries, since_ts, limit, expect)
                self.write_round_trips += writer._deferred.round_trips
        except Exception as exc:
            self._roll_back(conn)
            return Landed(None, _conflict(exc))
        return _InFlight(self, conn, sending)

    def _roll_back(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed:
            return
        if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            conn.close()  # an answer is still on its way: the connection is of no more use
            return
        try:
            if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()

    def _abandon(self, writer: _PgWriter) -> None:
        conn = self._write_conn
        if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            # Interrupted in the middle of the protocol (a time limit raised inside the
            # driver): the connection is in no state for the next transaction.
            conn.close()
            return
        try:
            writer._deferred.abandon()
        except psycopg.Error:
            conn.close()

    def read_tail(self, ts: int, limit: int, keys: Sequence[str]) -> LogTail:
        # One statement outside a transaction block is one snapshot: no BEGIN, no COMMIT.
        with self._pool.connection() as conn, conn.cursor() as cur:
            return _tail(cur, ts, limit, keys)

    shared = True
    interrupt_safe = False

    def watch_commits(self, wake: Callable[[], None]) -> postgres_listen.Listener:
        """``LISTEN`` on a connection the running loop watches (``postgres_listen``); the
        notifications of this storage's own commits are not passed on."""
        return postgres_listen.Listener(self._connect, self.channel, self._own_pids, wake)

    def _own_pids(self) -> set[int]:
        return {
            conn.info.backend_pid
            for conn in (self._write_conn, self._sender)
            if conn is not None and not conn.closed
        }

    def iter_documents(self) -> Iterator[str]:
        with self.reader() as r:
            assert isinstance(r, _PgReader)
            for (value,) in r._cur.execute("SELECT value FROM lb_documents ORDER BY id"):
                yield str(value)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        self._write_conn.close()
        if self._sender is not None:
            self._sender.close()


class _InFlight(CommitInFlight):
    """A blind batch's commit on its way (``PostgresStorage.send_at_clock``)."""

    def __init__(
        self,
        storage: PostgresStorage,
        conn: psycopg.Connection[Any],
        sending: postgres_clocked.Sending,
    ) -> None:
        self._storage, self._conn, self._sending = storage, conn, sending
        self.fileno = sending.sent.fileno
        self._error: Exception | None = None

    @property
    def wants_write(self) -> bool:  # type: ignore[override]
        return self._sending.sent.wants_write

    def poll(self) -> bool:
        try:
            return self._sending.sent.poll()
        except psycopg.OperationalError as exc:
            self._error = exc
            return True

    def result(self) -> ClockedCommit:
        if self._error is not None:
            self._storage._roll_back(self._conn)  # closes it: the connection is broken
            raise self._error
        try:
            return self._sending.result()
        except Exception as exc:
            self._storage._roll_back(self._conn)
            raise _conflict(exc) from None


def _conflict(exc: Exception) -> Exception:
    """What ``PostgresStorage.writer`` would raise for ``exc``."""
    if isinstance(exc, _CONFLICTS):
        return ConflictError(f"write transaction failed, will retry: {exc}")
    return exc
