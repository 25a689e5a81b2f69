"""Redacted copies: what the public sees of an event, a session or a tool call, stored with it.

Every event, session and tool call carries, next to its fields as received (which only the
owner sees), a ``redacted`` sub-document: its public-facing text fields run through
``redact.py``, written in the same transaction as the fields themselves, whatever the
visibility of its project (so making a project public rewrites nothing). The public view
(``access.py``) shows a document's fields from this copy, and the public text search matches
the copy's ``summary`` only: it finds nothing the public summary does not show, so it cannot be
used as an oracle for the text it hides.

An event's copy is not a redaction of its stored fields: those are already cut (a summary at
200 characters, excerpts at 2,000, large fields replaced by previews) and a secret straddling a
cut would survive in part. It is computed from the payload as received: the HTTP handler
redacts every field of the payload and every object key, ids excepted (``public_payload``),
then cuts it down the way ``raw`` is cut, and ``events:ingest`` normalises that redacted
payload exactly as it normalises the real one (``event_copy``). The summary, prompt, excerpts,
error and ``raw`` the public sees are therefore cut after redacting, never before. A session's
copy takes its summary and other fields from the copy of the event that set them
(``follow``); a tool call's input is the event copy's ``tool_input``, clipped.

A document without a current copy — written before copies existed, or by an older version of
the rules (``v`` below ``redact.VERSION``) — is not shown to the public at all (the owner sees
it as always) until ``events:refresh_redacted`` has given it one: that migration runs every
minute (a cron) and whenever a project is made public, in batches that schedule the next one
at once while there is more. It computes an event's copy from its stored ``raw`` (the payload
normalisation saw: large fields there are previews, cut before anything was redacted, and
``redact`` masks the token a cut leaves half of), a session's from its latest event's copy, a
tool call's from its events' copies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

from livebase import UNSET

from . import normalize, payload, redact

log = logging.getLogger(__name__)

Doc = dict[str, Any]

FIELD = "redacted"
"""The sub-document holding a document's redacted copy."""
VERSION = float(redact.VERSION)
"""The rules' version a current copy was made with (``v``; stored as a number)."""
EVENT_TEXT = (
    "source", "subtype", "summary", "cwd", "tool_name", "tool_input", "tool_response", "error",
    "prompt", "agent_type", "permission_mode", "transcript_path", "model", "details",
)  # fmt: skip
"""An event's fields that have a redacted copy (and ``raw``)."""
KEPT_KEYS = {
    "event": frozenset(
        {"hook_event_name", "event_id", "session_id", "tool_use_id", "prompt_id", "agent_id"}
    ),
    "activity": frozenset({"type", "id", "sessionId"}),
}
"""Top-level payload fields left as they are: the ids and the event type, which the public view
shows as stored (``access.KEPT``)."""
WIDE_STRING = payload.PREVIEW_STRING + redact.MARGIN
"""How much of each string of a field moved out of line is redacted before its preview is cut."""
WIDE_FACTOR = 8
"""How much larger than a preview the part of a moved field that is redacted is."""
SESSION_SOURCES = {
    "source": "source",
    "last_summary": "summary",
    "cwd": "cwd",
    "model": "model",
    "transcript_path": "transcript_path",
    "start_source": "subtype",
    "end_reason": "subtype",
    "last_event_type": "type",
}
"""A session's text fields, and the event field each is set from."""
TOOL_CALL_SOURCES = {"tool_name": "tool_name", "error": "error"}
"""A tool call's text fields set from its events as they are (``input`` is clipped:
``tool_input``)."""
TOOL_INPUT_CHARS = 500
"""A tool call's ``input``: the start of its event's ``tool_input``."""


COPIED = frozenset({"events", "sessions", "tool_calls"})
"""The tables whose documents carry a redacted copy."""


def is_current(copy: Any) -> bool:
    return isinstance(copy, dict) and copy.get("v") == VERSION


def is_ready(kind: str, doc: Doc) -> bool:
    """Whether the public may be shown ``doc`` (of table ``kind``): it has a current copy, or
    its table has none."""
    return kind not in COPIED or is_current(doc.get(FIELD))


# -- events --------------------------------------------------------------------------------------


def _redact_fields(endpoint: str, value: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """``(key, shown key, shown value)`` for each top-level field of a payload, in order."""
    kept = KEPT_KEYS.get(endpoint, frozenset())
    others = {key: item for key, item in value.items() if key not in kept}
    shown = iter(redact.redact_value(others).items())
    fields = []
    for key, item in value.items():
        fields.append((key, key, item) if key in kept else (key, *next(shown)))
    return fields


def public_payload(
    endpoint: str, value: dict[str, Any], moved: Collection[str] | None = None
) -> dict[str, Any]:
    """A payload as received (``endpoint``: ``event`` or ``activity``) as the public may see it:
    every field redacted but the ids, object keys included, *then* cut down the way
    ``payload.split`` cuts ``raw`` (a large field to a preview). The work stays bounded: a large
    field is first cut to a preview ``WIDE_FACTOR`` times larger, its strings to
    ``WIDE_STRING`` characters, which is redacted, then cut to its preview. ``moved``: the
    fields ``payload.split`` moves out of line, if known."""
    if moved is None:
        moved = payload.split(value).moved
    if payload.WHOLE in moved:
        budget = payload.RAW_INLINE_MAX // 2
        wide = payload.preview(
            value, budget * WIDE_FACTOR, first=payload.IDENTITY_KEYS, strings=WIDE_STRING
        )
        shown = {key: item for _, key, item in _redact_fields(endpoint, wide)}
        cut: dict[str, Any] = payload.preview(shown, budget, first=payload.IDENTITY_KEYS)
        return cut
    narrowed = {
        key: payload.preview(item, payload.PREVIEW_BUDGET * WIDE_FACTOR, strings=WIDE_STRING)
        if key in moved
        else item
        for key, item in value.items()
    }
    return {
        shown_key: payload.preview(item) if key in moved else item
        for key, shown_key, item in _redact_fields(endpoint, narrowed)
    }


def event_copy(origin: str, shown: dict[str, Any]) -> Doc:
    """An event's redacted copy from its public payload (``public_payload``): the fields
    normalisation derives from it, and that payload as ``raw``."""
    try:
        if origin == "hook":
            fields = normalize.normalize_hook(shown)
        else:
            fields = normalize.normalize_activity(shown, "")
    except Exception as exc:  # a payload normalisation accepted has a redacted form it accepts
        log.warning("normalising a redacted payload failed (%s): its fields are masked", exc)
        fields = {"source": "[redacted:unreadable]", "summary": "[redacted:unreadable]"}
    copy: Doc = {key: fields[key] for key in EVENT_TEXT if key in fields}
    copy["raw"] = normalize.dumps(shown)
    copy["v"] = VERSION
    return copy


def _endpoint(origin: Any) -> str:
    return "event" if origin == "hook" else "activity"


def event_view(doc: Doc) -> Doc:
    """The redacted copy of a stored event: the stored one if current, else one computed from
    its ``raw`` (an event stored before copies existed, or by older rules)."""
    stored = doc.get(FIELD)
    if is_current(stored):
        result: Doc = stored
        return result
    raw = doc.get("raw")
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        endpoint = _endpoint(doc.get("origin"))
        shown = {key: item for _, key, item in _redact_fields(endpoint, value)}
        return event_copy(str(doc.get("origin")), shown)
    # no payload to start from (a listing without raw): the stored fields, redacted
    copy = {
        key: redact.redact_text(doc[key]) for key in EVENT_TEXT if isinstance(doc.get(key), str)
    }
    return {**copy, "v": VERSION}


# -- sessions and tool calls ---------------------------------------------------------------------


def follow(
    previous: Any,
    changes: Mapping[str, Any],
    event: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] = SESSION_SOURCES,
    new: bool = False,
) -> Doc:
    """A derived document's redacted copy after ``changes`` to its fields (those in
    ``sources``): a field set to the value of its source field of ``event`` takes that field's
    redacted copy (cut after redacting), any other value is redacted here, ``UNSET`` removes
    it. ``new``: ``changes`` are all the fields of a new document (or of one whose copy is made
    afresh). Else ``previous`` is the document's copy before; if it is missing or not current,
    the result is not current either (``v`` 0: it holds only the changed fields, and the
    document stays hidden from the public until the migration makes its whole copy)."""
    current = new or is_current(previous)
    copy: Doc = dict(previous) if not new and isinstance(previous, dict) else {}
    shown = (event or {}).get(FIELD) or {}
    for field, value in changes.items():
        source = sources.get(field)
        if source is None:
            continue
        if value is UNSET:
            copy.pop(field, None)
        elif event is not None and source in shown and event.get(source) == value:
            copy[field] = shown[source]
        else:
            copy[field] = redact.redact_value(value)
    copy["v"] = VERSION if current else 0.0
    return copy


def tool_input(event: Mapping[str, Any]) -> str:
    """A tool call's redacted ``input``: the start of its event's redacted ``tool_input``."""
    shown = (event.get(FIELD) or {}).get("tool_input")
    if not isinstance(shown, str):
        shown = redact.redact_text(str(event.get("tool_input", "")))
    return normalize.clip(shown, TOOL_INPUT_CHARS)


# -- the public view -----------------------------------------------------------------------------


def shown_fields(doc: Doc) -> Doc:
    """The redacted copies of a document's fields that the public view shows instead of the
    fields (a field without one is redacted when read: ``access.redact_doc``)."""
    stored = doc.get(FIELD)
    return stored if is_current(stored) else {}


def session_copy(session: Doc, latest: Doc | None) -> Doc:
    """A session's copy made afresh (``events:refresh_redacted``): its fields set from its
    ``latest`` event take that event's copy, the others are redacted here."""
    event = {**latest, FIELD: event_view(latest)} if latest is not None else None
    return follow(None, session, event, new=True)


def tool_call_copy(call: Doc, pre: Doc | None, post: Doc | None) -> Doc:
    """A tool call's copy made afresh from its events (``events:refresh_redacted``)."""
    post_event = {**post, FIELD: event_view(post)} if post is not None else None
    copy = follow(None, call, post_event, TOOL_CALL_SOURCES, new=True)
    source = pre if pre is not None and "tool_input" in pre else post
    if "input" in call:
        if source is not None:
            copy["input"] = tool_input({**source, FIELD: event_view(source)})
        else:
            copy["input"] = redact.redact_text(call["input"])
    return copy
