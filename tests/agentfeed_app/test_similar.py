"""Similar sessions (``similar.py``, ``embedding.py``) on a real server: sessions whose prompts
share words rank first, the public compares only public projects' sessions and only their
redacted text, the answer is live, old prompts are added by the backfill exactly once, and the
embedding itself is deterministic and ignores masks and numbers."""

from __future__ import annotations

import asyncio
import importlib
import math
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from livebase.client import Client
from livebase.functions.loader import load_app, unload
from tests.agentfeed_app.conftest import APP, Agentfeed, launch_variant
from tests.agentfeed_app.payloads import hook, now_ms
from tests.support.calls import admin_authorization, call, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

OPEN, SHUT = "/home/u/similar-open", "/home/u/similar-shut"
SECRET = "AKIA" + "QYLPMN5HFIQR7XYZ"
PROMPTS = {
    "parser-1": (OPEN, ["fix the flaky pytest in the parser module", "the parser tokens"]),
    "parser-2": (OPEN, ["the parser module pytest is flaky again, fix the tokens"]),
    "notes": (OPEN, ["write the release notes for version two of the website"]),
    "parser-private": (SHUT, ["fix the flaky parser module pytest tokens"]),
    "secret-a": (OPEN, [f"deploy the website with aws key {SECRET} today"]),
    "secret-b": (OPEN, [f"{SECRET} {SECRET} kitchen recipes and gardening"]),
    "quiet": (OPEN, []),
}


def post_prompts(feed: Agentfeed, prompts: dict[str, tuple[str, list[str]]]) -> None:
    t = now_ms() - 60_000
    for session, (cwd, texts) in prompts.items():
        start = hook("SessionStart", session, ts=t, cwd=cwd, source="startup")
        assert feed.post(start)["status"] == "stored"
        for n, text in enumerate(texts):
            payload = hook("UserPromptSubmit", session, ts=t + n + 1, cwd=cwd, prompt=text)
            assert feed.post(payload)["status"] == "stored"


@pytest.fixture(scope="module")
def embedding() -> Iterator[ModuleType]:
    app = load_app(APP)
    try:
        yield importlib.import_module(f"{app.package}.embedding")
    finally:
        unload(app)


@pytest.fixture(scope="module")
def posted(agentfeed_both: Agentfeed) -> Agentfeed:
    agentfeed = agentfeed_both
    post_prompts(agentfeed, PROMPTS)
    agentfeed.mutation("projects:update", {"path": OPEN, "public": True})
    return agentfeed


def similar(feed: Agentfeed, session_id: str, limit: float = 5) -> dict[str, Any]:
    result: dict[str, Any] = feed.query(
        "similar:sessions", {"session_id": session_id, "limit": limit}
    )
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [s["session_id"] for s in result["sessions"]]


def test_sessions_with_the_same_words_come_first(posted: Agentfeed) -> None:
    result = similar(posted, "parser-1")
    assert result["status"] == "ready"
    found = ids(result)
    assert found[:2] in (["parser-private", "parser-2"], ["parser-2", "parser-private"])
    scores = [s["similarity"] for s in result["sessions"]]
    assert scores == sorted(scores, reverse=True) and 0.2 <= scores[-1] and scores[0] <= 1.0
    assert "parser-1" not in found  # never itself
    assert "notes" not in found  # no word in common


def test_the_public_compares_public_sessions_by_redacted_text(posted: Agentfeed) -> None:
    public = Agentfeed(posted.server, owner=False)
    found = ids(similar(public, "parser-1"))
    assert found[0] == "parser-2" and "parser-private" not in found
    assert similar(public, "parser-private") == {"status": "not_found", "sessions": []}
    # the vectors are made from the prompts as the public sees them: the secret is not a feature
    server = posted.server
    row = call(server.url, server.admin_key, "query", "similar:vector", {"session_id": "secret-b"})
    page = {"numItems": 5, "cursor": None}
    shown = public.query("events:feed", {"session_id": "secret-b", "paginationOpts": page})
    assert SECRET not in str(shown) and "[redacted:" in str(shown)
    assert "secret-b" not in ids(similar(posted, "secret-a"))  # they share only the secret
    assert row is not None and row["prompts"] == 1 and len(row["embedding"]) == 256
    assert SECRET not in str(similar(public, "secret-a"))


def test_statuses_and_bad_limits(posted: Agentfeed) -> None:
    assert similar(posted, "quiet") == {"status": "no_prompts", "sessions": []}
    assert similar(posted, "no-such-session") == {"status": "not_found", "sessions": []}
    assert len(similar(posted, "parser-1", limit=1)["sessions"]) == 1
    for limit in (0, 21, 2.5):
        response = httpx.post(
            f"{posted.server.url}/api/query",
            json={
                "path": "similar:sessions",
                "args": {"session_id": "parser-1", "limit": limit},
                "format": "json",
            },
            headers={"authorization": admin_authorization(posted.server.admin_key)},
            timeout=30,
        )
        body = response.json()
        assert body["status"] == "error" and body["errorData"]["code"] == "BadArgument", body
        assert "limit must be 1..20" in body["errorData"]["message"]


def test_the_panel_query_is_live(posted: Agentfeed) -> None:
    args: Any = {"session_id": "notes", "limit": 5.0}

    async def run() -> None:
        async with Client(posted.server.url) as client:  # anonymous: the public view
            updates = client.subscribe("similar:sessions", args)
            first: Any = await anext(updates)
            assert "notes-2" not in ids(first)
            post_prompts(posted, {"notes-2": (OPEN, ["release notes for the website version"])})
            async with asyncio.timeout(30):
                async for result in updates:
                    latest: Any = result
                    if "notes-2" in ids(latest):
                        break
            assert ids(latest)[0] == "notes-2"
            await updates.aclose()

    asyncio.run(run())


def test_the_embedding_is_deterministic_and_ignores_masks_and_numbers(
    embedding: ModuleType,
) -> None:
    one = embedding.embed("Fix the parser: tokens 2 and 3 [redacted:aws-key]")
    assert one == embedding.embed("fix THE parser tokens and")
    assert len(one) == embedding.DIMENSIONS == 256
    assert math.isclose(math.fsum(x * x for x in one), 1.0)
    assert embedding.embed("[redacted:password] 42 ...") is None

    def cosine(a: str, b: str) -> float:
        return float(
            sum(x * y for x, y in zip(embedding.embed(a), embedding.embed(b), strict=True))
        )

    near = cosine("fix the flaky parser test", "the parser test is flaky")
    far = cosine("fix the flaky parser test", "write release notes for the website")
    assert near > 0.5 > far


# -- prompts stored before vectors existed --------------------------------------------------------

TESTONLY = '''"""Test only: forget every session vector (as on a database from before them)."""

from livebase import internal_mutation


@internal_mutation
def forget(ctx) -> float:
    rows = ctx.db.query("session_vectors").collect()
    for row in rows + ctx.db.query("session_vector_state").collect():
        ctx.db.delete(row["_id"])
    return float(len(rows))
'''
BACKFILL_CRON = (
    'crons.interval("session vectors of old prompts", backfill_vectors, {}, minutes=1)\n'
)


def test_the_backfill_adds_old_prompts_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    with launch_variant(tmp_path_factory.mktemp("backfill"), TESTONLY, BACKFILL_CRON) as server:
        feed = Agentfeed(server)
        post_prompts(feed, PROMPTS)

        def admin(kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
            return call(server.url, server.admin_key, kind, path, args or {})

        before = {s: admin("query", "similar:vector", {"session_id": s}) for s in PROMPTS}
        assert admin("mutation", "testonly:forget") == 6  # every session with a prompt
        # a prompt that arrives before the backfill runs is counted by the ingestion...
        late = hook("UserPromptSubmit", "parser-2", cwd=OPEN, prompt="the parser again")
        assert feed.post(late)["status"] == "stored"
        assert admin("query", "similar:vector", {"session_id": "parser-2"})["prompts"] == 1
        # ...and the backfill adds the older ones, each once, in batches, however often it runs
        added = [admin("mutation", "similar:backfill") for _ in range(3)]
        assert sum(added) == 7 and added[-1] == 0
        for session, row in before.items():
            after = admin("query", "similar:vector", {"session_id": session})
            if row is None:
                assert after is None
                continue
            extra = 1 if session == "parser-2" else 0
            assert after["prompts"] == row["prompts"] + extra, session
            if not extra:
                assert all(
                    math.isclose(a, b, abs_tol=1e-12)
                    for a, b in zip(after["embedding"], row["embedding"], strict=True)
                )
        wait_until(lambda: similar(feed, "parser-1")["status"] == "ready")
