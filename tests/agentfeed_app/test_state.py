"""Sessions, projects and tool calls kept up to date by ingestion, on a real server: a session's
life (start, prompts, tools, ``cd``, ``/clear`` into a new session, end, resume), and tool calls
paired whichever half arrives first."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import hook, now_ms

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BASH = {"command": "pytest -q"}


def post_all(feed: Agentfeed, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        assert feed.post(payload)["status"] == "stored", payload


def test_a_session_through_clear_end_and_resume(agentfeed: Agentfeed) -> None:
    project = f"/home/u/proj-{uuid.uuid4().hex[:8]}"
    first, second = f"s1-{uuid.uuid4()}", f"s2-{uuid.uuid4()}"
    t = now_ms()

    def at(name: str, session: str, n: int, **fields: Any) -> dict[str, Any]:
        return hook(name, session, ts=t + n * 1000, cwd=fields.pop("cwd", project), **fields)

    post_all(
        agentfeed,
        [
            at("SessionStart", first, 0, source="startup", model="claude-opus-4-1"),
            at("UserPromptSubmit", first, 1, prompt="run the tests"),
            at("PreToolUse", first, 2, tool_name="Bash", tool_input=BASH, tool_use_id="tu-a"),
            at("PostToolUse", first, 3, tool_name="Bash", tool_input=BASH, tool_use_id="tu-a"),
            at("CwdChanged", first, 4, old_cwd=project, new_cwd=f"{project}/src"),
            at("UserPromptSubmit", first, 5, prompt="now the linter", cwd=f"{project}/src"),
            at("SessionEnd", first, 6, reason="clear", cwd=f"{project}/src"),
            at("SessionStart", second, 7, source="clear", cwd=f"{project}/src"),
            at("UserPromptSubmit", second, 8, prompt="fresh start", cwd=f"{project}/src"),
        ],
    )
    old = agentfeed.session(first)
    assert old["status"] == "ended" and old["end_reason"] == "clear"
    assert old["started_at"] == t and old["ended_at"] == t + 6000
    assert old["event_count"] == 7 and old["prompt_count"] == 2 and old["tool_count"] == 1
    assert old["project"] == project  # fixed at the start, as CLAUDE_PROJECT_DIR
    assert old["cwd"] == f"{project}/src"  # follows cd
    assert old["start_source"] == "startup" and old["model"] == "claude-opus-4-1"
    assert old["last_event_type"] == "SessionEnd" and old["last_event_at"] == t + 6000
    assert old["source"] == "claude-code"
    assert old["tokens"] == {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
    assert old["transcript_path"].endswith(f"{first}.jsonl")

    new = agentfeed.session(second)
    assert new["status"] == "active" and new["start_source"] == "clear"
    assert new["project"] == f"{project}/src"  # a new session: its own start directory
    active = [s["session_id"] for s in agentfeed.query("sessions:active_sessions")]
    assert second in active and first not in active

    # Events later than the end re-activate the session (--resume keeps the id) ...
    post_all(agentfeed, [at("SessionStart", first, 20, source="resume")])
    resumed = agentfeed.session(first)
    assert resumed["status"] == "active"
    assert "ended_at" not in resumed and "end_reason" not in resumed
    # ... an event older than the end, delivered late, does not.
    post_all(agentfeed, [at("SessionEnd", first, 21, reason="prompt_input_exit")])
    post_all(agentfeed, [at("Notification", first, 19, message="late delivery")])
    late = agentfeed.session(first)
    assert late["status"] == "ended" and late["end_reason"] == "prompt_input_exit"
    assert late["last_event_type"] == "SessionEnd"  # the latest by time, not by arrival
    assert late["event_count"] == 10

    by_path = {p["path"]: p for p in agentfeed.query("projects:projects_with_stats")}
    root, src = by_path[project], by_path[f"{project}/src"]
    assert root["name"] == project.rsplit("/", 1)[1]
    assert root["public"] is False and root["description"] == ""
    assert root["session_count"] == 1 and root["event_count"] == 10
    assert root["prompt_count"] == 2 and root["tool_count"] == 1
    assert root["first_event_at"] == t and root["last_event_at"] == t + 21000
    assert root["active_sessions"] == 0
    assert src["name"] == "src" and src["session_count"] == 1 and src["event_count"] == 2
    assert src["active_sessions"] == 1

    agentfeed.mutation(
        "projects:update", {"path": project, "description": "the app", "public": True}
    )
    updated = agentfeed.query("projects:project", {"path": project})
    assert updated["description"] == "the app" and updated["public"] is True
    assert updated["name"] == root["name"]


def calls_of(feed: Agentfeed, session: str) -> dict[str, dict[str, Any]]:
    page = feed.query(
        "tool_calls:session_tool_calls",
        {"session_id": session, "paginationOpts": {"numItems": 50, "cursor": None}},
    )
    assert page["isDone"]
    return {call["tool_use_id"]: call for call in page["page"]}


def test_tool_calls_pair_in_either_order(agentfeed: Agentfeed) -> None:
    session = f"tools-{uuid.uuid4()}"
    t = now_ms()

    def tool(name: str, use_id: str, n: int, **fields: Any) -> dict[str, Any]:
        return hook(name, session, ts=t + n, tool_name="Bash", tool_input=BASH,
                    tool_use_id=use_id, **fields)  # fmt: skip

    post_all(
        agentfeed,
        [
            # in order, with Claude Code's own duration
            tool("PreToolUse", "in-order", 0),
            tool("PostToolUse", "in-order", 1000, duration_ms=250),
            # the end first, without a duration: end minus start
            tool("PostToolUseFailure", "reversed", 3500, error="Exit code 2\nboom"),
            tool("PreToolUse", "reversed", 2000),
            # interrupted, denied, and one still running
            tool("PreToolUse", "stopped", 4000),
            tool("PostToolUseFailure", "stopped", 4100, error="Interrupted", is_interrupt=True),
            tool("PermissionDenied", "denied", 5000, reason="not allowed"),
            tool("PreToolUse", "running", 6000),
        ],
    )
    calls = calls_of(agentfeed, session)
    assert list(calls) == ["in-order", "reversed", "stopped", "denied", "running"]  # by start
    in_order = calls["in-order"]
    assert in_order["status"] == "success" and in_order["duration_ms"] == 250
    assert in_order["started_at"] == t and in_order["ended_at"] == t + 1000
    assert in_order["tool_name"] == "Bash" and in_order["input"] == '{"command":"pytest -q"}'
    assert in_order["pre_event"] != in_order["post_event"]
    reversed_ = calls["reversed"]
    assert reversed_["status"] == "failure" and reversed_["duration_ms"] == 1500
    assert reversed_["error"] == "Exit code 2\nboom" and reversed_["started_at"] == t + 2000
    assert calls["stopped"]["status"] == "interrupted"
    assert calls["denied"]["status"] == "denied" and "started_at" not in calls["denied"]
    running = calls["running"]
    assert running["status"] == "running" and "ended_at" not in running
    assert "duration_ms" not in running
    assert agentfeed.session(session)["tool_count"] == 3  # completed: PostToolUse(Failure)


def test_a_project_root_in_the_payload_wins_over_cwd(agentfeed: Agentfeed) -> None:
    root = f"/home/u/root-{uuid.uuid4().hex[:8]}"
    session = f"rooted-{uuid.uuid4()}"
    payload = hook("UserPromptSubmit", session, cwd=f"{root}/pkg/", project_dir=f"{root}/")
    post_all(agentfeed, [payload])
    event = agentfeed.event(payload["event_id"])
    assert event["project"] == root and event["cwd"] == f"{root}/pkg/"
    assert agentfeed.query("projects:project", {"path": root})["name"] == root.rsplit("/", 1)[1]
