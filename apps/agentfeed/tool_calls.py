"""Tool calls: ``PreToolUse`` paired with ``PostToolUse`` / ``PostToolUseFailure`` (or
``PermissionDenied``) by ``tool_use_id`` into one document with its times, duration and outcome.

Either half may arrive first: the first creates the call, the second completes it. The duration
is the payload's ``duration_ms`` when Claude Code sends it, else end minus start once both are
known. A call with only its ``PreToolUse`` is ``running``. Its redacted copy (``redacted.py``)
takes the tool name, input and error from the events' copies.
"""

from __future__ import annotations

from typing import Any

from livebase import PaginationOptions, query

from . import access, redacted
from .normalize import clip

STARTS = frozenset({"PreToolUse"})
ENDS = frozenset({"PostToolUse", "PostToolUseFailure", "PermissionDenied"})
PAGE_LIMIT = 200


def _outcome(event: dict[str, Any]) -> str:
    if event["type"] == "PostToolUse":
        return "success"
    if event["type"] == "PermissionDenied":
        return "denied"
    return "interrupted" if event.get("interrupted") else "failure"


def apply_event(ctx: Any, event: dict[str, Any], event_doc: str) -> None:
    """Open or complete the tool call of a tool event, in the ingesting transaction."""
    kind, use_id = event["type"], event.get("tool_use_id")
    if use_id is None or (kind not in STARTS and kind not in ENDS):
        return
    ts = event["timestamp"]
    call = (
        ctx.db.query("tool_calls")
        .with_index("by_tool_use_id", lambda q: q.eq("tool_use_id", use_id))
        .first()
    )
    half: dict[str, Any] = {}
    if kind in STARTS:
        half.update(started_at=ts, pre_event=event_doc)
        if "tool_input" in event:
            half["input"] = clip(event["tool_input"], 500)
    else:
        half.update(ended_at=ts, post_event=event_doc, status=_outcome(event))
        if "duration_ms" in event:
            half["duration_ms"] = event["duration_ms"]
        if "error" in event:
            half["error"] = event["error"]
        if "tool_input" in event and (call is None or "input" not in call):
            half["input"] = clip(event["tool_input"], 500)
    if call is None:
        doc = {
            "tool_use_id": use_id,
            "tool_name": event.get("tool_name", "tool"),
            "status": "running",
            "at": ts,
            **half,
        }
        for key in ("session_id", "project"):
            if event.get(key) is not None:
                doc[key] = event[key]
        doc[redacted.FIELD] = _shown(None, doc, event, new=True)
        ctx.db.insert("tool_calls", doc)
        return
    half[redacted.FIELD] = _shown(call.get(redacted.FIELD), half, event)
    merged = {**call, **half}  # a start never carries a status: an outcome already set stays
    if "duration_ms" not in merged and "started_at" in merged and "ended_at" in merged:
        merged["duration_ms"] = max(merged["ended_at"] - merged["started_at"], 0.0)
    merged["at"] = merged.get("started_at", merged["at"])
    ctx.db.replace(call["_id"], {k: v for k, v in merged.items() if not k.startswith("_")})


def _shown(
    previous: Any, changes: dict[str, Any], event: dict[str, Any], new: bool = False
) -> dict[str, Any]:
    """The call's redacted copy after ``changes`` made from ``event`` (``redacted.follow``)."""
    copy = redacted.follow(previous, changes, event, redacted.TOOL_CALL_SOURCES, new)
    if "input" in changes:
        copy["input"] = redacted.tool_input(event)
    return copy


@query
def session_tool_calls(ctx, session_id: str, paginationOpts: PaginationOptions) -> dict[str, Any]:
    """A session's tool calls in the order they started."""
    who = access.viewer(ctx)
    opts = {**paginationOpts, "numItems": min(paginationOpts["numItems"], PAGE_LIMIT)}
    result = (
        ctx.db.query("tool_calls")
        .with_index("by_session_at", lambda q: q.eq("session_id", session_id))
        .paginate(opts)
    )
    return who.visible_page("tool_calls", result)
