"""Reading a snapshot ZIP: which tables it holds, their numbers, and their documents by line.

The layout is the one ``npx convex export`` writes (and ``livebase export`` too)::

    _tables/documents.jsonl         {"name": "<table>", "id": <table number>} per user table
    <table>/documents.jsonl         one document per line, with _id and _creationTime
    <table>/generated_schema.jsonl  Convex's note on the value format (recognised, not needed)
    _storage/documents.jsonl        stored files: _id, _creationTime, sha256, size, contentType
    _storage/<storage id>           a file's bytes (with --include-file-storage)
    _components/...                 Convex components: skipped
    _schema.json                    the exporting Livebase app's schema (informational)

The whole tree may sit under one top folder (a ZIP made from an unpacked export).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from livebase.errors import BadRequestError, InvalidJsonError, LivebaseError
from livebase.values.wire import loads

TABLES = "_tables/documents.jsonl"
DOCUMENTS = "documents.jsonl"
SCHEMA = "_schema.json"
STORAGE = "_storage"


class SnapshotError(BadRequestError):
    """A snapshot that cannot be imported; the message names the file, line and field."""

    code = "InvalidSnapshot"


@dataclass(frozen=True)
class SnapshotTable:
    name: str
    number: int | None  # from _tables; None when the ZIP has no _tables line for it
    member: str  # the ZIP member holding its documents


@dataclass
class Snapshot:
    archive: zipfile.ZipFile
    tables: list[SnapshotTable]
    skipped: list[str] = field(default_factory=list)
    """What was recognised but not imported, for the report (components)."""
    storage: SnapshotTable | None = None  # _storage/documents.jsonl, when the ZIP has it
    blobs: dict[str, str] = field(default_factory=dict)  # storage id: its bytes' member

    def lines(self, table: SnapshotTable) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, parsed JSON object)`` for each non-blank line, read as it streams."""
        with self.archive.open(table.member) as stream:
            for number, raw in enumerate(stream, 1):
                if not raw.strip():
                    continue
                try:
                    item = loads(raw)
                except InvalidJsonError as exc:
                    raise SnapshotError(
                        f"{table.member} line {number}: not JSON ({exc.message})"
                    ) from None
                if not isinstance(item, dict):
                    raise SnapshotError(f"{table.member} line {number}: not a JSON object")
                yield number, item


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")


def open_snapshot(archive: zipfile.ZipFile) -> Snapshot:
    names = [n for n in archive.namelist() if not n.endswith("/")]
    prefix = _prefix(names)
    inside = {n[len(prefix) :]: n for n in names if n.startswith(prefix)}
    numbers: dict[str, int] = {}
    if TABLES in inside:
        numbers = _table_numbers(archive, inside[TABLES])
    tables: list[SnapshotTable] = []
    skipped: set[str] = set()
    storage: SnapshotTable | None = None
    blobs: dict[str, str] = {}
    for path, member in sorted(inside.items()):
        top, _, rest = path.partition("/")
        if top == STORAGE:
            if rest == DOCUMENTS:
                storage = SnapshotTable(STORAGE, None, member)
            elif "/" not in rest:
                blobs[rest] = member
        elif top == "_components":
            skipped.add(f"_components/{rest.split('/')[0]} (components are not supported)")
        elif rest == DOCUMENTS and not top.startswith("_"):
            tables.append(SnapshotTable(top, numbers.get(top), member))
    for name in numbers:
        if name not in {t.name for t in tables}:
            tables.append(SnapshotTable(name, numbers[name], ""))  # listed, no documents
    if not tables and TABLES not in inside and storage is None:
        raise SnapshotError(
            "the ZIP holds no <table>/documents.jsonl and no _tables/documents.jsonl; is it a "
            "snapshot export (livebase export, npx convex export)?"
        )
    tables.sort(key=lambda t: (t.number is None, t.number or 0, t.name))
    return Snapshot(archive, tables, sorted(skipped), storage, blobs)


def _prefix(names: list[str]) -> str:
    """``""``, or the one top folder everything sits under when the root has no snapshot."""
    if any(n == TABLES or (n.endswith("/" + DOCUMENTS) and n.count("/") == 1) for n in names):
        return ""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop() + "/"
    return ""


def _table_numbers(archive: zipfile.ZipFile, member: str) -> dict[str, int]:
    numbers: dict[str, int] = {}
    table = SnapshotTable("_tables", None, member)
    for number, item in Snapshot(archive, []).lines(table):
        name, tid = item.get("name"), item.get("id")
        if not isinstance(name, str) or isinstance(tid, bool) or not isinstance(tid, int | float):
            raise SnapshotError(
                f'{member} line {number}: expected {{"name": <table>, "id": <number>}}'
            )
        numbers[name] = int(tid)
    return numbers


def describe(exc: LivebaseError, member: str, line: int) -> str:
    """``<member> line N, field F: message`` (the field when the error knows it)."""
    path = getattr(exc, "path", "")
    where = f"{member} line {line}" + (f", field {path!r}" if path else "")
    return f"{where}: {exc.message}"
