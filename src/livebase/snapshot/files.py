"""Stored files in snapshot ZIPs: ``_storage/documents.jsonl`` rows and ``_storage/<id>`` bytes.

Import copies each file's bytes into the blob store *before* the transaction that adds the rows,
checking the sha256 and size its row states while the bytes stream through (a 2 GB file never
sits in memory). A mismatch stops the import before anything is committed, so a ``_storage`` row
never exists without its bytes. Bytes copied for an import that then fails are blobs no row names;
the files sweep removes them after its hour of grace.

A row whose bytes are neither in the ZIP nor already in this deployment's store (a snapshot
exported without ``--include-file-storage``) is left out and reported, not imported half.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

from livebase.errors import InvalidIdError, LivebaseError, ValidationError
from livebase.files.blobs import CHUNK, BlobStore, is_sha256
from livebase.snapshot.layout import Snapshot, SnapshotError, describe
from livebase.snapshot.values import from_export
from livebase.values.ids import id_table_number

_NO_LIMIT = 1 << 62


@dataclass
class StagedFiles:
    """The ``_storage`` rows to insert, their bytes already in the blob store."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, document)
    number: int | None = None  # the table number the ZIP's storage ids carry
    missing: int = 0  # rows left out: their bytes are nowhere
    copied: int = 0  # blobs written from the ZIP
    copied_bytes: int = 0


def stage_files(snapshot: Snapshot, blobs: BlobStore) -> StagedFiles:
    """Check every ``_storage`` row and put its bytes in ``blobs``; blocking file I/O."""
    staged = StagedFiles()
    table = snapshot.storage
    if table is None:
        return staged
    for line, item in snapshot.lines(table):
        try:
            doc = _storage_row(item)
        except LivebaseError as exc:
            raise SnapshotError(describe(exc, table.member, line)) from None
        number = id_table_number(doc["_id"])
        if staged.number is None:
            staged.number = number
        elif number != staged.number:
            raise SnapshotError(
                f"{table.member} line {line}: {doc['_id']!r} is an id of table number {number}, "
                f"but the lines before it are of table {staged.number}"
            )
        member = snapshot.blobs.get(doc["_id"])
        if member is not None and not blobs.exists(doc["sha256"]):
            _copy(snapshot, member, doc, blobs, f"{table.member} line {line}")
            staged.copied += 1
            staged.copied_bytes += int(doc["size"])
        elif member is None and not blobs.exists(doc["sha256"]):
            staged.missing += 1
            continue
        staged.rows.append((line, doc))
    return staged


def _storage_row(item: dict[str, Any]) -> dict[str, Any]:
    """A ``_storage`` line, checked, in the export encoding of the row to insert: ``_id``,
    ``_creationTime``, ``sha256`` (hex), ``size`` and ``contentType`` when it has one; other
    fields (Convex's internal id) dropped."""
    value = from_export(item)
    assert isinstance(value, dict)
    doc_id = value.get("_id")
    if not isinstance(doc_id, str):
        raise _bad("_id", "every _storage line needs its storage id in _id")
    try:
        id_table_number(doc_id)
    except InvalidIdError as exc:
        raise _bad("_id", exc.message) from None
    row: dict[str, Any] = {"_id": doc_id, "sha256": _hex_sha256(value.get("sha256"))}
    size = value.get("size")
    if isinstance(size, bool) or not isinstance(size, int | float) or not math.isfinite(size):
        raise _bad("size", "size must be the file's length in bytes")
    if size < 0 or size != int(size):
        raise _bad("size", f"size must be a whole number of bytes, not {size}")
    row["size"] = float(size)  # the export form of a float64, as the other tables' lines
    if "_creationTime" in item:
        row["_creationTime"] = item["_creationTime"]
    content_type = value.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        raise _bad("contentType", "contentType must be a string or null")
    if content_type:
        row["contentType"] = content_type
    return row


def _hex_sha256(value: Any) -> str:
    """Hex, as ``_storage`` keeps it; base64 of the 32 bytes is read too."""
    if isinstance(value, str):
        if is_sha256(value.lower()):
            return value.lower()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return raw.hex()
    raise _bad("sha256", "sha256 must be the file's SHA-256 as 64 hex digits (or base64)")


def _copy(
    snapshot: Snapshot, member: str, doc: dict[str, Any], blobs: BlobStore, where: str
) -> None:
    writer = blobs.writer(_NO_LIMIT)
    try:
        with snapshot.archive.open(member) as stream:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)
        if writer.sha256 != doc["sha256"] or writer.size != doc["size"]:
            raise SnapshotError(
                f"{member}: its bytes ({writer.size} bytes, sha256 {writer.sha256}) are not "
                f"the file {where} describes ({int(doc['size'])} bytes, sha256 "
                f"{doc['sha256']}); the ZIP is damaged or was edited, and nothing was imported"
            )
        writer.commit()
    finally:
        writer.abort()


def _bad(path: str, message: str) -> ValidationError:
    return ValidationError(message, path=path)
