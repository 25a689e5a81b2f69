"""A fixture day of Claude Code activity (3 December 2026, UTC) in two projects, and the
activity sessions it must be grouped into.

- 09:00-09:20 shop: a failing checkout test is fixed (a failed ``pytest``, edits, a green run).
- 09:40-10:05 shop, same Claude session, 20 minutes later, a prompt about something else: a
  discount coupon field (new session: topic change after a pause).
- 10:30-10:45 blog: questions about the renderer, answered by reading only.
- 11:00 shop: the morning's Claude session ends (after the gap: it starts nothing).
- 13:00-13:15 shop on branch ``feature/refunds``: a refunds endpoint (new session: the gap).
- 13:20-13:35 shop on branch ``main``: README work (new session: the branch), left with a
  prompt unanswered (abandoned).
- 15:00-15:05 blog: a prompt that says nothing about its purpose (low confidence).
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

from tests.agentfeed_app.payloads import hook

DAY = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
SHOP, BLOG = "/home/u/shop", "/home/u/blog"


def at(hhmm: str, seconds: int = 0) -> int:
    hours, minutes = map(int, hhmm.split(":"))
    moment = DAY + datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return int(moment.timestamp() * 1000)


def _tool(
    session: str,
    cwd: str,
    ts: int,
    tool: str,
    tool_input: dict[str, Any],
    *,
    failed: bool = False,
    **extra: Any,
) -> list[dict[str, Any]]:
    """A tool call: PreToolUse, then PostToolUse (or PostToolUseFailure) a second later."""
    use_id = f"toolu_{uuid.uuid4().hex[:12]}"
    common = {"tool_name": tool, "tool_input": tool_input, "tool_use_id": use_id, **extra}
    pre = hook("PreToolUse", session, cwd=cwd, ts=ts, **common)
    if failed:
        post = hook(
            "PostToolUseFailure",
            session,
            cwd=cwd,
            ts=ts + 1000,
            error="Exit code 1\nFAILED tests/test_checkout.py",
            **common,
        )
    else:
        post = hook(
            "PostToolUse", session, cwd=cwd, ts=ts + 1000, tool_response={"stdout": "ok"}, **common
        )
    return [pre, post]


def _prompt(session: str, cwd: str, ts: int, text: str, **extra: Any) -> dict[str, Any]:
    return hook("UserPromptSubmit", session, cwd=cwd, ts=ts, prompt=text, **extra)


def _stop(session: str, cwd: str, ts: int, **extra: Any) -> dict[str, Any]:
    return hook("Stop", session, cwd=cwd, ts=ts, stop_hook_active=False, **extra)


def day() -> list[dict[str, Any]]:
    """The day's hook payloads in the order they happened."""
    s1, s2, s3, s4 = "day-shop-morning", "day-blog", "day-shop-afternoon", "day-blog-late"
    refunds, main = {"gitBranch": "feature/refunds"}, {"gitBranch": "main"}
    events = [
        hook("SessionStart", s1, cwd=SHOP, ts=at("09:00"), source="startup"),
        _prompt(s1, SHOP, at("09:00", 5), "fix the failing checkout test: TypeError in cart total"),
        *_tool(
            s1, SHOP, at("09:02"), "Bash", {"command": "pytest tests/test_checkout.py"}, failed=True
        ),
        *_tool(s1, SHOP, at("09:05"), "Read", {"file_path": f"{SHOP}/shop/cart.py"}),
        *_tool(
            s1,
            SHOP,
            at("09:10"),
            "Edit",
            {"file_path": f"{SHOP}/shop/cart.py", "old_string": "a", "new_string": "b"},
        ),
        *_tool(s1, SHOP, at("09:15"), "Bash", {"command": "pytest tests/test_checkout.py"}),
        _stop(s1, SHOP, at("09:20")),
        _prompt(s1, SHOP, at("09:40"), "add a new discount coupon field to the payment form"),
        *_tool(
            s1,
            SHOP,
            at("09:45"),
            "Edit",
            {"file_path": f"{SHOP}/shop/payment_form.py", "old_string": "a", "new_string": "b"},
        ),
        *_tool(
            s1, SHOP, at("09:55"), "Write", {"file_path": f"{SHOP}/shop/coupons.py", "content": "x"}
        ),
        _stop(s1, SHOP, at("10:05")),
        hook("SessionStart", s2, cwd=BLOG, ts=at("10:30"), source="startup"),
        _prompt(s2, BLOG, at("10:30", 10), "explain how the markdown renderer works"),
        *_tool(s2, BLOG, at("10:32"), "Grep", {"pattern": "render", "path": BLOG}),
        *_tool(s2, BLOG, at("10:35"), "Read", {"file_path": f"{BLOG}/blog/renderer.py"}),
        _stop(s2, BLOG, at("10:45")),
        hook("SessionEnd", s1, cwd=SHOP, ts=at("11:00"), reason="logout"),
        hook("SessionStart", s3, cwd=SHOP, ts=at("13:00"), source="startup", **refunds),
        _prompt(
            s3,
            SHOP,
            at("13:00", 5),
            "add a refunds endpoint and implement the refund handler",
            **refunds,
        ),
        *_tool(
            s3,
            SHOP,
            at("13:05"),
            "Write",
            {"file_path": f"{SHOP}/shop/refunds.py", "content": "x"},
            **refunds,
        ),
        _stop(s3, SHOP, at("13:15"), **refunds),
        _prompt(s3, SHOP, at("13:20"), "update the readme install section", **main),
        *_tool(
            s3,
            SHOP,
            at("13:25"),
            "Edit",
            {"file_path": f"{SHOP}/README.md", "old_string": "a", "new_string": "b"},
            **main,
        ),
        _stop(s3, SHOP, at("13:30"), **main),
        _prompt(
            s3, SHOP, at("13:35"), "also document the configuration options in the guide", **main
        ),
        hook("SessionStart", s4, cwd=BLOG, ts=at("15:00"), source="startup"),
        _prompt(s4, BLOG, at("15:00", 5), "hmm ok continue"),
        _stop(s4, BLOG, at("15:05")),
    ]
    return events


FIX, FEATURE, EXPLORE = "Fix a bug: fix the failing", "Build a feature: add a", "Explore the code"
EXPECTED = [
    # (project, branch, first event, last event, status, intent starts with, needs_validation)
    (SHOP, None, "09:00", "09:20", "completed", FIX + " checkout test", False),
    (SHOP, None, "09:40", "10:05", "completed", FEATURE + " new discount", False),
    (BLOG, None, "10:30", "10:45", "completed", EXPLORE + ": explain how", False),
    (SHOP, "feature/refunds", "13:00", "13:15", "completed", FEATURE + " refunds", False),
    (SHOP, "main", "13:20", "13:35", "abandoned", "Write documentation: update the readme", False),
    (BLOG, None, "15:00", "15:05", "completed", "Unclear: hmm ok continue", True),
]


def as_json(events: list[dict[str, Any]]) -> str:
    return json.dumps(events)
