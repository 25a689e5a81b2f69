"""``asgi_app`` streams ``GET /api/changes`` as ASGI body messages (``more_body``) and stops as
soon as the client disconnects; ordinary responses keep their ``content-length``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from livebase.functions.loader import unload
from livebase.server import Deployment, asgi_app
from tests.support.apps import write_app

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"notes": define_table({"text": v.string()})})
    """,
    "notes.py": """
        from livebase import mutation

        @mutation
        def add(ctx, text: str) -> str:
            return ctx.db.insert("notes", {"text": text})
    """,
}


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LIVEBASE_ADMIN_KEY", "asgi-key")
    d = Deployment(write_app(tmp_path / "app", APP), tmp_path / "data", durability="normal")
    d.open()
    yield d
    d.close()
    unload(d.app)


def scope(query: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/changes",
        "query_string": query.encode(),
        "headers": [(b"authorization", b"Convex asgi-key")],
    }


def test_the_change_stream_is_streamed_and_ends_when_the_client_disconnects(
    deployment: Deployment,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        app = asgi_app(deployment)
        sent: list[dict[str, Any]] = []
        started = asyncio.Event()
        got_body = asyncio.Event()
        disconnect = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                started.set()  # the first body is the checkpoint saying where "now" was
                if b"event: change" in message["body"]:
                    got_body.set()

        serving = asyncio.ensure_future(app(scope("cursor=now"), receive, send))
        # Write only once the stream has fixed "now": a commit before it is not part of it.
        await asyncio.wait_for(started.wait(), 30)
        await deployment.runner.run_mutation("notes:add", {"text": "hi"}, admin=True)
        await asyncio.wait_for(got_body.wait(), 30)
        disconnect.set()
        await asyncio.wait_for(serving, 30)
        return sent

    sent = asyncio.run(scenario())
    start = sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/event-stream" and b"content-length" not in headers
    bodies = [m for m in sent[1:] if m["type"] == "http.response.body"]
    assert all(m["more_body"] for m in bodies)  # no end: the client left
    assert bodies[0]["body"].startswith(b"id: ")  # where "now" was
    assert b'"text":"hi"' in b"".join(m["body"] for m in bodies)


def test_errors_and_json_pages_are_ordinary_responses(deployment: Deployment) -> None:
    async def get(query: str) -> list[dict[str, Any]]:
        app = asgi_app(deployment)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope(query), receive, send)
        return sent

    start, body = asyncio.run(get("cursor=nope"))
    assert start["status"] == 400 and b"InvalidCursor" in body["body"]
    start, body = asyncio.run(get("format=json"))
    assert start["status"] == 200 and dict(start["headers"])[b"content-length"]
    assert body["body"].startswith(b'{"changes":[]')
