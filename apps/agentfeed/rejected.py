"""Rejected posts: what ``POST /event`` and ``POST /activity`` could not use, kept for the owner.

A body the app cannot store as an event (not UTF-8, not JSON, not an object, no
``hook_event_name``, an unusable ``event_id``, larger than ``MAX_EVENT_BYTES``, or an ingestion
that failed) is kept in ``rejected_events`` with the reason: up to 64 KiB inline, the whole of
it in a blob. The table is **bounded**: it keeps the latest ``KEEP`` rows; a new rejection beyond
that drops the oldest (its blobs go to the pending sweep). Counts per kind of reason are kept in
``rejected_counts`` (one small document per kind), so the page's summary reads a few documents,
not every body.

Only the owner sees them (``access.is_owner``): ``rejected:latest``, ``rejected:get`` and
``rejected:summary`` return nothing to the public, which only gets the day counts of
``delivery:status``. A rejected body is never shown publicly; once re-ingested it is an event
like any other, with its redacted copy made the same way.

``rejected:retry({id})`` (owner) re-ingests one row: the body as received is put back together
(inline text, its blobs) and goes through the same checks and the same ingestion as a new post,
in one transaction. The id rules are those of a post: the payload's ``event_id`` when it has one
(a retry of an event already stored is a ``duplicate``), else an id derived from the row
(``rejected:<row id>``), so retrying twice never stores twice. Stored (or duplicate): the row is
deleted. Still unusable: the row keeps its place with the new reason and one more attempt.

OTLP exports (``POST /v1/logs``, ``/v1/metrics``) that cannot be read or stored are kept the same
way, endpoint ``v1/logs`` or ``v1/metrics``, with the headers decoding needs (``export``: content
type and encoding) and, for a body that is not UTF-8 (protobuf), its bytes in base64. Their retry
decodes the body again and stores its records (``telemetry.store_records``: each record once, so
a retry after a partial ingestion counts nothing twice).
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from livebase import AppError, PaginationOptions, mutation, query, v

from . import access, delivery, intake, normalize, payload, redacted
from .blobs import BlobRef, attach, write_blob

KEEP = 500
"""Rows kept (``AGENTFEED_REJECTED_KEEP``); the oldest goes when a new one would pass this."""


def keep_limit() -> int:
    raw = os.environ.get("AGENTFEED_REJECTED_KEEP", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else KEEP


RETRY_MAX_BYTES = 8 * 1024 * 1024
"""The largest body ``retry`` puts back together in one transaction."""
LIST_BODY_CHARS = 2000
"""How much of a body a listing row carries (``rejected:get`` has all that is inline)."""
NAMESPACE = uuid.UUID("6f1d4b0e-4a43-4bb5-9a6e-0f2f1f6f8c11")


OTLP_SIGNALS = {"v1/logs": "log", "v1/metrics": "metric"}
"""The OTLP endpoints whose rejected exports are kept, and the signal each carries."""


class ExportHeaders(TypedDict):
    """What decoding a kept OTLP export again needs."""

    content_type: str
    content_encoding: NotRequired[str]
    body_encoding: NotRequired[Literal["base64"]]


def kind_of(reason: str) -> str:
    """A reason without its details (the part before the first ``:``): what the summary
    groups by."""
    head = reason.split(":", 1)[0].strip()
    return normalize.clip(head or "unknown", 120)


def _counter(ctx: Any, kind: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("rejected_counts").with_index("by_kind", lambda q: q.eq("kind", kind)).unique()
    )


def _bump(ctx: Any, kind: str, n: float) -> None:
    row = _counter(ctx, kind)
    if row is None:
        if n > 0:
            ctx.db.insert("rejected_counts", {"kind": kind, "count": n, "last_at": ctx.now})
        return
    count = max(row["count"] + n, 0.0)
    if count == 0:
        ctx.db.delete(row["_id"])
    else:
        ctx.db.patch(row["_id"], {"count": count, "last_at": ctx.now if n > 0 else row["last_at"]})


def _total(ctx: Any) -> float:
    return sum((row["count"] for row in ctx.db.query("rejected_counts").collect()), 0.0)


def _drop(ctx: Any, row: dict[str, Any]) -> None:
    """Delete a row; its blobs become pending again, so the sweep deletes their chunks."""
    for ref in row["blobs"]:
        if ctx.db.get(ref["blob"]) is not None:
            ctx.db.patch(ref["blob"], {"state": "pending", "created_at": 0.0})
    ctx.db.delete(row["_id"])
    _bump(ctx, row.get("kind") or kind_of(row["reason"]), -1.0)


def keep(
    ctx: Any,
    endpoint: str,
    reason: str,
    body: str,
    body_bytes: float,
    refs: list[BlobRef],
    event_id: object = None,
    retry_of: str | None = None,
    export: ExportHeaders | None = None,
) -> dict[str, Any]:
    """Keep a rejected body (in the caller's transaction); with ``retry_of``, update that row
    instead. ``{status: "rejected", id, reason}``."""
    reason = normalize.clip(reason, 1000)
    kind = kind_of(reason)
    if retry_of is not None:
        row = ctx.db.get(retry_of)
        if row is not None:
            old_kind = row.get("kind") or kind_of(row["reason"])
            if old_kind != kind:
                _bump(ctx, old_kind, -1.0)
                _bump(ctx, kind, 1.0)
            patch = {"reason": reason, "kind": kind, "last_attempt_at": ctx.now}
            patch["attempts"] = row.get("attempts", 1.0) + 1
            ctx.db.patch(retry_of, patch)
            return {"status": "rejected", "id": retry_of, "reason": reason}
    doc: dict[str, Any] = {
        "endpoint": endpoint,
        "reason": reason,
        "kind": kind,
        "body": normalize.clip(body, payload.BODY_EXCERPT),
        "body_bytes": body_bytes,
        "blobs": refs,
        "received_at": ctx.now,
        "attempts": 1.0,
        **(export or {}),
    }
    if isinstance(event_id, str):
        doc["event_id"] = normalize.clip(event_id, normalize.ID_CHARS)
    if _total(ctx) >= keep_limit():
        oldest = ctx.db.query("rejected_events").with_index("by_time").first()
        if oldest is not None:
            _drop(ctx, oldest)
    row_id = ctx.db.insert("rejected_events", doc)
    attach(ctx, refs, row_id)
    _bump(ctx, kind, 1.0)
    delivery.count(ctx, "rejected", endpoint)
    return {"status": "rejected", "id": row_id, "reason": reason}


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in row.items() if key != "body"}
    shown["body"] = normalize.clip(row["body"], LIST_BODY_CHARS)
    shown["kind"] = row.get("kind") or kind_of(row["reason"])
    return shown


EMPTY_PAGE = {"page": [], "isDone": True, "continueCursor": ""}


@query
def latest(ctx, paginationOpts: PaginationOptions) -> dict[str, Any]:
    """The latest rejected bodies first (owner only; the public gets an empty page): each with
    its ``reason``, ``kind``, ``endpoint``, ``received_at``, ``attempts``, ``body_bytes``, the
    claimed ``event_id`` if any, and the first ``LIST_BODY_CHARS`` characters of the body."""
    if not access.is_owner(ctx):
        return dict(EMPTY_PAGE)
    opts = {**paginationOpts, "numItems": min(paginationOpts["numItems"], 100)}
    result = ctx.db.query("rejected_events").with_index("by_time").order("desc").paginate(opts)
    return {**result, "page": [_listed(row) for row in result["page"]]}


@query
def get(ctx, id: Annotated[str, v.id("rejected_events")]) -> dict[str, Any] | None:
    """One rejected body as kept (owner only; None for the public): the inline body (up to
    64 KiB; ``blobs`` says when the whole of it is out of line)."""
    if not access.is_owner(ctx):
        return None
    row = ctx.db.get(id)
    if row is None:
        return None
    return {**row, "kind": row.get("kind") or kind_of(row["reason"])}


@query
def summary(ctx) -> dict[str, Any]:
    """``{count, kinds: [{kind, count, last_at}], keep}``: how many rejected bodies are kept,
    by kind of reason, most frequent first (owner only; the public gets zeros)."""
    if not access.is_owner(ctx):
        return {"count": 0.0, "kinds": [], "keep": float(keep_limit())}
    rows = ctx.db.query("rejected_counts").collect()
    kinds = sorted(
        ({"kind": r["kind"], "count": r["count"], "last_at": r["last_at"]} for r in rows),
        key=lambda r: (-r["count"], r["kind"]),
    )
    total = sum((r["count"] for r in rows), 0.0)
    return {"count": total, "kinds": kinds, "keep": float(keep_limit())}


def _read_blob(ctx: Any, blob: str) -> str:
    rows = ctx.db.query("blob_chunks").with_index("by_blob", lambda q: q.eq("blob", blob)).collect()
    return "".join(row["text"] for row in rows)


def _body_of(ctx: Any, row: dict[str, Any]) -> str:
    """The body as received: the whole text from its ``body`` blob, or the inline payload with
    its moved fields put back."""
    fields = {ref["field"]: ref for ref in row["blobs"]}
    if "body" in fields:
        return _read_blob(ctx, fields["body"]["blob"])
    if not fields:
        return str(row["body"])
    texts = {name: _read_blob(ctx, ref["blob"]) for name, ref in fields.items()}
    return normalize.dumps(payload.reassemble(row["body"], texts))


@mutation
def retry(ctx, id: Annotated[str, v.id("rejected_events")]) -> dict[str, Any]:
    """Re-ingest one rejected body (owner only): ``{status: stored | duplicate | rejected, id,
    event_id?, reason?}``. See the module docstring for the id rules."""
    from . import events  # events imports this module

    access.require_owner(ctx)
    row = ctx.db.get(id)
    if row is None:
        raise AppError({"code": "NotFound", "message": f"no rejected body {id}"})
    if row["body_bytes"] > RETRY_MAX_BYTES:
        raise AppError(
            {"code": "TooLarge", "message": f"bodies over {RETRY_MAX_BYTES} bytes are not retried"}
        )
    endpoint = row["endpoint"]
    if endpoint in OTLP_SIGNALS:
        return _retry_export(ctx, row)
    limit = intake.max_event_bytes()
    if row["body_bytes"] > limit:
        reason = f"the body is too large ({int(row['body_bytes'])} bytes; at most {limit})"
        return keep(ctx, endpoint, reason, row["body"], row["body_bytes"], [], retry_of=id)
    text = _body_of(ctx, row)
    decoded = payload.decode(text.encode("utf-8", "surrogatepass"))
    if decoded.problem is not None or not isinstance(decoded.value, dict):
        reason = decoded.problem or "the body is not a JSON object"
        return keep(ctx, endpoint, reason, row["body"], row["body_bytes"], [], retry_of=id)
    value: dict[str, Any] = decoded.value
    split = payload.split(value)
    generated = str(uuid.uuid5(NAMESPACE, f"rejected:{id}"))
    problem = (
        normalize.hook_problem(value) if endpoint == "event" else normalize.activity_problem(value)
    )
    if problem is not None:
        return keep(ctx, endpoint, problem, row["body"], row["body_bytes"], [], retry_of=id)
    refs: list[BlobRef] = [
        write_blob(ctx, str(value.get("event_id") or generated), field, moved)
        for field, moved in split.moved.items()
    ]
    shown = normalize.dumps(redacted.public_payload(endpoint, value, split.moved))
    result = events.store(
        ctx, endpoint, split.raw, refs, row["body_bytes"], generated, shown, retry_of=id
    )
    if result["status"] in ("stored", "duplicate"):
        _drop(ctx, row)
    return result


def _retry_export(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Decode a kept OTLP export again and store its records: ``{status: stored, id,
    records, duplicate}``, or ``rejected`` with the reason it still cannot be read."""
    from . import otlp, telemetry  # telemetry reaches sessions, which reaches events

    text = _body_of(ctx, row)
    body = (
        base64.b64decode(text)
        if row.get("body_encoding") == "base64"
        else text.encode("utf-8", "surrogatepass")
    )
    signal = OTLP_SIGNALS[row["endpoint"]]
    try:
        kind = otlp.media_type(row.get("content_type"))
        plain = otlp.decompress(body, row.get("content_encoding"))
        records = otlp.decode(signal, plain, kind, ctx.now)
    except otlp.BadRequest as exc:
        reason = str(exc)
        return keep(
            ctx, row["endpoint"], reason, row["body"], row["body_bytes"], [], retry_of=row["_id"]
        )
    counts = telemetry.store_records(ctx, records)
    _drop(ctx, row)
    return {"status": "stored", "id": row["_id"], **counts}
