"""Read Claude Code transcript JSONL files: sessions, hook-like events and token usage (pure: no
network; the only I/O is reading the files).

Where (reference §1.10): ``<projects>/<project>/<session-id>.jsonl`` for a session and
``<projects>/<project>/<session-id>/subagents/agent-<id>.jsonl`` for its subagents (attributed to
the parent session). ``default_roots`` lists the projects folders Claude Code uses.

The format is internal to Claude Code and changes between versions, so parsing is defensive: a
line that is not a JSON object is counted in ``bad_lines`` and skipped, a record of an unknown
``type`` is passed over (counted in ``unknown_types``), a field of an unexpected shape is treated
as absent.

**Events.** The records are mapped onto the hook events the live hook sends, so the feed shows
them the same way: a user text record (not ``isMeta``, not a sidechain, not a local command's
output) is a ``UserPromptSubmit``; an assistant ``tool_use`` block a ``PreToolUse``; the matching
``tool_result`` block a ``PostToolUse`` (``PostToolUseFailure`` when ``is_error``); the last
assistant record of a turn, when it holds text and no tool call, a ``Stop`` (``SubagentStop`` at
the end of a subagent file). Event ids are deterministic, ``transcript:<uuid5>`` of the session
and the record's ``uuid`` (prompts, stops) or the ``tool_use_id`` (tool events), so an import
repeated stores nothing twice.

**Tokens** (reference §1.10): one API response is written as several lines (one per content
block, plus streaming duplicates), each repeating ``message.id`` and the ``usage``. Usage is
therefore counted once per API response, keyed by ``(message.id, requestId)`` — ``message.id``
alone when ``requestId`` is missing — keeping, of the lines with the same key, the one with the
largest token counts. The key is global to a scan: a response found in several files (a resumed
session's copied history) counts once, for the session whose transcript starts first.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agentfeed.pricing import Pricing

NAMESPACE = uuid.UUID("5b0f3c1e-7d52-4d8e-9a39-0c6f1b7e2a41")
"""uuid5 namespace of imported event ids (fixed: changing it would duplicate every import)."""
EVENT_ID_PREFIX = "transcript:"
SOURCE_MARK = "transcript"
"""Value of ``agentfeed_origin`` in every imported payload (the raw event shows its origin)."""
PROMPT_WINDOW_MS = 10_000
STOP_WINDOW_MS = 120_000
KNOWN_TYPES = frozenset(
    {
        "user", "assistant", "system", "attachment", "summary", "ai-title", "custom-title",
        "file-history-snapshot", "queue-operation", "mode", "permission-mode", "last-prompt",
        "progress", "cost-state",
    }
)  # fmt: skip
SKIPPED_PROMPT_PREFIXES = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "[Request interrupted",
)
SYNTHETIC_MODELS = frozenset({"<synthetic>"})


# -- where the files are -------------------------------------------------------------------------


def default_roots(env: dict[str, str] | None = None) -> list[Path]:
    """The projects folders to scan: ``<dir>/projects`` for each of the comma-separated
    ``CLAUDE_CONFIG_DIR`` entries when it is set, else ``$XDG_CONFIG_HOME/claude/projects``
    (default ``~/.config``) and ``~/.claude/projects``; only those that exist."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME") or Path.home())
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    if configured:
        candidates = [Path(p).expanduser() / "projects" for p in configured]
    else:
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        candidates = [xdg / "claude" / "projects", home / ".claude" / "projects"]
    seen: list[Path] = []
    for candidate in candidates:
        if candidate.is_dir() and candidate.resolve() not in [s.resolve() for s in seen]:
            seen.append(candidate)
    return seen


@dataclass(frozen=True)
class TranscriptFile:
    """A transcript: the session it belongs to, and the subagent's id for a subagent file."""

    path: Path
    session_id: str
    agent_id: str | None = None


def find_files(roots: Iterable[Path]) -> list[TranscriptFile]:
    """Every transcript under ``roots`` (a projects folder, one project's folder, or a file)."""
    found: dict[Path, TranscriptFile] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*.jsonl"))
        for path in paths:
            if path.name == "history.jsonl" or "tool-results" in path.parts:
                continue
            if path.parent.name == "subagents":
                agent = path.stem.removeprefix("agent-")
                found[path] = TranscriptFile(path, path.parent.parent.name, agent)
            else:
                found[path] = TranscriptFile(path, path.stem)
    return list(found.values())


# -- records -------------------------------------------------------------------------------------


@dataclass
class Tokens:
    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read

    def add(self, other: Tokens) -> None:
        self.input += other.input
        self.output += other.output
        self.cache_creation += other.cache_creation
        self.cache_read += other.cache_read

    def as_doc(self) -> dict[str, float]:
        return {
            "input": float(self.input),
            "output": float(self.output),
            "cache_read": float(self.cache_read),
            "cache_creation": float(self.cache_creation),
        }


def tokens_of(usage: object) -> Tokens | None:
    """The four counts of an API ``usage`` object (missing or odd fields count 0)."""
    if not isinstance(usage, dict):
        return None

    def count(key: str) -> int:
        value = usage.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return int(value)
        return 0

    return Tokens(
        count("input_tokens"),
        count("output_tokens"),
        count("cache_creation_input_tokens"),
        count("cache_read_input_tokens"),
    )


def timestamp_ms(value: object) -> float | None:
    """ISO-8601 (``2026-08-01T10:00:00.123Z``) or a number, as ms since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value >= 10**11 else float(value) * 1000
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp() * 1000


@dataclass
class Record:
    """One usable line: its position, its time (None if it has none) and the object."""

    line: int
    timestamp: float | None
    data: dict[str, Any]


@dataclass
class FileScan:
    file: TranscriptFile
    records: list[Record] = field(default_factory=list)
    bad_lines: int = 0
    unknown_types: Counter[str] = field(default_factory=Counter)


def read_file(file: TranscriptFile) -> FileScan:
    """The records of one file in time order (lines without a time keep their place)."""
    scan = FileScan(file)
    try:
        handle = file.path.open("rb")
    except OSError:
        scan.bad_lines += 1
        return scan
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                scan.bad_lines += 1
                continue
            if not isinstance(data, dict):
                scan.bad_lines += 1
                continue
            kind = data.get("type")
            if not isinstance(kind, str) or kind not in KNOWN_TYPES:
                scan.unknown_types[str(kind)] += 1
            scan.records.append(Record(number, timestamp_ms(data.get("timestamp")), data))
    keyed: list[tuple[float, int, Record]] = []
    last = 0.0
    for record in scan.records:  # a line without a time sorts with the line before it
        last = record.timestamp if record.timestamp is not None else last
        keyed.append((last, record.line, record))
    keyed.sort(key=lambda k: (k[0], k[1]))
    scan.records = [k[2] for k in keyed]
    return scan


# -- sessions ------------------------------------------------------------------------------------


@dataclass
class ModelUsage:
    model: str
    tokens: Tokens = field(default_factory=Tokens)
    requests: int = 0


@dataclass
class Session:
    """What the transcripts say about one session."""

    session_id: str
    transcript_path: str | None = None
    cwd: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    files: int = 0
    event_ids: set[str] = field(default_factory=set)

    @property
    def tokens(self) -> Tokens:
        total = Tokens()
        for entry in self.usage.values():
            total.add(entry.tokens)
        return total

    @property
    def model(self) -> str | None:
        """The model that wrote the most output (the session's main model)."""
        ranked = sorted(self.usage.values(), key=lambda u: (-u.tokens.output, -u.requests))
        return ranked[0].model if ranked else None

    def seen(self, ts: float | None) -> None:
        if ts is None:
            return
        self.started_at = ts if self.started_at is None else min(self.started_at, ts)
        self.ended_at = ts if self.ended_at is None else max(self.ended_at, ts)


@dataclass
class Scan:
    """The result of reading a set of transcripts."""

    sessions: list[Session]
    files: int = 0
    bad_lines: int = 0
    unknown_types: Counter[str] = field(default_factory=Counter)
    responses: int = 0
    duplicate_lines: int = 0
    """Lines with usage that repeated an API response already counted."""

    @property
    def events(self) -> int:
        return sum(len(s.events) for s in self.sessions)


def event_id(session_id: str, kind: str, key: str) -> str:
    return EVENT_ID_PREFIX + str(uuid.uuid5(NAMESPACE, f"{session_id}/{kind}/{key}"))


def _text(content: object) -> str | None:
    """The text of a user message's content (a string, or its ``text`` blocks joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        return "\n".join(parts) if parts else None
    return None


def _blocks(message: object) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _tag(text: str, name: str) -> str | None:
    start, end = text.find(f"<{name}>"), text.find(f"</{name}>")
    if start < 0 or end < start:
        return None
    return text[start + len(name) + 2 : end].strip()


def prompt_text(text: str) -> str | None:
    """What the user typed, from a user record's text; None for records that are not prompts
    (a local command's output, an interruption notice). A slash command, written as
    ``<command-name>/x</command-name><command-args>a</command-args>``, becomes ``/x a``."""
    stripped = text.strip()
    if not stripped or stripped.startswith(SKIPPED_PROMPT_PREFIXES):
        return None
    command = _tag(stripped, "command-name")
    if command is not None:
        args = _tag(stripped, "command-args")
        return f"{command} {args}" if args else command
    return stripped


def _result_text(block: dict[str, Any]) -> str | None:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return _text(content)


class _Builder:
    """Turns the records of one file into events of its session."""

    def __init__(self, session: Session, file: TranscriptFile, tools: dict[str, Any]) -> None:
        self.session = session
        self.file = file
        self.tools = tools  # tool_use_id -> (name, input), shared by a session's files
        self.last_assistant: Record | None = None
        self.turn_has_tool = False

    def base(self, kind: str, ts: float, record: Record | None) -> dict[str, Any]:
        data = record.data if record is not None else {}
        payload: dict[str, Any] = {
            "hook_event_name": kind,
            "session_id": self.session.session_id,
            "timestamp": int(ts),
            "agentfeed_origin": SOURCE_MARK,
        }
        cwd = data.get("cwd") if isinstance(data.get("cwd"), str) else self.session.cwd
        if cwd:
            payload["cwd"] = cwd
        payload["transcript_path"] = str(self.file.path)
        agent = self.file.agent_id or (
            data.get("agentId") if isinstance(data.get("agentId"), str) else None
        )
        if agent and (self.file.agent_id or data.get("isSidechain") is True):
            payload["agent_id"] = agent
        if isinstance(data.get("uuid"), str):
            payload["transcript_uuid"] = data["uuid"]
        return payload

    def emit(self, payload: dict[str, Any], key: str, window: tuple[float, float]) -> None:
        kind = payload["hook_event_name"]
        payload["event_id"] = event_id(self.session.session_id, kind, key)
        if payload["event_id"] in self.session.event_ids:
            return  # the same block written again (a streamed response)
        self.session.event_ids.add(payload["event_id"])
        payload["match_window"] = [int(window[0]), int(window[1])]
        self.session.events.append(payload)

    def record_key(self, record: Record) -> str:
        uid = record.data.get("uuid")
        return uid if isinstance(uid, str) and uid else f"{self.file.path.name}:{record.line}"

    def close_turn(self, until: float | None) -> None:
        """A Stop for the turn that ends here, if its last assistant record is a text reply."""
        record = self.last_assistant
        self.last_assistant = None
        if record is None or record.timestamp is None:
            return
        blocks = _blocks(record.data.get("message"))
        text = "\n".join(
            b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
        )
        if not text or any(b.get("type") == "tool_use" for b in blocks):
            return
        kind = "SubagentStop" if self.file.agent_id else "Stop"
        ts = record.timestamp
        payload = self.base(kind, ts, record)
        payload["last_assistant_message"] = text
        payload["stop_hook_active"] = False
        end = min(until, ts + STOP_WINDOW_MS) if until is not None else ts + STOP_WINDOW_MS
        self.emit(payload, self.record_key(record), (ts - 5_000, max(end, ts)))

    def add(self, record: Record) -> None:
        data, ts = record.data, record.timestamp
        kind = data.get("type")
        if kind not in ("user", "assistant") or ts is None:
            return
        if self.session.cwd is None and isinstance(data.get("cwd"), str):
            self.session.cwd = data["cwd"]
        message = data.get("message")
        if kind == "assistant":
            if _blocks(message) or isinstance(message, dict):
                self.last_assistant = record
            for block in _blocks(message):
                if block.get("type") != "tool_use" or not isinstance(block.get("id"), str):
                    continue
                name = block.get("name") if isinstance(block.get("name"), str) else "unknown"
                tool_input = block.get("input", {})
                self.tools[block["id"]] = (name, tool_input)
                payload = self.base("PreToolUse", ts, record)
                payload.update(tool_name=name, tool_input=tool_input, tool_use_id=block["id"])
                self.emit(payload, block["id"], (ts - 60_000, ts + 60_000))
            return
        # a user record: tool results, or a prompt
        for block in _blocks(message):
            if block.get("type") != "tool_result" or not isinstance(block.get("tool_use_id"), str):
                continue
            use_id = block["tool_use_id"]
            name, tool_input = self.tools.get(use_id, ("unknown", None))
            failed = block.get("is_error") is True
            payload = self.base("PostToolUseFailure" if failed else "PostToolUse", ts, record)
            payload.update(tool_name=name, tool_use_id=use_id)
            if tool_input is not None:
                payload["tool_input"] = tool_input
            result = data.get("toolUseResult")
            response = result if result is not None else _result_text(block)
            if failed:
                payload["error"] = _result_text(block) or (
                    response if isinstance(response, str) else "error"
                )
            else:
                payload["tool_response"] = response
            self.emit(payload, f"{use_id}/result", (ts - 60_000, ts + 60_000))
        if data.get("isMeta") is True or data.get("isSidechain") is True or self.file.agent_id:
            return
        text = _text(message.get("content") if isinstance(message, dict) else None)
        prompt = prompt_text(text) if text is not None else None
        if prompt is None:
            return
        self.close_turn(ts)
        payload = self.base("UserPromptSubmit", ts, record)
        payload["prompt"] = prompt
        self.emit(payload, self.record_key(record), (ts - PROMPT_WINDOW_MS, ts + PROMPT_WINDOW_MS))


@dataclass
class _Response:
    session_id: str
    model: str
    tokens: Tokens


def response_key(data: dict[str, Any], fallback: str) -> str:
    """The dedup key of an assistant line's usage: ``message.id`` + ``requestId``, or
    ``message.id`` alone when ``requestId`` is missing; ``fallback`` (the line itself) when the
    message has no id."""
    message = data.get("message")
    message_id = message.get("id") if isinstance(message, dict) else None
    request_id = data.get("requestId")
    if not isinstance(message_id, str) or not message_id:
        return f"line:{fallback}"
    if isinstance(request_id, str) and request_id:
        return f"{message_id}:{request_id}"
    return message_id


def scan(files: Iterable[TranscriptFile]) -> Scan:
    """Read every file and build its sessions: metadata, events and deduplicated usage."""
    scans = [read_file(f) for f in files]

    def first_time(s: FileScan) -> tuple[float, int, str]:
        times = [r.timestamp for r in s.records if r.timestamp is not None]
        return (
            min(times) if times else float("inf"),
            1 if s.file.agent_id else 0,
            str(s.file.path),
        )

    scans.sort(key=first_time)
    result = Scan([])
    sessions: dict[str, Session] = {}
    tools: dict[str, dict[str, Any]] = {}
    responses: dict[str, _Response] = {}
    for file_scan in scans:
        file = file_scan.file
        result.files += 1
        result.bad_lines += file_scan.bad_lines
        result.unknown_types.update(file_scan.unknown_types)
        session = sessions.get(file.session_id)
        if session is None:
            session = sessions[file.session_id] = Session(file.session_id)
        session.files += 1
        if file.agent_id is None:
            session.transcript_path = str(file.path)
        builder = _Builder(session, file, tools.setdefault(file.session_id, {}))
        for record in file_scan.records:
            data = record.data
            if data.get("type") in ("user", "assistant", "system", "attachment"):
                session.seen(record.timestamp)
            builder.add(record)
            if data.get("type") != "assistant":
                continue
            message = data.get("message")
            tokens = tokens_of(message.get("usage") if isinstance(message, dict) else None)
            if tokens is None:
                continue
            model = message.get("model") if isinstance(message, dict) else None
            model = model if isinstance(model, str) and model else "unknown"
            key = response_key(data, f"{file.path}:{record.line}")
            known = responses.get(key)
            if known is None:
                responses[key] = _Response(file.session_id, model, tokens)
            else:
                result.duplicate_lines += 1
                if tokens.total > known.tokens.total:
                    known.tokens, known.model = tokens, model
        builder.close_turn(None)
    for response in responses.values():
        if response.model in SYNTHETIC_MODELS and response.tokens.total == 0:
            continue
        session = sessions[response.session_id]
        entry = session.usage.setdefault(response.model, ModelUsage(response.model))
        entry.tokens.add(response.tokens)
        entry.requests += 1
    result.responses = len(responses)
    result.sessions = sorted(sessions.values(), key=lambda s: (s.started_at or 0, s.session_id))
    for session in result.sessions:
        session.events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    return result


# -- cost and what is sent -----------------------------------------------------------------------


@dataclass
class Costed:
    """A session's usage document (what ``POST /import/usage`` takes) and the models it used
    that the price table does not know."""

    doc: dict[str, Any]
    unpriced: list[str]


def usage_doc(session: Session, pricing: Pricing) -> Costed:
    """The session's usage with costs: per model, and the total (None when a model that used
    tokens has no price)."""
    rows: list[dict[str, Any]] = []
    unpriced: list[str] = []
    total: float | None = 0.0
    for entry in sorted(session.usage.values(), key=lambda u: u.model):
        price = pricing.lookup(entry.model)
        t = entry.tokens
        cost = price.cost(t.input, t.output, t.cache_creation, t.cache_read) if price else None
        if cost is None and t.total > 0:
            unpriced.append(entry.model)
            total = None
        elif total is not None and cost is not None:
            total += cost
        rows.append(
            {
                "model": entry.model,
                **t.as_doc(),
                "requests": float(entry.requests),
                "cost_usd": cost,
            }
        )
    doc: dict[str, Any] = {
        "session_id": session.session_id,
        "tokens": session.tokens.as_doc(),
        "usage": rows,
        "cost_usd": round(total, 6) if total is not None else None,
    }
    for key, value in (
        ("cwd", session.cwd),
        ("started_at", session.started_at),
        ("ended_at", session.ended_at),
        ("model", session.model),
        ("transcript_path", session.transcript_path),
    ):
        if value is not None:
            doc[key] = value
    return Costed(doc, unpriced)


def iter_batches(items: list[dict[str, Any]], count: int, max_bytes: int) -> Iterator[list[Any]]:
    """``items`` in batches of at most ``count`` items and about ``max_bytes`` of JSON (an item
    larger than that goes alone)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        if batch and (len(batch) >= count or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
