"""Writing a snapshot into a deployment: one transaction, ids and ``_creationTime`` kept.

Every document is decoded, checked against the app's schema and inserted with its own ``_id`` and
``_creationTime``, all in one transaction: if any line is wrong nothing is written, and the error
names the file, the line and the field. Triggers do not run (as in Convex, an import restores
data; it does not replay events).

Ids: an id embeds its table's number. A table keeps the number the ZIP's ``_tables`` gives it
when it is new here and that number is free; otherwise it has its own number in this deployment,
and the ids of its documents (and every reference to them anywhere in the snapshot) are carried
over with the number swapped and the random part kept, so references still resolve. Livebase
export -> import into the same app keeps every id string unchanged.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from livebase.engine.catalog import BY_ID, TableInfo
from livebase.engine.database import Engine
from livebase.engine.transaction import Transaction, decode_document
from livebase.errors import InvalidIdError, LivebaseError, ValidationError
from livebase.files.blobs import BlobStore
from livebase.snapshot.files import StagedFiles, stage_files
from livebase.snapshot.layout import STORAGE, Snapshot, SnapshotError, SnapshotTable, describe
from livebase.snapshot.values import from_export
from livebase.values.ids import id_table_number, make_id, with_table_number
from livebase.values.types import Value

Mode = Literal["fail", "append", "replace"]
MODES: tuple[Mode, ...] = ("fail", "append", "replace")
_ALL = (b"", b"\xff\xff")  # every key of an index


@dataclass
class RestoreReport:
    tables: dict[str, int] = field(default_factory=dict)  # documents imported per table
    renumbered: dict[str, list[int]] = field(default_factory=dict)  # table: [from, to]
    skipped: list[str] = field(default_factory=list)
    replaced: int = 0  # documents deleted first (mode "replace")
    files: int = 0  # _storage rows imported
    file_bytes: int = 0  # bytes copied from the ZIP into the blob store
    ts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": self.tables,
            "imported": sum(self.tables.values()),
            "renumbered": self.renumbered,
            "skipped": self.skipped,
            "replaced": self.replaced,
            "files": self.files,
            "fileBytes": self.file_bytes,
            "ts": str(self.ts),
        }


async def restore(
    engine: Engine, snapshot: Snapshot, mode: Mode = "fail", blobs: BlobStore | None = None
) -> RestoreReport:
    """Import ``snapshot`` in one transaction; ``SnapshotError`` (nothing written) on any fault.

    ``mode``: ``fail`` refuses if an imported table already has documents, ``append`` adds to
    them, ``replace`` deletes them first (in the same transaction). Stored files (``_storage``)
    need ``blobs``, the deployment's blob store: their bytes go there first
    (``livebase.snapshot.files``)."""
    files = StagedFiles()
    skipped = list(snapshot.skipped)
    if snapshot.storage is not None and blobs is None:
        skipped.append("_storage: this deployment has no file store")
    elif snapshot.storage is not None and blobs is not None:
        files = await asyncio.to_thread(stage_files, snapshot, blobs)
    if files.missing:
        skipped.append(
            f"_storage: {files.missing} files whose bytes are not in the ZIP (export with "
            "--include-file-storage to carry them)"
        )

    def write(tx: Transaction) -> RestoreReport:
        _unlimited(tx)
        tx.on_change = None  # no triggers
        report = RestoreReport(skipped=list(skipped))
        infos, renumber = _plan(tx, snapshot.tables, report)
        targets = [(t.name, infos[t.name]) for t in snapshot.tables]
        storage = tx.table_for_write(STORAGE) if files.rows else None
        if storage is not None:
            targets.insert(0, (STORAGE, storage))
            if files.number is not None and files.number != storage.number:
                renumber[files.number] = storage.number
        for name, info in targets:
            if mode == "replace":
                report.replaced += _clear(tx, info)
            elif mode == "fail" and _has_documents(tx, info):
                raise SnapshotError(
                    f"table {name!r} already has documents; import with --append to add "
                    "to them or --replace to replace them"
                )
        if storage is not None and snapshot.storage is not None:
            member = snapshot.storage.member
            report.files = _import_rows(tx, member, files.rows, storage, renumber)
            report.file_bytes = files.copied_bytes
        for table in snapshot.tables:
            report.tables[table.name] = _import_table(
                tx, snapshot, table, infos[table.name], renumber
            )
        return report

    outcome = await engine.mutate(write)
    outcome.value.ts = outcome.ts
    return outcome.value


def _import_table(
    tx: Transaction,
    snapshot: Snapshot,
    table: SnapshotTable,
    info: TableInfo,
    renumber: dict[int, int],
) -> int:
    if not table.member:
        return 0
    return _import_rows(tx, table.member, snapshot.lines(table), info, renumber)


def _import_rows(
    tx: Transaction,
    member: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    info: TableInfo,
    renumber: dict[int, int],
) -> int:
    count = 0
    for line, item in rows:
        try:
            doc = from_export(item)
            assert isinstance(doc, dict)
            if renumber:
                doc = _renumbered(doc, renumber)
                assert isinstance(doc, dict)
            insert_document(tx, info, doc)
        except LivebaseError as exc:
            raise SnapshotError(describe(exc, member, line)) from None
        count += 1
    return count


def insert_document(tx: Transaction, table: str | TableInfo, doc: dict[str, Value]) -> str:
    """Insert ``doc``, keeping its ``_id`` and ``_creationTime`` if it has them (both are
    checked: the id must be well formed, belong to this table and be unused)."""
    if "_id" not in doc and "_creationTime" not in doc:
        name = table if isinstance(table, str) else table.name
        return tx.insert(name, doc)
    info = table if isinstance(table, TableInfo) else tx.table_for_write(table)
    doc_id = doc.get("_id")
    if doc_id is None:  # only _creationTime given: a new id, led by it when it is a time
        given = doc.get("_creationTime")
        led_by = given if isinstance(given, int | float) and not isinstance(given, bool) else None
        doc_id = make_id(info.number, tx.runtime.random_bytes, led_by)
    try:
        number = id_table_number(doc_id)
    except InvalidIdError as exc:
        raise ValidationError(exc.message, path="_id") from None
    assert isinstance(doc_id, str)
    if number != info.number:
        raise ValidationError(
            f"{doc_id!r} is an id of table number {number}, not of {info.name!r} (number "
            f"{info.number}); import a snapshot ZIP with _tables/documents.jsonl so ids can be "
            "mapped between deployments",
            path="_id",
        )
    created = doc.get("_creationTime")
    if created is not None:
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise ValidationError(
                "_creationTime must be a number (ms since the epoch)", path="_creationTime"
            )
        if not math.isfinite(created) or created < 0:
            raise ValidationError("_creationTime must be a finite number", path="_creationTime")
    user: dict[str, Value] = {}
    for name, value in doc.items():
        if name in ("_id", "_creationTime"):
            continue
        if name.startswith("_"):
            raise ValidationError(
                f"fields starting with '_' are reserved for the system ({name})", path=name
            )
        user[name] = value
    tx.insert_as(info, doc_id, user, created)
    return doc_id


def _plan(
    tx: Transaction, tables: list[SnapshotTable], report: RestoreReport
) -> tuple[dict[str, TableInfo], dict[int, int]]:
    """This deployment's table for each snapshot table (created if new), and the table numbers
    whose ids must be carried over: ``{number in the ZIP: number here}``."""
    infos: dict[str, TableInfo] = {}
    renumber: dict[int, int] = {}
    for table in tables:
        if table.name.startswith("_"):
            raise SnapshotError(f"cannot import into system table {table.name!r}")
        info = tx.catalog.tables.get(table.name)
        if info is None:
            try:
                info = _create(tx, table.name, table.number)
            except LivebaseError as exc:
                raise SnapshotError(f"table {table.name!r}: {exc.message}") from None
        infos[table.name] = info
        if table.number is not None and table.number != info.number:
            renumber[table.number] = info.number
            report.renumbered[table.name] = [table.number, info.number]
    return infos, renumber


def _create(tx: Transaction, name: str, number: int | None) -> TableInfo:
    """A new table, numbered as in the snapshot when that number was never used here."""
    before = tx.catalog
    info = tx.table_for_write(name)
    if number is not None and number >= before.next_table_number and number < 1 << 31:
        info = replace(info, number=number)
        tx.catalog = replace(
            tx.catalog,
            tables={**tx.catalog.tables, name: info},
            next_table_number=number + 1,
        )
    return info


def _renumbered(value: Value, renumber: dict[int, int]) -> Value:
    if isinstance(value, str):
        if 20 <= len(value) <= 40:
            try:
                number = id_table_number(value)
            except InvalidIdError:
                return value
            if number in renumber:
                return with_table_number(value, renumber[number])
        return value
    if isinstance(value, list):
        return [_renumbered(x, renumber) for x in value]
    if isinstance(value, dict):
        return {k: _renumbered(x, renumber) for k, x in value.items()}
    return value


def _has_documents(tx: Transaction, info: TableInfo) -> bool:
    return bool(tx.store.scan_index(info.indexes[BY_ID].index_id, *_ALL, reverse=False, limit=1))


def _clear(tx: Transaction, info: TableInfo) -> int:
    deleted = 0
    while rows := tx.store.scan_index(
        info.indexes[BY_ID].index_id, *_ALL, reverse=False, limit=1000
    ):
        for row in rows:
            doc_id = decode_document(row.document)["_id"]
            assert isinstance(doc_id, str)
            tx.delete(doc_id)
            deleted += 1
    return deleted


def _unlimited(tx: Transaction) -> None:
    """An import is one transaction of any size (the per-document limits stay)."""
    tx.lift_limits()
