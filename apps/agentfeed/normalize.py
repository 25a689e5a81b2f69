"""From a raw payload to the normalised fields of an event (pure: stdlib only, no database).

``hook_problem`` / ``activity_problem`` say why a payload cannot be stored (the reason kept in
``rejected_events``), or ``None``; ``normalize_hook`` / ``normalize_activity`` turn a usable
payload into the event's fields: type, subtype (what the hook's matcher matches on), session,
cwd, project path, tool name and use id, input/response excerpts, success, prompt, a one-line
summary and the event time. Every hook event type of Claude Code v2.1.240 has its own summary;
an unknown type is kept as given with a generic one. Fields of the wrong type are treated as
absent: only what makes an event unusable (no event name, an event id that is not a usable string)
rejects it. A raw Claude Code payload (a ``type: "http"`` hook, a hand-written script, ``curl``)
has neither ``event_id`` nor ``timestamp``: the server gives it an id and the time it got it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

HOOK_SOURCE = "claude-code"
SUMMARY_CHARS = 200
SUBJECT_CHARS = 120
EXCERPT_CHARS = 2000
PROMPT_CHARS = 4000
ID_CHARS = 256
SECONDS_BELOW = 10**11  # a timestamp below this is in seconds, above it in milliseconds
CLIP_MARK = re.compile(r"…\[\+(\d+) chars\]$")

Payload = Mapping[str, Any]
Fields = dict[str, Any]

# Where a payload may name its project root (as CLAUDE_PROJECT_DIR does for hooks); else cwd.
HOOK_PROJECT_KEYS = ("project_dir", "claude_project_dir", "CLAUDE_PROJECT_DIR")
ACTIVITY_PROJECT_KEYS = ("project",)

# The field the hook's matcher is compared with, per event type (reference §1.3).
SUBTYPE_KEYS: dict[str, tuple[str, ...]] = {
    "SessionStart": ("source",),
    "Setup": ("trigger",),
    "InstructionsLoaded": ("load_reason",),
    "UserPromptExpansion": ("command_name",),
    "Notification": ("notification_type",),
    "SubagentStart": ("agent_type",),
    "SubagentStop": ("agent_type",),
    "StopFailure": ("error",),
    "ConfigChange": ("source",),
    "FileChanged": ("event",),
    "PreCompact": ("trigger",),
    "PostCompact": ("trigger",),
    "Elicitation": ("mcp_server_name", "server_name"),
    "ElicitationResult": ("mcp_server_name", "server_name"),
    "SessionEnd": ("reason",),
}

# The tool_input field that best says what a call does, per tool (§1.4); Agent was Task.
TOOL_SUBJECT_KEYS: dict[str, tuple[str, ...]] = {
    "Bash": ("command",),
    "PowerShell": ("command",),
    "Write": ("file_path",),
    "Edit": ("file_path",),
    "MultiEdit": ("file_path",),
    "Read": ("file_path",),
    "NotebookEdit": ("notebook_path", "file_path"),
    "Glob": ("pattern",),
    "Grep": ("pattern",),
    "WebFetch": ("url",),
    "WebSearch": ("query",),
    "Agent": ("description", "subagent_type", "prompt"),
    "Task": ("description", "subagent_type", "prompt"),
    "TaskCreate": ("subject", "description"),
    "TaskUpdate": ("taskId", "status"),
    "Skill": ("skill", "command"),
}
GENERIC_SUBJECT_KEYS = (
    "command", "file_path", "path", "url", "query", "pattern", "description", "prompt", "name",
)  # fmt: skip


# -- small helpers --------------------------------------------------------------------------------


def clean(text: str) -> str:
    """``text`` without lone surrogates (JSON can carry them; storage refuses them)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut is marked with how much was left out (a text already
    clipped keeps counting what its first cut left out)."""
    text = clean(text)
    if len(text) <= limit:
        return text
    before = 0
    earlier = CLIP_MARK.search(text)
    if earlier is not None:
        text, before = text[: earlier.start()], int(earlier.group(1))
    marker = f"…[+{max(len(text) - limit, 0) + before} chars]"
    return text[: max(limit - len(marker), 0)] + marker


def one_line(text: str, limit: int) -> str:
    """The text with runs of whitespace collapsed, clipped: fit for a feed line."""
    return clip(re.sub(r"\s+", " ", text).strip(), limit)


def dumps(value: Any) -> str:
    """Compact JSON text; non-ASCII kept as is unless the value holds lone surrogates."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))


def text_of(payload: Payload, *keys: str) -> str | None:
    """The first of ``keys`` whose value is a non-empty string."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def number_of(payload: Payload, key: str) -> float | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def timestamp_ms(value: object) -> float | None:
    """Milliseconds since the epoch from a number in ms (or in s, if below 10^11)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if number != number or number <= 0 or number == float("inf"):
        return None
    return number * 1000 if number < SECONDS_BELOW else number


def project_path(path: str) -> str:
    """A directory path without its trailing separator (a root stays as it is)."""
    stripped = path.rstrip("/\\")
    return stripped or path


def project_name(path: str) -> str:
    """The last component of a project path: ``/home/u/app`` -> ``app``, ``C:\\src\\x`` -> ``x``."""
    parts = [p for p in re.split(r"[/\\]", path) if p]
    return parts[-1] if parts else path


def day_of(ts_ms: float) -> str:
    """The UTC day of a timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A string as it is, anything else as JSON, clipped."""
    return clip(value if isinstance(value, str) else dumps(value), limit)


def _valid_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= ID_CHARS
        and value.strip() == value
        and clean(value) == value
    )


# -- hooks ----------------------------------------------------------------------------------------


def hook_problem(payload: object) -> str | None:
    """Why a ``POST /event`` payload cannot be stored as an event, or ``None``."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    name = payload.get("hook_event_name")
    if name is None:
        if "raw" in payload:
            return "the hook's stdin was not JSON (kept as sent in 'raw')"
        return "no hook_event_name: not a Claude Code hook event (other sources: POST /activity)"
    if not isinstance(name, str) or not name.strip() or len(name) > ID_CHARS:
        return "hook_event_name must be a non-empty string"
    if "event_id" in payload and not _valid_id(payload["event_id"]):
        return f"event_id must be a string of 1..{ID_CHARS} characters without surrounding spaces"
    return None


def tool_subject(tool_name: str, tool_input: object) -> str | None:
    """What a tool call works on: the command, the file, the pattern, the URL..."""
    if not isinstance(tool_input, dict):
        return None
    if tool_name == "TodoWrite" and isinstance(tool_input.get("todos"), list):
        return f"{len(tool_input['todos'])} todos"
    keys = TOOL_SUBJECT_KEYS.get(tool_name, GENERIC_SUBJECT_KEYS)
    found = text_of(tool_input, *keys)
    if found is None:
        found = next((v for v in tool_input.values() if isinstance(v, str) and v.strip()), None)
    return one_line(found, SUBJECT_CHARS) if found is not None else None


def tool_line(payload: Payload) -> str:
    """``Bash: pytest -q``, ``Write: /home/u/app/x.py``, or the tool name alone."""
    name = text_of(payload, "tool_name") or "tool"
    subject = tool_subject(name, payload.get("tool_input"))
    return f"{name}: {subject}" if subject else name


def _first_line(text: str | None) -> str | None:
    if text is None:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else None


def _with(head: str, tail: str | None) -> str:
    return f"{head}: {tail}" if tail else head


def _in_parens(head: str, note: str | None) -> str:
    return f"{head} ({note})" if note else head


def _session_start(p: Payload) -> str:
    line = _in_parens("Session started", text_of(p, "source"))
    model = text_of(p, "model")
    return f"{line} · {model}" if model else line


def _prompt(p: Payload) -> str:
    return text_of(p, "prompt") or "(empty prompt)"


def _expansion(p: Payload) -> str:
    command = text_of(p, "command_name")
    if command is None:
        return _with("Command expanded", text_of(p, "prompt"))
    args = text_of(p, "command_args")
    return f"/{command.lstrip('/')} {args}" if args else f"/{command.lstrip('/')}"


def _tool_failure(p: Payload) -> str:
    what = "interrupted" if p.get("is_interrupt") is True else "failed"
    return _with(f"{tool_line(p)} — {what}", _first_line(text_of(p, "error")))


def _denied(p: Payload) -> str:
    line = f"Permission denied: {tool_line(p)}"
    reason = text_of(p, "reason")
    return f"{line} — {reason}" if reason else line


def _tool_batch(p: Payload) -> str:
    calls = p.get("tool_calls")
    return f"Tool batch finished: {len(calls)} calls" if isinstance(calls, list) else "Tool batch"


def _stop_failure(p: Payload) -> str:
    detail = text_of(p, "error_details", "last_assistant_message")
    return _with(_in_parens("Turn failed", text_of(p, "error")), detail)


def _subagent_stop(p: Payload) -> str:
    head = _with("Subagent finished", text_of(p, "agent_type"))
    message = text_of(p, "last_assistant_message")
    return f"{head} — {message}" if message else head


def _elicitation(p: Payload) -> str:
    server = text_of(p, "mcp_server_name", "server_name") or "MCP server"
    return _with(f"{server} asks", text_of(p, "message", "title"))


def _elicitation_result(p: Payload) -> str:
    server = text_of(p, "mcp_server_name", "server_name") or "MCP server"
    return _in_parens(f"{server}: elicitation answered", text_of(p, "action"))


SUMMARIES: dict[str, Callable[[Payload], str]] = {
    "SessionStart": _session_start,
    "Setup": lambda p: _in_parens("Setup", text_of(p, "trigger")),
    "InstructionsLoaded": lambda p: _in_parens(
        _with("Instructions loaded", text_of(p, "file_path")), text_of(p, "load_reason")
    ),
    "UserPromptSubmit": _prompt,
    "UserPromptExpansion": _expansion,
    "PreToolUse": tool_line,
    "PermissionRequest": lambda p: f"Permission asked: {tool_line(p)}",
    "PermissionDenied": _denied,
    "PostToolUse": tool_line,
    "PostToolUseFailure": _tool_failure,
    "PostToolBatch": _tool_batch,
    "Notification": lambda p: text_of(p, "message", "title") or "Notification",
    "MessageDisplay": lambda p: text_of(p, "delta") or "Message",
    "SubagentStart": lambda p: _with("Subagent started", text_of(p, "agent_type")),
    "SubagentStop": _subagent_stop,
    "TaskCreated": lambda p: _with("Task created", text_of(p, "task_subject", "task_id")),
    "TaskCompleted": lambda p: _with("Task completed", text_of(p, "task_subject", "task_id")),
    "TeammateIdle": lambda p: _with(
        "Teammate idle", text_of(p, "teammate_name", "agent_type", "agent_id")
    ),
    "Stop": lambda p: text_of(p, "last_assistant_message") or "Turn finished",
    "StopFailure": _stop_failure,
    "ConfigChange": lambda p: _with("Settings changed", text_of(p, "file_path", "source")),
    "CwdChanged": lambda p: f"cd {text_of(p, 'new_cwd', 'cwd') or '?'}",
    "DirectoryAdded": lambda p: _with(
        "Directory added", text_of(p, "directory", "path", "added_directory", "dir")
    ),
    "FileChanged": lambda p: _with(
        f"File {text_of(p, 'event') or 'changed'}", text_of(p, "file_path")
    ),
    "WorktreeCreate": lambda p: _with(
        "Worktree created", text_of(p, "worktree_path", "path", "name", "branch")
    ),
    "WorktreeRemove": lambda p: _with(
        "Worktree removed", text_of(p, "worktree_path", "path", "name", "branch")
    ),
    "PreCompact": lambda p: _in_parens("Compacting context", text_of(p, "trigger")),
    "PostCompact": lambda p: _with(
        _in_parens("Context compacted", text_of(p, "trigger")), text_of(p, "compact_summary")
    ),
    "Elicitation": _elicitation,
    "ElicitationResult": _elicitation_result,
    "SessionEnd": lambda p: _in_parens("Session ended", text_of(p, "reason")),
}
KNOWN_TYPES = frozenset(SUMMARIES)
COMMON_KEYS = frozenset(
    {"session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode", "prompt_id",
     "effort", "agent_id", "agent_type", "event_id", "timestamp"}
)  # fmt: skip


def _generic_summary(p: Payload, name: str) -> str:
    specific = {k: v for k, v in p.items() if k not in COMMON_KEYS}
    return _with(name, text_of(specific, "message", "title", "description", "name", "summary"))


def _success(name: str) -> bool | None:
    if name == "PostToolUse":
        return True
    if name in ("PostToolUseFailure", "PermissionDenied", "StopFailure"):
        return False
    return None


def _error(name: str, p: Payload) -> str | None:
    if name == "PostToolUseFailure":
        return text_of(p, "error")
    if name == "PermissionDenied":
        return text_of(p, "reason")
    if name == "StopFailure":
        return text_of(p, "error_details", "last_assistant_message", "error")
    return None


def _project(p: Payload, keys: tuple[str, ...], cwd: str | None) -> str | None:
    root = text_of(p, *keys) or cwd
    return project_path(root) if root is not None else None


def _put(fields: Fields, key: str, value: Any) -> None:
    if value is not None:
        fields[key] = value


def normalize_hook(payload: Payload, generated_id: str = "") -> Fields:
    """The event fields of a hook payload that ``hook_problem`` accepted. ``timestamp`` is left
    out when the payload has none (the caller uses the time it received it); the event id is
    the payload's ``event_id`` (our hook's, so a replay is stored once), else ``generated_id``
    (a raw Claude Code payload carries none)."""
    name = payload["hook_event_name"].strip()
    summary_of = SUMMARIES.get(name)
    summary = summary_of(payload) if summary_of else _generic_summary(payload, name)
    cwd = text_of(payload, "cwd")
    fields: Fields = {
        "event_id": payload.get("event_id") or generated_id,
        "origin": "hook",
        "source": HOOK_SOURCE,
        "type": clean(name),
        "summary": one_line(summary, SUMMARY_CHARS),
    }
    subtype_keys = SUBTYPE_KEYS.get(name, ())
    _put(fields, "subtype", _clipped(text_of(payload, *subtype_keys) if subtype_keys else None))
    _put(fields, "timestamp", timestamp_ms(payload.get("timestamp")))
    _put(fields, "session_id", _clipped(text_of(payload, "session_id"), ID_CHARS))
    _put(fields, "cwd", _clipped(cwd, 1024))
    _put(fields, "project", _clipped(_project(payload, HOOK_PROJECT_KEYS, cwd), 1024))
    tool_name = text_of(payload, "tool_name")
    _put(fields, "tool_name", _clipped(tool_name))
    _put(fields, "tool_use_id", _clipped(text_of(payload, "tool_use_id"), ID_CHARS))
    if "tool_input" in payload:
        fields["tool_input"] = excerpt(payload["tool_input"])
    if "tool_response" in payload:
        fields["tool_response"] = excerpt(payload["tool_response"])
    _put(fields, "success", _success(name))
    if name == "PostToolUseFailure" and isinstance(payload.get("is_interrupt"), bool):
        fields["interrupted"] = payload["is_interrupt"]
    _put(fields, "error", _clipped(_error(name, payload), EXCERPT_CHARS))
    _put(fields, "duration_ms", number_of(payload, "duration_ms"))
    if name in ("UserPromptSubmit", "UserPromptExpansion"):
        _put(fields, "prompt", _clipped(text_of(payload, "prompt"), PROMPT_CHARS))
    for key in ("prompt_id", "agent_id", "agent_type", "permission_mode", "transcript_path"):
        _put(fields, key, _clipped(text_of(payload, key), 1024))
    if name == "SessionStart":
        _put(fields, "model", _clipped(text_of(payload, "model")))
    return fields


def _clipped(text: str | None, limit: int = SUBJECT_CHARS) -> str | None:
    return clip(text, limit) if text is not None else None


# -- generic activity (POST /activity) -------------------------------------------------------------


def activity_problem(payload: object) -> str | None:
    """Why a ``POST /activity`` payload cannot be stored, or ``None``."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    for key in ("source", "type"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > ID_CHARS:
            return f"'{key}' must be a non-empty string of at most {ID_CHARS} characters"
    for key in ("summary", "sessionId", "cwd", "project"):
        if key in payload and payload[key] is not None and not isinstance(payload[key], str):
            return f"'{key}' must be a string"
    if payload.get("id") is not None and not _valid_id(payload["id"]):
        return f"'id' must be a string of 1..{ID_CHARS} characters without surrounding spaces"
    stamp = payload.get("timestamp")
    if stamp is not None and timestamp_ms(stamp) is None:
        return "'timestamp' must be a positive number (milliseconds since the epoch)"
    return None


def activity_event_id(payload: Payload, generated: str) -> str:
    """``source:id`` when the sender gave an id (a resend is stored once; ids of different
    sources never collide), else ``generated``."""
    given = payload.get("id")
    return f"{payload['source'].strip()}:{given}" if isinstance(given, str) else generated


def normalize_activity(payload: Payload, event_id: str) -> Fields:
    """The event fields of an activity that ``activity_problem`` accepted."""
    source, kind = payload["source"].strip(), payload["type"].strip()
    summary = text_of(payload, "summary") or f"{source} {kind}"
    cwd = text_of(payload, "cwd")
    fields: Fields = {
        "event_id": event_id,
        "origin": "activity",
        "source": clean(source),
        "type": clean(kind),
        "summary": one_line(summary, SUMMARY_CHARS),
    }
    _put(fields, "timestamp", timestamp_ms(payload.get("timestamp")))
    _put(fields, "session_id", _clipped(text_of(payload, "sessionId"), ID_CHARS))
    _put(fields, "cwd", _clipped(cwd, 1024))
    _put(fields, "project", _clipped(_project(payload, ACTIVITY_PROJECT_KEYS, cwd), 1024))
    if payload.get("details") is not None:
        fields["details"] = excerpt(payload["details"])
    return fields
