"""The feed's text search on a real server (``feed_search.py``): every word must match (the last
as a prefix), the best match comes first, the owner searches stored summaries and the public
only the redacted summaries of public projects, a subscribed search is live, and a search too
long is a clear error."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import hook, now_ms
from tests.support.calls import admin_authorization

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OPEN, SHUT = "/home/u/opensearch", "/home/u/shutsearch"
SECRET = "sk_live_" + "4eC39HqLyjWdarjtT1zdp7dc"


@pytest.fixture(scope="module")
def posted(agentfeed_both: Agentfeed) -> Agentfeed:
    agentfeed = agentfeed_both
    t = now_ms() - 60_000
    prompts = [
        ("s-open", OPEN, "deploy the staging server"),
        ("s-open", OPEN, "deploy deploy deploy"),
        ("s-open", OPEN, "why did the deployment fail"),
        ("s-open", OPEN, f"use the stripe key {SECRET} for checkout"),
        ("s-shut", SHUT, "deploy the private thing"),
    ]
    for n, (session, cwd, prompt) in enumerate(prompts):
        payload = hook("UserPromptSubmit", session, ts=t + n, cwd=cwd, prompt=prompt)
        assert agentfeed.post(payload)["status"] == "stored"
    agentfeed.mutation("projects:update", {"path": OPEN, "public": True})
    return agentfeed


def summaries(feed: Agentfeed, search: str, **filters: Any) -> list[str]:
    page = feed.query(
        "events:feed",
        {"search": search, **filters, "paginationOpts": {"numItems": 50, "cursor": None}},
    )
    assert page["isDone"] is True
    return [event["summary"] for event in page["page"]]


def test_every_word_must_match_the_last_as_a_prefix(posted: Agentfeed) -> None:
    found = summaries(posted, "deploy", project=OPEN)  # the last word is a prefix
    assert sorted(found) == [
        "deploy deploy deploy",
        "deploy the staging server",
        "why did the deployment fail",
    ]
    assert found.index("deploy deploy deploy") < found.index("deploy the staging server")
    assert summaries(posted, "DEPLOY STAG") == ["deploy the staging server"]
    assert summaries(posted, "deploy staging nothing") == []  # every word, not any
    assert summaries(posted, "deployment f") == ["why did the deployment fail"]
    assert len(summaries(posted, "  ")) == len(summaries(posted, "?!")) == 5  # no words: all
    assert sorted(summaries(posted, "deploy the")) == [
        "deploy the private thing",
        "deploy the staging server",
    ]  # the owner: every project


def test_the_public_searches_redacted_text_of_public_projects_only(posted: Agentfeed) -> None:
    public = Agentfeed(posted.server, owner=False)
    assert summaries(public, "deploy the") == ["deploy the staging server"]  # not the private one
    assert summaries(public, "private thing") == []
    shown = summaries(public, "stripe key")
    assert len(shown) == 1 and SECRET not in shown[0] and "[redacted:" in shown[0]
    for probe in (SECRET, SECRET[:12], SECRET[:16], "4eC39HqL", SECRET[8:20]):
        assert summaries(public, probe) == [], probe
        assert summaries(public, f"stripe key {probe}") == [], probe
    assert summaries(posted, SECRET[8:20]) != []  # the owner's search reads the stored text


def test_too_many_words_is_a_clear_error(posted: Agentfeed) -> None:
    url, key = posted.server.url, posted.server.admin_key
    response = httpx.post(
        f"{url}/api/query",
        json={
            "path": "events:feed",
            "args": {"search": "word " * 10_000, "paginationOpts": {"numItems": 5, "cursor": None}},
            "format": "json",
        },
        headers={"authorization": admin_authorization(key)},
        timeout=30,
    )
    body = response.json()
    assert body["status"] == "error"
    assert body["errorData"]["code"] == "BadSearch"
    assert "more than 16 words" in body["errorData"]["message"]


def test_a_subscribed_search_is_live_for_the_public(posted: Agentfeed) -> None:
    args: Any = {"search": "rollback", "paginationOpts": {"numItems": 20.0, "cursor": None}}

    async def run() -> None:
        async with Client(posted.server.url) as client:
            updates = client.subscribe("events:feed", args)
            first: Any = await anext(updates)
            assert first["page"] == []
            t = now_ms()
            posted.post(
                hook("UserPromptSubmit", "s-open", ts=t, cwd=OPEN, prompt="plan the rollback")
            )
            async with asyncio.timeout(30):
                async for result in updates:
                    shown: Any = result
                    if shown["page"]:
                        break
            assert [e["summary"] for e in shown["page"]] == ["plan the rollback"]
            await updates.aclose()

    asyncio.run(run())
