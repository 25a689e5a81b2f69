"""Transcript files for the tests, modelled on the reference (§1.10): user and assistant records,
``tool_use`` / ``tool_result`` blocks, one API response written as several lines with the same
``message.id`` + ``requestId`` (and a streaming duplicate), a response without ``requestId``, a
subagent file, a garbage line, an unknown record type and metadata records.

Session ``S1`` (project ``/home/u/app``) uses Sonnet and Haiku (main file and a subagent);
``S2`` (``/home/u/other``) a model no price table knows. The expected totals are below.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
MYSTERY = "claude-mystery-9"
APP_CWD, OTHER_CWD = "/home/u/app", "/home/u/other"
T0 = datetime(2026, 1, 10, 9, 0, 0, tzinfo=UTC)

# (message.id, requestId) counted once each: msg_1 keeps its largest line (output 50)
SONNET_TOKENS = {"input": 35, "output": 120, "cache_creation": 100, "cache_read": 1100}
HAIKU_TOKENS = {"input": 115, "output": 17, "cache_creation": 0, "cache_read": 0}
S1_TOKENS = {"input": 150, "output": 137, "cache_creation": 100, "cache_read": 1100}
S2_TOKENS = {"input": 9, "output": 11, "cache_creation": 0, "cache_read": 0}
S1_COST = (35 * 3 + 120 * 15 + 100 * 3.75 + 1100 * 0.3 + 115 * 1 + 17 * 5) / 1e6  # defaults
S1_EVENT_TYPES = [
    "UserPromptSubmit",
    "PreToolUse",
    "PreToolUse",
    "PostToolUse",
    "SubagentStop",
    "PostToolUse",
    "PreToolUse",
    "PostToolUseFailure",
    "Stop",
    "UserPromptSubmit",
    "Stop",
]


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ms(seconds: float) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1000)


def usage(i: int, o: int, cc: int = 0, cr: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": i,
        "output_tokens": o,
        "cache_creation_input_tokens": cc,
        "cache_read_input_tokens": cr,
        "service_tier": "standard",
    }


def envelope(session: str, uid: str, at: float, cwd: str, **extra: Any) -> dict[str, Any]:
    return {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.1.240",
        "gitBranch": "main",
        "uuid": uid,
        "timestamp": ts(at),
        **extra,
    }


def user(
    session: str, uid: str, at: float, content: Any, cwd: str = APP_CWD, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "user",
        "message": {"role": "user", "content": content},
        **envelope(session, uid, at, cwd, **extra),
    }


def assistant(
    session: str,
    uid: str,
    at: float,
    msg_id: str,
    request: str | None,
    blocks: list[dict[str, Any]],
    use: dict[str, Any],
    model: str = SONNET,
    cwd: str = APP_CWD,
    **extra: Any,
) -> dict[str, Any]:
    record = {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": None,
            "usage": use,
        },
        **envelope(session, uid, at, cwd, **extra),
    }
    if request is not None:
        record["requestId"] = request
    return record


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(use_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": use_id, "name": name, "input": tool_input}


def result(use_id: str, content: str, error: bool = False) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use_id, "content": content, "is_error": error}


def s1_lines() -> list[Any]:
    bash = tool_use("toolu_1", "Bash", {"command": "pytest -q"})
    return [
        {"type": "file-history-snapshot", "messageId": "x", "snapshot": {}},
        user(S1, "u1", 0, "Fix the tests"),
        assistant(
            S1,
            "a1",
            1,
            "msg_1",
            "req_1",
            [{"type": "thinking", "thinking": "hm"}],
            usage(10, 5, 100, 0),
        ),
        assistant(S1, "a2", 2, "msg_1", "req_1", [bash], usage(10, 50, 100, 0)),
        assistant(S1, "a2", 2, "msg_1", "req_1", [bash], usage(10, 50, 100, 0)),  # streamed again
        user(
            S1,
            "u2",
            5,
            [result("toolu_1", "1 failed")],
            toolUseResult={"stdout": "1 failed", "stderr": "", "interrupted": False},
        ),
        assistant(
            S1,
            "a3",
            6,
            "msg_2",
            "req_2",
            [tool_use("toolu_2", "Read", {"file_path": "/home/u/app/x.py"})],
            usage(20, 30, 0, 500),
        ),
        user(S1, "u3", 7, [result("toolu_2", "File does not exist.", error=True)]),
        assistant(S1, "a4", 8, "msg_3", None, [text("Done: fixed.")], usage(5, 40, 0, 600)),
        assistant(S1, "a4b", 8.5, "msg_3", None, [text("Done: fixed.")], usage(5, 40, 0, 600)),
        "{this is not json",
        {"type": "weird-new-type", "payload": [1, 2]},
        user(S1, "u4", 59, "<local-command-caveat>Caveat: ...</local-command-caveat>", isMeta=True),
        user(S1, "u5", 60, "<command-name>/compact</command-name>\n<command-args></command-args>"),
        assistant(
            S1, "a5", 60.5, "msg_syn", None, [text("API Error")], usage(0, 0), model="<synthetic>"
        ),
        assistant(
            S1, "a6", 61, "msg_4", "req_4", [text("Compacted.")], usage(100, 10), model=HAIKU
        ),
        {"type": "summary", "summary": "Fixing tests", "leafUuid": "a6"},
    ]


def subagent_lines() -> list[Any]:
    side = {"isSidechain": True, "agentId": "abc"}
    return [
        user(S1, "s1", 3, "Search for X", **side),
        assistant(
            S1,
            "s2",
            3.5,
            "msg_s1",
            "req_s1",
            [tool_use("toolu_s1", "Grep", {"pattern": "X"})],
            usage(7, 3),
            model=HAIKU,
            **side,
        ),
        user(S1, "s3", 4, [result("toolu_s1", "found")], **side),
        assistant(
            S1,
            "s4",
            4.5,
            "msg_s2",
            "req_s2",
            [text("X is in a.py")],
            usage(8, 4),
            model=HAIKU,
            **side,
        ),
    ]


def s2_lines() -> list[Any]:
    return [
        user(S2, "v1", 3600, "Hello", cwd=OTHER_CWD),
        assistant(
            S2,
            "w1",
            3601,
            "msg_m1",
            "req_m1",
            [text("Hi!")],
            usage(9, 11),
            model=MYSTERY,
            cwd=OTHER_CWD,
        ),
    ]


def _write(path: Path, lines: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def write_projects(projects: Path) -> Path:
    """The fixture transcripts under ``projects`` (a Claude Code projects folder)."""
    _write(projects / "-home-u-app" / f"{S1}.jsonl", s1_lines())
    _write(projects / "-home-u-app" / S1 / "subagents" / "agent-abc.jsonl", subagent_lines())
    _write(projects / "-home-u-other" / f"{S2}.jsonl", s2_lines())
    return projects
