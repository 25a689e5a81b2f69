"""The HTTP side of ingestion: from a request body to one ``events:ingest`` call.

Decode and parse the body, move its large fields to files behind pending blobs
(``payload.split``, ``blobs.upload_file``), make the payload as the public may see it
(``redacted.public_payload``: redacted whole, then cut), then ingest. A body that is not UTF-8
JSON, or whose ingestion fails, is kept in ``rejected_events`` with the reason, its large parts
in chunked blobs (``blobs.upload``: ``rejected:retry``, a mutation, reads them back):
``receive`` returns a result for every body and raises only when the database itself cannot
store anything.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from . import blobs, payload, redacted
from .normalize import activity_event_id, clip, dumps

log = logging.getLogger(__name__)


def _claimed_id(endpoint: str, value: dict[str, Any]) -> str | None:
    """The event id a payload will be stored under, if it says."""
    if endpoint == "event":
        event_id = value.get("event_id")
        return event_id if isinstance(event_id, str) and event_id else None
    if isinstance(value.get("source"), str) and isinstance(value.get("id"), str):
        return activity_event_id(value, "")
    return None


MAX_EVENT_BYTES = 20 * 1024 * 1024
"""The largest body stored as an event (``AGENTFEED_MAX_EVENT_BYTES``); a larger one is rejected
(kept whole, in a blob, so it can be retried once the limit is raised). Livebase itself answers
413 to bodies over its route limit (``LIVEBASE_MAX_HTTP_BODY_BYTES``, 20 MiB by default), which
the app never sees: raise that one above this one to have oversize bodies kept as rejections."""


def max_event_bytes() -> int:
    raw = os.environ.get("AGENTFEED_MAX_EVENT_BYTES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_EVENT_BYTES


async def receive(ctx: Any, endpoint: str, body: bytes) -> dict[str, Any]:
    """Store one body sent to ``POST /<endpoint>``: ``{status, id, event_id?, reason?}``."""
    limit = max_event_bytes()
    if len(body) > limit:
        reason = f"the body is too large ({len(body)} bytes; at most {limit})"
        text = body.decode("utf-8", "backslashreplace")
        return await _reject(ctx, endpoint, reason, text, len(body))
    decoded = payload.decode(body)
    if decoded.problem is not None or not isinstance(decoded.value, dict):
        reason = decoded.problem or "the body is not a JSON object"
        return await _reject(ctx, endpoint, reason, decoded.text, len(body))
    value: dict[str, Any] = decoded.value
    split = payload.split(value)
    event_id = _claimed_id(endpoint, value)
    refs: list[blobs.BlobRef] = []
    if split.moved:
        if event_id is not None:
            stored = await ctx.run_query("events:seen", {"event_id": event_id})
            if stored is not None:
                return {"status": "duplicate", "id": stored, "event_id": event_id}
        for field, text in split.moved.items():
            refs.append(await blobs.upload_file(ctx, event_id or "", field, text))
    args = {
        "endpoint": endpoint,
        "raw": split.raw,
        "blobs": refs,
        "raw_bytes": float(len(body)),
        "generated_id": str(uuid.uuid4()),
        "redacted_raw": dumps(redacted.public_payload(endpoint, value, split.moved)),
    }
    try:
        result: dict[str, Any] = await ctx.run_mutation("events:ingest", args)
        return result
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("ingesting a body for /%s failed: %s", endpoint, message)
        # kept in chunks for rejected:retry (the files' pending blobs go to the sweep)
        kept = [await blobs.upload(ctx, event_id or "", f, t) for f, t in split.moved.items()]
        return await ctx.run_mutation(
            "events:record_rejection",
            {
                "endpoint": endpoint,
                "reason": f"ingestion failed: {message}",
                "body": split.raw,
                "body_bytes": float(len(body)),
                "blobs": kept,
                "event_id": event_id,
            },
        )


async def _reject(ctx: Any, endpoint: str, reason: str, text: str, size: int) -> dict[str, Any]:
    """Keep an unusable body: inline up to ``payload.BODY_EXCERPT``, all of it in a blob."""
    refs: list[blobs.BlobRef] = []
    if len(text) > payload.BODY_EXCERPT:
        refs.append(await blobs.upload(ctx, "", "body", text))
    result: dict[str, Any] = await ctx.run_mutation(
        "events:record_rejection",
        {
            "endpoint": endpoint,
            "reason": reason,
            "body": clip(text, payload.BODY_EXCERPT),
            "body_bytes": float(size),
            "blobs": refs,
        },
    )
    return result
