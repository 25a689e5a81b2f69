"""``overview:sessions`` and ``overview:days`` (the page's session cards and charts) against a
real server: the cost and tokens of a session's ``claude_code.api_request`` telemetry (OTLP
protobuf, as Claude Code exports it) on its card and on its day; the latest session first; an
ended session's duration; the public sees only public projects' sessions and their cost."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import hook, now_ms
from tests.agentfeed_app.test_capture import PROTOBUF, api_request_pb, logs_pb

pytestmark = pytest.mark.timeout(120)


def test_cards_and_days_carry_the_stored_telemetry(agentfeed: Agentfeed) -> None:
    project = f"/home/u/overview-{uuid.uuid4().hex[:6]}"
    start = now_ms() - 600_000
    paid, older = str(uuid.uuid4()), str(uuid.uuid4())
    for payload in (
        hook("SessionStart", older, cwd=project, ts=start - 60_000, source="startup"),
        hook("SessionEnd", older, cwd=project, ts=start - 30_000, reason="clear"),
        hook("SessionStart", paid, cwd=project, ts=start, source="startup"),
        hook("UserPromptSubmit", paid, cwd=project, ts=start + 1000, prompt="make it retry"),
    ):
        assert agentfeed.post(payload)["status"] == "stored"
    records = [
        api_request_pb(paid, "p1", "claude-opus-4-1", (100, 20, 300, 4), 0.25, start + 2000, 1),
        api_request_pb(paid, "p1", "claude-opus-4-1", (10, 2, 30, 0), 0.5, start + 3000, 2),
    ]
    sent = httpx.post(
        f"{agentfeed.server.url}/v1/logs", content=logs_pb(*records), headers=PROTOBUF
    )
    assert sent.status_code == 200, sent.text

    cards = agentfeed.query("overview:sessions", {"limit": 50})
    mine = [c for c in cards if c["project"] == project]
    assert [c["session_id"] for c in mine] == [paid, older]  # the latest activity first
    card = mine[0]
    assert card["usage"] == {
        "tokens": 466.0,
        "cost_usd": pytest.approx(0.75),
        "source": "telemetry",
    }
    assert card["status"] == "active" and card["duration_ms"] == 1000
    assert mine[1]["status"] == "ended" and mine[1]["duration_ms"] == 30_000
    assert mine[1]["usage"] is None

    days = agentfeed.query("overview:days", {"days": 14})
    assert len(days) == 14 and days[0]["day"] < days[-1]["day"]
    today = days[-1] if start // 86_400_000 == now_ms() // 86_400_000 else days[-2]
    assert today["cost_usd"] >= 0.75 and today["tokens"] >= 466 and today["events"] >= 4

    public = Agentfeed(agentfeed.server, owner=False)
    assert all(c["project"] != project for c in public.query("overview:sessions", {}))
    before = sum(d["cost_usd"] for d in public.query("overview:days", {}))
    agentfeed.mutation("projects:update", {"path": project, "public": True})
    shown = [c for c in public.query("overview:sessions", {"limit": 50}) if c["session_id"] == paid]
    assert shown and shown[0]["usage"]["cost_usd"] == pytest.approx(0.75)
    assert shown[0]["intent"] is None  # activity sessions are the owner's alone
    after = sum(d["cost_usd"] for d in public.query("overview:days", {}))
    assert after == pytest.approx(before + 0.75)


def test_bad_arguments_are_named(agentfeed: Agentfeed) -> None:
    with pytest.raises(Exception, match="limit"):
        agentfeed.query("overview:sessions", {"limit": "many"})
