"""Large values stored out of line: one ``blobs`` document per moved field, its text in a file
(Livebase's file storage, ``ctx.storage``) or, for blobs written before files existed and for
rejected bodies, in ``blob_chunks`` (each under the 1 MiB document limit).

Three layers, as notifications want them: the event keeps what a notification shows (its
summary, and in ``raw`` a preview of each moved field); the ``blobs`` document and the event's
reference to it (``BlobRef``) keep the metadata (size, sha256, content type, the file's storage
id); the file keeps the bytes, as JSON text. Only the owner ever reads a file (``GET /raw``):
the public view shows the redacted previews, never a blob.

An HTTP handler stores a field before it calls ``events:ingest`` (``upload_file``: the bytes
go to disk, streamed, then one small mutation registers the blob). A rejected body keeps its
text in chunks (``upload``: a few mutations of at most ``payload.BATCH_MAX`` each), because
``rejected:retry`` is a mutation, and a mutation can read documents but not files. A blob is
``pending`` until the ingesting transaction ``attach``es it to its event (or rejection); the
``sweep`` cron deletes blobs left pending (a handler that died half-way, a replayed event's
copy), their files with them.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from livebase import AppError, internal_mutation, internal_query, v

from . import payload

SWEEP_CHUNKS = 8
"""Chunks one sweep deletes at most (each is read to be deleted: 8 x 768 KiB, twice, stays
under the 16 MiB a mutation may read)."""


FILE_TYPE = "application/json"
"""The content type of a moved field's file (its JSON text, UTF-8)."""


class BlobRef(TypedDict):
    """A field of a payload stored out of line: which field, its blob, its size in bytes, and
    for a blob kept as a file its storage id, sha256 and content type."""

    field: str
    blob: Annotated[str, v.id("blobs")]
    bytes: float
    file: NotRequired[Annotated[str, v.id("_storage")]]
    sha256: NotRequired[str]
    content_type: NotRequired[str]


@internal_mutation
def begin(ctx, event_id: str, field: str, size: float, chunks: float, first: list[str]) -> str:
    """A pending blob of ``chunks`` chunks (``size`` bytes of UTF-8), the first ones given."""
    blob = ctx.db.insert(
        "blobs",
        {
            "event_id": event_id,
            "field": field,
            "bytes": size,
            "chunks": chunks,
            "state": "pending",
            "created_at": ctx.now,
        },
    )
    _write_chunks(ctx, blob, 0, first)
    return blob


@internal_mutation
def append(ctx, blob: Annotated[str, v.id("blobs")], start: float, pieces: list[str]) -> None:
    doc = ctx.db.get(blob)
    if doc is None or doc["state"] != "pending":
        raise AppError(f"blob {blob} is not pending")
    _write_chunks(ctx, blob, int(start), pieces)


def _write_chunks(ctx: Any, blob: str, start: int, pieces: list[str]) -> None:
    for offset, text in enumerate(pieces):
        ctx.db.insert("blob_chunks", {"blob": blob, "index": float(start + offset), "text": text})


async def upload(ctx: Any, event_id: str, field: str, text: str) -> BlobRef:
    """Store ``text`` as a pending blob, one mutation per batch of chunks (from an HTTP
    handler or an action)."""
    groups = payload.batches(payload.chunks(text))
    size = float(len(text.encode("utf-8")))
    total = sum(len(group) for group in groups)
    blob = await ctx.run_mutation(
        "blobs:begin",
        {
            "event_id": event_id,
            "field": field,
            "size": size,
            "chunks": float(total),
            "first": groups[0] if groups else [],
        },
    )
    written = len(groups[0]) if groups else 0
    for group in groups[1:]:
        await ctx.run_mutation(
            "blobs:append", {"blob": blob, "start": float(written), "pieces": group}
        )
        written += len(group)
    return {"field": field, "blob": blob, "bytes": size}


@internal_mutation
def register_file(
    ctx, event_id: str, field: str, file: Annotated[str, v.id("_storage")]
) -> dict[str, Any]:
    """A pending blob for a stored file; its reference (``BlobRef``) with the file's metadata."""
    meta = ctx.storage.get_metadata(file)
    if meta is None:
        raise AppError(f"no file {file} for field {field!r}")
    doc = {"event_id": event_id, "field": field, "bytes": float(meta["size"]), "chunks": 0.0}
    doc |= {"file": file, "sha256": meta["sha256"], "content_type": FILE_TYPE}
    blob = ctx.db.insert("blobs", {**doc, "state": "pending", "created_at": ctx.now})
    return {"field": field, "blob": blob, "bytes": doc["bytes"], "file": file,
            "sha256": meta["sha256"], "content_type": FILE_TYPE}  # fmt: skip


async def upload_file(ctx: Any, event_id: str, field: str, text: str) -> BlobRef:
    """Store ``text`` as a file and a pending blob naming it (from an HTTP handler or an
    action). If registering fails, the file is deleted again."""
    file = await ctx.storage.store(text.encode("utf-8", "surrogatepass"), content_type=FILE_TYPE)
    try:
        ref: BlobRef = await ctx.run_mutation(
            "blobs:register_file", {"event_id": event_id, "field": field, "file": file}
        )
    except Exception:
        await ctx.storage.delete(file)
        raise
    return ref


def write_blob(ctx: Any, event_id: str, field: str, text: str) -> BlobRef:
    """Store ``text`` as a pending blob in the caller's transaction (a mutation that has the
    whole text, such as ``rejected:retry``; at most a few MiB)."""
    pieces = payload.chunks(text)
    size = float(len(text.encode("utf-8", "surrogatepass")))
    doc = {"event_id": event_id, "field": field, "bytes": size, "chunks": float(len(pieces))}
    blob = ctx.db.insert("blobs", {**doc, "state": "pending", "created_at": ctx.now})
    _write_chunks(ctx, blob, 0, pieces)
    return {"field": field, "blob": blob, "bytes": size}


def attach(ctx: Any, refs: list[BlobRef], owner: str) -> None:
    """Mark pending blobs as belonging to ``owner`` (an event or a rejection), in the caller's
    transaction."""
    for ref in refs:
        doc = ctx.db.get(ref["blob"])
        if doc is None or doc["state"] != "pending":
            raise AppError(f"blob {ref['blob']} for field {ref['field']!r} is not pending")
        ctx.db.patch(ref["blob"], {"state": "attached", "owner": owner})


@internal_query
def chunk(ctx, blob: Annotated[str, v.id("blobs")], index: float) -> dict[str, Any] | None:
    """One chunk of a blob's text: ``{text, index, chunks}``, or None past the end."""
    doc = ctx.db.get(blob)
    if doc is None:
        raise AppError({"code": "NotFound", "blob": blob})
    row = (
        ctx.db.query("blob_chunks")
        .with_index("by_blob", lambda q: q.eq("blob", blob).eq("index", float(index)))
        .unique()
    )
    if row is None:
        return None
    return {"text": row["text"], "index": index, "chunks": doc["chunks"]}


async def read(ctx: Any, ref: BlobRef) -> str:
    """A blob's whole text: its file's bytes, or one query per chunk (a blob can be larger than
    one query may read)."""
    file = ref.get("file")
    if file is not None:
        data = await ctx.storage.get(file)
        if data is None:
            raise AppError({"code": "NotFound", "blob": ref["blob"], "file": file})
        return bytes(data).decode("utf-8", "surrogatepass")
    blob = ref["blob"]
    parts: list[str] = []
    index = 0
    while True:
        part = await ctx.run_query("blobs:chunk", {"blob": blob, "index": float(index)})
        if part is None:
            return "".join(parts)
        parts.append(part["text"])
        index += 1


@internal_mutation
def sweep(ctx, older_than_minutes: float) -> int:
    """Delete blobs still pending after ``older_than_minutes`` (an upload whose ingestion never
    committed, or the copy a replayed event brought again), with their files, at most
    ``SWEEP_CHUNKS`` chunks a run so the run stays within what one mutation may read; run by a
    cron. Returns the number of chunks and files deleted."""
    cutoff = ctx.now - older_than_minutes * 60_000
    stale = (
        ctx.db.query("blobs")
        .with_index("by_state_created", lambda q: q.eq("state", "pending").lt("created_at", cutoff))
        .take(SWEEP_CHUNKS)
    )
    budget = SWEEP_CHUNKS
    for blob in stale:
        if blob.get("file") is not None:
            if ctx.db.system.get(blob["file"]) is not None:
                ctx.storage.delete(blob["file"])
            ctx.db.delete(blob["_id"])
            budget -= 1
            if budget == 0:
                break
            continue
        rows = (
            ctx.db.query("blob_chunks")
            .with_index("by_blob", lambda q, b=blob["_id"]: q.eq("blob", b))
            .take(budget + 1)
        )
        for row in rows[:budget]:
            ctx.db.delete(row["_id"])
        if len(rows) <= budget:
            ctx.db.delete(blob["_id"])
        budget -= min(len(rows), budget)
        if budget == 0:
            break
    return SWEEP_CHUNKS - budget
