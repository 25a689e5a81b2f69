"""``livebase migrate``: copy a whole Livebase database to another backend, then prove the copy.

Everything an app has lives in the four logical tables of the storage interface: documents
(including scheduled jobs and crons, which are system-table documents), index entries, the
commit log (the change-stream position and the last timestamp, so new commits continue after
the old ones) and globals (the catalog, idempotency records, change-log watermarks). Copying
those four tables, in key order and in batches, therefore copies an app completely, between
any two backends.

The source is read in one snapshot and never written. The target is written in one transaction
that also holds the verification: per-table row counts and a SHA-256 over every row in key
order, computed on both sides, plus the latest commit timestamp. Any difference rolls the whole
copy back, so a failed migration leaves the target as it was.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import pathname2url

from livebase.errors import ConflictError, LivebaseError
from livebase.storage import open_storage, redact
from livebase.storage.base import BULK_TABLES, KEY_WIDTH, BulkTable, Row, Storage, StorageReader

BATCH = 5000
BATCH_BYTES = 8 << 20

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``, as the CLI's progress bars take it."""


class MigrationError(LivebaseError):
    code = "MigrationFailed"


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


@dataclass(frozen=True)
class MigrationSummary:
    tables: dict[BulkTable, TableDigest]
    latest_ts: int
    seconds: float


def _average_size(rows: list[Row]) -> int:
    sample = rows[:: max(1, len(rows) // 32)]
    total = sum(len(x) if isinstance(x, (str, bytes)) else 8 for row in sample for x in row)
    return max(1, total // len(sample))


def pages(r: StorageReader, table: BulkTable, batch: int = BATCH) -> Iterator[list[Row]]:
    """``table``'s rows in key order, at most ``batch`` at a time and about ``BATCH_BYTES``
    (commit-log entries can be megabytes each)."""
    after: Row | None = None
    limit = min(batch, 100)
    while True:
        rows = r.dump(table, after, limit)
        if rows:
            yield rows
        if len(rows) < limit:
            return
        after = rows[-1][: KEY_WIDTH[table]]
        limit = max(1, min(batch, BATCH_BYTES // _average_size(rows)))


class _Digester:
    def __init__(self) -> None:
        self.rows = 0
        self._hash = hashlib.sha256()

    def add(self, rows: list[Row]) -> None:
        # Each row's repr and a newline: unambiguous (repr escapes newlines, and tells text
        # from bytes from numbers), the same on every backend, and fast.
        self._hash.update(("\n".join(map(repr, rows)) + "\n").encode())
        self.rows += len(rows)

    def digest(self) -> TableDigest:
        return TableDigest(self.rows, self._hash.hexdigest())


def table_digest(
    r: StorageReader, table: BulkTable, progress: Progress | None = None, total: int = 0
) -> TableDigest:
    digester = _Digester()
    for rows in pages(r, table):
        digester.add(rows)
        if progress:
            progress(f"verifying {table}", digester.rows, total)
    return digester.digest()


def _rows(r: StorageReader, table: BulkTable) -> Iterator[Row]:
    for rows in pages(r, table):
        yield from rows


def _first_difference(source: StorageReader, target: StorageReader, table: BulkTable) -> str:
    """Where two tables first differ, walking both in key order (only after a mismatch)."""
    width = KEY_WIDTH[table]
    ours, theirs = _rows(source, table), _rows(target, table)
    x, y = next(ours, None), next(theirs, None)
    while x is not None or y is not None:
        if x is None or (y is not None and y[:width] < x[:width]):
            assert y is not None
            return f"key {y[:width]!r} is only in the target"
        if y is None or x[:width] < y[:width]:
            return f"key {x[:width]!r} is missing from the target"
        if x != y:
            return f"the row with key {x[:width]!r} differs"
        x, y = next(ours, None), next(theirs, None)
    return "the rows are the same (the table changed while it was read)"


def verify(
    source: StorageReader,
    target: StorageReader,
    expected: dict[BulkTable, TableDigest] | None = None,
    progress: Progress | None = None,
) -> dict[BulkTable, TableDigest]:
    """Raise ``MigrationError`` naming every table whose count or checksum differs between
    ``source`` and ``target`` (``expected``: the source's digests, if already computed), and
    if the latest commit timestamps differ."""
    problems = []
    digests: dict[BulkTable, TableDigest] = {}
    for table in BULK_TABLES:
        want = expected[table] if expected else table_digest(source, table)
        got = table_digest(target, table, progress, want.rows)
        digests[table] = got
        if got != want:
            problems.append(
                f"{table}: source has {want.rows} rows (sha256 {want.sha256[:16]}), target has "
                f"{got.rows} (sha256 {got.sha256[:16]}); "
                f"{_first_difference(source, target, table)}"
            )
    if source.latest_ts() != target.latest_ts():
        problems.append(
            f"latest commit timestamp: source {source.latest_ts()}, target {target.latest_ts()}"
        )
    if problems:
        raise MigrationError(
            "verification failed, nothing was written:\n  " + "\n  ".join(problems)
        )
    return digests


def copy_database(
    source: Storage, target: Storage, *, force: bool = False, progress: Progress | None = None
) -> MigrationSummary:
    """Copy every row of ``source`` into ``target`` and verify the copy, all in one target
    transaction. Refuses a non-empty target unless ``force``, which empties it first."""
    started = time.monotonic()
    with source.reader() as r:
        totals = {table: r.count(table) for table in BULK_TABLES}
        if not any(totals.values()):
            raise MigrationError("the source database is empty: nothing to migrate")
        try:
            with target.writer() as w:
                if not w.is_empty():
                    if not force:
                        raise MigrationError(
                            "the target database already holds data; migrate only into an "
                            "empty database, or pass --force to delete its contents first"
                        )
                    w.clear()
                expected: dict[BulkTable, TableDigest] = {}
                for table in BULK_TABLES:
                    digester = _Digester()
                    for rows in pages(r, table):
                        w.load(table, rows)
                        digester.add(rows)
                        if progress:
                            progress(f"copying {table}", digester.rows, totals[table])
                    if progress and not digester.rows:
                        progress(f"copying {table}", 0, 0)
                    expected[table] = digester.digest()
                verify(r, w, expected, progress)
        except ConflictError as exc:
            raise MigrationError(
                f"the target database is busy ({exc.message}); stop every Livebase server "
                "using it and run migrate again"
            ) from None
        latest = r.latest_ts()
    return MigrationSummary(expected, latest, time.monotonic() - started)


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL or plain path; None for anything else."""
    path = url.removeprefix("sqlite://")
    return None if "://" in path else Path(path)


def _check_source(url: str) -> None:
    """Fail before opening the source if it is not a Livebase database: opening creates
    missing tables, and the source must not be written."""
    path = _sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise MigrationError(f"{path} does not exist; --from must name a Livebase database")
        uri = f"file:{pathname2url(str(path.resolve()))}?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            try:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                raise MigrationError(f"{path} is not a SQLite database ({exc})") from None
        conn.close()
        if found is None:
            raise MigrationError(f"{path} is not a Livebase database (no documents table)")
        return
    if not _is_postgres(url):
        return  # open_storage names the URLs it understands
    try:
        import psycopg

        from livebase.storage.postgres import split_url
    except ImportError:
        raise LookupError(
            "PostgreSQL storage needs psycopg: pip install 'livebase[postgres]'"
        ) from None

    conninfo, schema = split_url(url)
    table = f"{schema}.lb_documents" if schema else "lb_documents"
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as pg:
            row = pg.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to {redact(url)}: {str(exc).strip()}") from None
    if row is None or row[0] is None:
        raise MigrationError(f"{redact(url)} holds no Livebase database (no {table} table)")


def _same_database(a: str, b: str) -> bool:
    pa, pb = _sqlite_path(a), _sqlite_path(b)
    if pa is not None and pb is not None:
        return pa.resolve() == pb.resolve()
    return a == b


def migrate(
    source_url: str, target_url: str, *, force: bool = False, progress: Progress | None = None
) -> MigrationSummary:
    """Open both databases by URL and copy ``source_url`` into ``target_url``."""
    from livebase.storage.sqlite import StorageLockedError

    if _same_database(source_url, target_url):
        raise MigrationError("--from and --to name the same database")
    _check_source(source_url)
    try:
        source = open_storage(source_url)
    except StorageLockedError:
        raise MigrationError(
            f"{_sqlite_path(source_url)} is in use by a running Livebase server; stop the "
            "server first, then run migrate again"
        ) from None
    try:
        try:
            target = open_storage(target_url)
        except StorageLockedError:
            raise MigrationError(
                f"{_sqlite_path(target_url)} is in use by a running Livebase server; stop it first"
            ) from None
        try:
            return copy_database(source, target, force=force, progress=progress)
        finally:
            target.close()
    finally:
        source.close()
