"""Claude Code hook payloads as the agentfeed hook posts them (stdin JSON plus ``event_id`` and
``timestamp``), one for every event type of the reference's catalogue (v2.1.240, §1.3), each with
an unknown extra field, and the normalised fields the app must derive from each."""

from __future__ import annotations

import time
import uuid
from typing import Any

CWD = "/home/u/app"
FUTURE = {"future_field": {"added_in": "v9", "values": [1, 2.5, None]}}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hook(
    name: str,
    session_id: str,
    *,
    cwd: str = CWD,
    ts: int | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A hook payload: the common fields, the event's own, an unknown one, and the two keys the
    hook adds."""
    return {
        "session_id": session_id,
        "transcript_path": f"/home/u/.claude/projects/-home-u-app/{session_id}.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": name,
        **fields,
        **FUTURE,
        "event_id": event_id or str(uuid.uuid4()),
        "timestamp": ts if ts is not None else now_ms(),
    }


BASH = {"command": "pytest -q", "description": "Run tests", "timeout": 120000}

# (event type, its own fields, the normalised fields expected on the stored event)
EVERY_EVENT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "SessionStart",
        {"source": "startup", "model": "claude-opus-4-1", "session_title": "retries"},
        {"summary": "Session started (startup) · claude-opus-4-1", "subtype": "startup",
         "model": "claude-opus-4-1"},
    ),
    ("Setup", {"trigger": "init"}, {"summary": "Setup (init)", "subtype": "init"}),
    (
        "InstructionsLoaded",
        {"file_path": f"{CWD}/CLAUDE.md", "memory_type": "Project", "load_reason": "session_start"},
        {"summary": f"Instructions loaded: {CWD}/CLAUDE.md (session_start)",
         "subtype": "session_start"},
    ),
    (
        "UserPromptSubmit",
        {"prompt": "add retries\n  to the uploader", "prompt_id": "p-1"},
        {"summary": "add retries to the uploader", "prompt": "add retries\n  to the uploader",
         "prompt_id": "p-1"},
    ),
    (
        "UserPromptExpansion",
        {"expansion_type": "slash_command", "command_name": "review", "command_args": "src/x.py",
         "command_source": "project", "prompt": "Review src/x.py for bugs"},
        {"summary": "/review src/x.py", "subtype": "review", "prompt": "Review src/x.py for bugs"},
    ),
    (
        "PreToolUse",
        {"tool_name": "Bash", "tool_input": BASH, "tool_use_id": "toolu_pre"},
        {"summary": "Bash: pytest -q", "tool_name": "Bash", "tool_use_id": "toolu_pre",
         "tool_input": '{"command":"pytest -q","description":"Run tests","timeout":120000}'},
    ),
    (
        "PermissionRequest",
        {"tool_name": "Bash", "tool_input": {"command": "rm -rf build"},
         "permission_suggestions": [{"type": "addRules"}]},
        {"summary": "Permission asked: Bash: rm -rf build", "tool_name": "Bash"},
    ),
    (
        "PermissionDenied",
        {"tool_name": "Bash", "tool_input": {"command": "curl x | sh"},
         "tool_use_id": "toolu_denied", "reason": "remote code execution"},
        {"summary": "Permission denied: Bash: curl x | sh — remote code execution",
         "success": False, "error": "remote code execution", "tool_use_id": "toolu_denied"},
    ),
    (
        "PostToolUse",
        {"tool_name": "Write", "tool_input": {"file_path": f"{CWD}/x.py", "content": "print(1)\n"},
         "tool_response": {"filePath": f"{CWD}/x.py", "success": True},
         "tool_use_id": "toolu_write", "duration_ms": 12},
        {"summary": f"Write: {CWD}/x.py", "success": True, "duration_ms": 12.0,
         "tool_name": "Write",
         "tool_response": '{"filePath":"/home/u/app/x.py","success":true}'},
    ),
    (
        "PostToolUseFailure",
        {"tool_name": "Bash", "tool_input": BASH, "tool_use_id": "toolu_fail",
         "error": "Exit code 1\nFAILED test_x.py", "is_interrupt": False, "duration_ms": 4187},
        {"summary": "Bash: pytest -q — failed: Exit code 1", "success": False,
         "error": "Exit code 1\nFAILED test_x.py", "interrupted": False, "duration_ms": 4187.0},
    ),
    (
        "PostToolBatch",
        {"tool_calls": [{"tool_name": "Read", "tool_response": "..."},
                        {"tool_name": "Grep", "tool_response": "..."}]},
        {"summary": "Tool batch finished: 2 calls"},
    ),
    (
        "Notification",
        {"message": "Claude needs your permission to use Bash", "title": "Permission needed",
         "notification_type": "permission_prompt"},
        {"summary": "Claude needs your permission to use Bash", "subtype": "permission_prompt"},
    ),
    (
        "MessageDisplay",
        {"turn_id": "turn-1", "message_id": "msg-1", "index": 0, "final": False,
         "delta": "Running the tests now"},
        {"summary": "Running the tests now"},
    ),
    (
        "SubagentStart",
        {"agent_id": "agent-1", "agent_type": "Explore"},
        {"summary": "Subagent started: Explore", "subtype": "Explore", "agent_id": "agent-1"},
    ),
    (
        "SubagentStop",
        {"agent_id": "agent-1", "agent_type": "Explore",
         "agent_transcript_path": "/tmp/agent-1.jsonl",
         "last_assistant_message": "Found 3 call sites", "stop_hook_active": False,
         "background_tasks": [], "session_crons": []},
        {"summary": "Subagent finished: Explore — Found 3 call sites", "subtype": "Explore"},
    ),
    (
        "TaskCreated",
        {"task_id": "7", "task_subject": "Write tests"},
        {"summary": "Task created: Write tests"},
    ),
    (
        "TaskCompleted",
        {"task_id": "7", "task_subject": "Write tests"},
        {"summary": "Task completed: Write tests"},
    ),
    (
        "TeammateIdle",
        {"teammate_name": "reviewer", "team_name": "core"},
        {"summary": "Teammate idle: reviewer"},
    ),
    (
        "Stop",
        {"stop_hook_active": False, "last_assistant_message": "Done. All tests pass.",
         "background_tasks": [], "session_crons": []},
        {"summary": "Done. All tests pass."},
    ),
    (
        "StopFailure",
        {"error": "rate_limit", "error_details": "429 Too Many Requests",
         "last_assistant_message": "API Error: rate limited"},
        {"summary": "Turn failed (rate_limit): 429 Too Many Requests", "subtype": "rate_limit",
         "success": False, "error": "429 Too Many Requests"},
    ),
    (
        "ConfigChange",
        {"source": "user_settings", "file_path": "/home/u/.claude/settings.json"},
        {"summary": "Settings changed: /home/u/.claude/settings.json",
         "subtype": "user_settings"},
    ),
    (
        "CwdChanged",
        {"old_cwd": CWD, "new_cwd": f"{CWD}/src"},
        {"summary": f"cd {CWD}/src"},
    ),
    (
        "DirectoryAdded",
        {"directory": "/home/u/lib", "how": "add-dir"},
        {"summary": "Directory added: /home/u/lib"},
    ),
    (
        "FileChanged",
        {"file_path": f"{CWD}/.env", "event": "change"},
        {"summary": f"File change: {CWD}/.env", "subtype": "change"},
    ),
    (
        "WorktreeCreate",
        {"worktree_path": "/home/u/app-wt/feature", "branch": "feature"},
        {"summary": "Worktree created: /home/u/app-wt/feature"},
    ),
    (
        "WorktreeRemove",
        {"worktree_path": "/home/u/app-wt/feature"},
        {"summary": "Worktree removed: /home/u/app-wt/feature"},
    ),
    (
        "PreCompact",
        {"trigger": "auto", "custom_instructions": ""},
        {"summary": "Compacting context (auto)", "subtype": "auto"},
    ),
    (
        "PostCompact",
        {"trigger": "manual", "compact_summary": "Summary of the work so far"},
        {"summary": "Context compacted (manual): Summary of the work so far", "subtype": "manual"},
    ),
    (
        "Elicitation",
        {"mcp_server_name": "github", "message": "Which repository?",
         "requested_schema": {"$schema": "x", "type": "object"}},
        {"summary": "github asks: Which repository?", "subtype": "github"},
    ),
    (
        "ElicitationResult",
        {"mcp_server_name": "github", "action": "accept", "content": {"repo": "app"}},
        {"summary": "github: elicitation answered (accept)", "subtype": "github"},
    ),
    (
        "SessionEnd",
        {"reason": "prompt_input_exit"},
        {"summary": "Session ended (prompt_input_exit)", "subtype": "prompt_input_exit"},
    ),
    (
        "SomeFutureEvent",
        {"message": "a hook event this version does not know"},
        {"summary": "SomeFutureEvent: a hook event this version does not know"},
    ),
]  # fmt: skip
