"""The states a first visit of the agentfeed page meets, in real headless Chromium against a real
server that starts empty (``run_states.mjs``): the empty feed tells the owner how to connect
Claude Code and the public that nothing is public yet; posts refused for their key show as a
notice with their count; long unbroken prompts, errors, tool input and output, paths and URLs
wrap with no horizontal scroll and no cut row at 800, 1400 and 1920 px; counts are pluralised;
the owner signs in on the page (the form, at 1400 and 390 px, fits and overlaps nothing) and stays
signed in across opens, the visitor has a browser context of their own; a wrong password shows
the reason in the form (no owner badge, no raw error); an old owner link (``/?key=…``) says such
links are no longer used; Sign out returns to the public view without the private events; a
stored session the server refuses says "You were signed out"; the public view of a deployment
whose projects are all private says so. Screenshots go to the test's tmp dir (``screenshots/``,
``signin-1400.png`` and ``signin-390.png`` among them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed

from .conftest import FIELDS, OWNER_EMAIL, OWNER_PASSWORD, hook, now_ms, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(600)]

WIDTHS = (800, 1400, 1920)
SIGNIN_WIDTHS = (1400, 390)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def long_events(start: int) -> tuple[str, list[dict[str, Any]]]:
    """One session in a project with a long unbroken path, with a long unbroken prompt, tool
    input, error, output, notification and URL."""
    session = "long-session-" + "s" * 80
    project = "/home/u/" + "a-very-long-directory-name-without-spaces" * 6
    token = "x" * 1500
    url = "https://example.com/" + "path/segment-" * 60 + "?q=" + "v" * 300
    prompt = f"please look at {token} and {url} then fix it"
    bash = {"command": "echo " + "y" * 1200 + " | grep " + "z" * 400}
    failure = {"error": "Traceback: " + "E" * 2000, "is_interrupt": False, "duration_ms": 12}
    events = [
        hook("SessionStart", session, cwd=project, ts=start, **FIELDS["SessionStart"]),
        hook("UserPromptSubmit", session, cwd=project, ts=start + 1, prompt=prompt),
        hook("PreToolUse", session, cwd=project, ts=start + 2, tool_name="Bash",
             tool_input=bash, tool_use_id="toolu_long_1"),
        hook("PostToolUseFailure", session, cwd=project, ts=start + 3, tool_name="Bash",
             tool_input=bash, tool_use_id="toolu_long_1", **failure),
        hook("PostToolUse", session, cwd=project, ts=start + 4, tool_name="Read",
             tool_input={"file_path": project + "/" + "f" * 300 + ".py"},
             tool_response={"content": "R" * 3000}, tool_use_id="toolu_long_2"),
        hook("Notification", session, cwd=project, ts=start + 5, message="N" * 600 + " " + url,
             notification_type="idle_prompt"),
    ]  # fmt: skip
    return prompt, events


def test_first_visit_states_and_layout_at_three_widths(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    start = now_ms() - 60_000
    prompt, long = long_events(start)
    one_prompt_session = f"one-prompt-{start}"
    one_project = project_path("one")
    bash = {"command": "ls"}
    one_prompt = [
        hook("SessionStart", one_prompt_session, cwd=one_project, ts=start + 10),
        hook("UserPromptSubmit", one_prompt_session, cwd=one_project, ts=start + 11, prompt="hi"),
        hook("PreToolUse", one_prompt_session, cwd=one_project, ts=start + 12,
             tool_name="Bash", tool_input=bash, tool_use_id="toolu_one"),
        hook("PostToolUse", one_prompt_session, cwd=one_project, ts=start + 13,
             tool_name="Bash", tool_input=bash, tool_use_id="toolu_one", tool_response="ok"),
    ]  # fmt: skip
    one_event = [hook("UserPromptSubmit", f"one-event-{start}", cwd=project_path("single"),
                      ts=start + 20, prompt="just one")]  # fmt: skip
    shots = tmp_path / "screenshots"
    shots.mkdir()
    config = {
        "base": agentfeed.server.url,
        "agentfeedKey": KEY,
        "ownerEmail": OWNER_EMAIL,
        "ownerPassword": OWNER_PASSWORD,
        "chromium": str(chromium_path),
        "shots": str(shots),
        "widths": list(WIDTHS),
        "long": long,
        "longPrompt": prompt,
        "onePrompt": {"sessionId": one_prompt_session, "payloads": one_prompt},
        "oneEvent": {"payloads": one_event},
    }
    result = run_node("run_states.mjs", config, tmp_path, timeout=300)
    print(f"screenshots in {shots}; layout: {json.dumps(result.get('layout'))}")
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    for width in WIDTHS:
        assert result["layout"][str(width)]["problems"] == []
    for width in SIGNIN_WIDTHS:
        assert result["signinLayout"][str(width)]["problems"] == []
    names = [f"feed-owner-{width}.png" for width in WIDTHS]
    names += [f"signin-{width}.png" for width in SIGNIN_WIDTHS]
    for name in names:
        data = (shots / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, name
