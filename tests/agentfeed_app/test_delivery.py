"""Posts refused for their key (401) and bodies rejected as unusable are counted per day
(``delivery:status``) on a real server: every refusal of a concurrent burst is counted once, a
refusal stores nothing else, the public sees the counts only and the owner the last rejection's
reason too; ``GET /event`` says whether a key would be let in and counts nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.agentfeed_app.conftest import KEY, Agentfeed
from tests.agentfeed_app.payloads import hook


def public_status(agentfeed: Agentfeed) -> dict[str, Any]:
    """``delivery:status`` as anyone: no admin key, no owner key."""
    response = httpx.post(
        f"{agentfeed.server.url}/api/query",
        json={"path": "delivery:status", "args": {}, "format": "json"},
        timeout=30,
    )
    body = response.json()
    assert body.get("status") == "success", body
    status: dict[str, Any] = body["value"]
    return status


async def _burst(url: str, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as client:
        posts = [
            client.post(
                f"{url}/event",
                json=hook("Stop", f"flood-{i}"),
                headers={"X-Agentfeed-Key": f"wrong-{i}"} if i % 2 else {},
            )
            for i in range(count)
        ]
        return [response.status_code for response in await asyncio.gather(*posts)]


def test_refused_and_rejected_posts_are_counted(agentfeed: Agentfeed) -> None:
    before = agentfeed.query("delivery:status")
    rejected_before = len(agentfeed.query("events:rejected", {"limit": 1000}))
    statuses = asyncio.run(_burst(agentfeed.server.url, 60))
    assert statuses == [401] * 60
    secret = f"not-json {uuid.uuid4()}"
    answer = agentfeed.post(content=secret.encode())
    assert answer["status"] == "rejected"

    owner = agentfeed.query("delivery:status")
    assert owner["owner"] is True
    assert owner["refused"]["count"] == before["refused"]["count"] + 60
    assert owner["refused"]["today"] == before["refused"]["today"] + 60
    assert owner["refused"]["last_at"] is not None
    assert owner["rejected"]["count"] == before["rejected"]["count"] + 1
    assert "not JSON" in owner["last_rejected_reason"]
    # A refusal stores no rejected body: only the one unusable body was kept.
    assert len(agentfeed.query("events:rejected", {"limit": 1000})) == rejected_before + 1

    public = public_status(agentfeed)
    assert public["owner"] is False
    assert public["refused"] == owner["refused"] and public["rejected"] == owner["rejected"]
    assert "last_rejected_reason" not in public
    assert secret not in repr(public)


def test_get_event_checks_a_key_and_counts_nothing(agentfeed: Agentfeed) -> None:
    url = f"{agentfeed.server.url}/event"
    before = agentfeed.query("delivery:status")["refused"]["count"]
    ok = httpx.get(url, headers={"X-Agentfeed-Key": KEY})
    assert ok.status_code == 200 and ok.json() == {"ok": True, "key_required": True}
    assert httpx.get(url, headers={"X-Agentfeed-Key": "wrong"}).status_code == 401
    assert httpx.get(url).status_code == 401
    assert agentfeed.query("delivery:status")["refused"]["count"] == before
