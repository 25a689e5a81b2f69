"""Keeping documents small (pure: stdlib only): decoding a request body, moving large fields of a
payload out of line, previews of what was moved, and cutting long text into storable chunks.

A payload is stored as JSON text (``raw``), not as a structured value: hook payloads carry keys
a document may not have (``$schema`` in an MCP tool's input, non-ASCII keys), integers beyond
int64 and nesting deeper than 16, and the text keeps them all. Every top-level field whose JSON
is over ``FIELD_INLINE_MAX`` goes to its own blob, and so do the next largest until the rest
fits in ``RAW_INLINE_MAX``; in ``raw`` such a field is replaced by a *preview* (the same shape,
long strings and lists cut, with ``…[+N chars]`` markers), so normalisation still sees a
Bash command or a Write's file path. A payload that still does not fit (thousands of fields)
goes to a blob whole, under the field name ``*``. ``events:raw`` puts the pieces back together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .normalize import clean, clip, dumps

FIELD_INLINE_MAX = 8 * 1024
"""A top-level field whose JSON is longer than this (characters) is stored out of line."""
RAW_INLINE_MAX = 32 * 1024
"""The most ``raw`` text an event keeps inline."""
MOVE_MIN = 2 * 1024
"""Fields shorter than this are never moved just to make room (their preview saves little)."""
MOVED_MAX = 16
"""More large fields than this: the payload goes to one blob whole."""
PREVIEW_BUDGET = 1536
"""About how long (characters of JSON) the preview of a field moved out of line is."""
PREVIEW_STRING = 512
PREVIEW_DEPTH = 8
CHUNK_MAX = 768 * 1024
"""Characters of stored JSON per blob chunk: under the 1 MiB document limit with room to spare
(a chunk is measured after JSON escaping, which can make one character six)."""
BATCH_MAX = 4 * 1024 * 1024
"""Characters of chunks written by one mutation (the platform allows 16 MiB per mutation)."""
BODY_EXCERPT = 64 * 1024
"""How much of an unusable body a rejection keeps inline (all of it goes to a blob)."""
IDENTITY_KEYS = (
    "hook_event_name", "event_id", "timestamp", "session_id", "cwd", "project_dir",
    "transcript_path", "tool_name", "tool_use_id", "source", "type", "id", "sessionId",
    "summary", "prompt", "tool_input",
)  # fmt: skip
"""What normalisation reads: kept first when a whole payload is cut down to a preview."""
WHOLE = "*"
"""The field name of a blob that holds a whole payload."""


@dataclass
class Decoded:
    """A request body as text and, if it parses, as JSON."""

    text: str
    value: Any = None
    problem: str | None = None


def decode(body: bytes) -> Decoded:
    """The body as UTF-8 text and parsed JSON, or the reason it is neither."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = body.decode("utf-8", "backslashreplace")
        return Decoded(text, problem=f"the body is not UTF-8 ({exc.reason} at byte {exc.start})")
    if not text.strip():
        return Decoded(text, problem="the body is empty")
    try:
        return Decoded(text, value=json.loads(text))
    except json.JSONDecodeError as exc:
        return Decoded(text, problem=f"the body is not JSON: {exc.msg} at character {exc.pos}")
    except RecursionError:
        return Decoded(text, problem="the body is JSON nested too deeply to read")


@dataclass
class Split:
    """A payload as JSON text with its large fields replaced by previews (``raw``), and the full
    JSON text of those fields (``moved``: field name -> text)."""

    raw: str
    moved: dict[str, str] = field(default_factory=dict)


def split(payload: dict[str, Any]) -> Split:
    """Move large top-level fields out of line until the rest is at most ``RAW_INLINE_MAX``;
    when that takes more than ``MOVED_MAX`` blobs, or cannot work, the whole payload goes."""
    texts = {key: dumps(value) for key, value in payload.items()}
    total = 2 + sum(len(key) + 4 + len(text) for key, text in texts.items())
    shown: dict[str, Any] = {}  # moved field -> its preview

    def move(key: str) -> int:
        shown[key] = preview(payload[key])
        return len(dumps(shown[key])) - len(texts[key])

    for key, text in texts.items():
        if len(text) > FIELD_INLINE_MAX:
            total += move(key)
    for key in sorted(texts, key=lambda k: len(texts[k]), reverse=True):
        if total <= RAW_INLINE_MAX or len(texts[key]) <= MOVE_MIN:
            break
        if key not in shown:
            total += move(key)
    if total > RAW_INLINE_MAX or len(shown) > MOVED_MAX:
        slim_whole = preview(payload, RAW_INLINE_MAX // 2, first=IDENTITY_KEYS)
        return Split(dumps(slim_whole), {WHOLE: dumps(payload)})
    slim = {key: shown[key] if key in shown else value for key, value in payload.items()}
    return Split(dumps(slim), {key: texts[key] for key in payload if key in shown})


def preview(
    value: Any,
    budget: int = PREVIEW_BUDGET,
    depth: int = 0,
    first: tuple[str, ...] = (),
    strings: int = PREVIEW_STRING,
) -> Any:
    """``value`` cut down to about ``budget`` characters of JSON, keeping its shape. In an
    object, the ``first`` fields are kept first, then short scalar fields (ids, names, paths),
    then the rest in order. A string keeps at most ``strings`` characters."""
    if isinstance(value, str):
        return clip(value, max(min(budget, strings), 32))
    if not isinstance(value, (list, dict)):
        return value
    if depth >= PREVIEW_DEPTH:
        return clip(dumps(value), 64)
    if isinstance(value, list):
        items: list[Any] = []
        used = 2
        for n, item in enumerate(value):
            if used >= budget:
                items.append(f"…[+{len(value) - n} items]")
                break
            part = preview(item, budget - used, depth + 1, strings=strings)
            used += len(dumps(part)) + 1
            items.append(part)
        return items
    small = {k for k, v in value.items() if _is_small(v) and k not in first}
    order = [k for k in first if k in value]
    order += [k for k in value if k in small] + [
        k for k in value if k not in small and k not in first
    ]
    kept: dict[str, Any] = {}
    used = 2
    for key in order:
        if used >= budget:
            break
        part = preview(value[key], budget - used, depth + 1, strings=strings)
        used += len(key) + 4 + len(dumps(part))
        kept[key] = part
    result = {clean(k): kept[k] for k in value if k in kept}
    if len(kept) < len(value):
        result["…"] = f"+{len(value) - len(kept)} fields"
    return result


def _is_small(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 256
    return not isinstance(value, (list, dict))


def chunks(text: str, limit: int = CHUNK_MAX) -> list[str]:
    """``text`` cut into pieces whose stored JSON (escapes included) is at most ``limit``."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        size = limit
        piece = text[start : start + size]
        while len(json.dumps(piece, ensure_ascii=False)) > limit:
            size //= 2
            piece = text[start : start + size]
        pieces.append(piece)
        start += len(piece)
    return pieces


def batches(pieces: list[str], limit: int = BATCH_MAX) -> list[list[str]]:
    """Consecutive chunks grouped so that each group's stored JSON is at most ``limit``."""
    groups: list[list[str]] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        size = len(json.dumps(piece, ensure_ascii=False))
        if current and used + size > limit:
            groups.append(current)
            current, used = [], 0
        current.append(piece)
        used += size
    if current:
        groups.append(current)
    return groups


def reassemble(raw: str, fields: dict[str, str]) -> Any:
    """The payload from ``raw`` and the full text of its moved fields."""
    if WHOLE in fields:
        return json.loads(fields[WHOLE])
    payload = json.loads(raw)
    for key, text in fields.items():
        payload[key] = json.loads(text)
    return payload
