"""Sync behaviour over real sockets: a client that stops reading gets the latest state once it
drains (never a backlog), live pages stay gapless while rows are inserted before them, and a
mutation resent on a new socket with the same session and request id is applied once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from .livebase_process import Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def server(tmp_path: Path):
    s = Server(tmp_path / "data", "normal")
    s.start()
    yield s
    s.kill()


@asynccontextmanager
async def sync_socket(
    server: Server, session_id: str | None = None, **options: Any
) -> AsyncIterator[Any]:
    url = server.url.replace("http://", "ws://") + "/api/sync"
    async with websockets.connect(url, max_size=None, **options) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "Connect",
                    "sessionId": session_id or str(uuid.uuid4()),
                    "connectionCount": 0,
                    "lastCloseReason": "InitialConnect",
                    "clientTs": 0,
                }
            )
        )
        yield ws


def add(query_id: int, path: str, args: dict[str, Any], journal: str | None = None) -> dict:
    mod: dict[str, Any] = {"type": "Add", "queryId": query_id, "udfPath": path, "args": [args]}
    if journal is not None:
        mod["journal"] = journal
    return mod


async def next_update(ws: Any, query_id: int, timeout: float = 10) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] != "Transition":
            continue
        for mod in message["modifications"]:
            if mod.get("queryId") == query_id and mod["type"] == "QueryUpdated":
                return mod


def send(server: Server, channel: str, body: str) -> None:
    response = httpx.post(
        server.url + "/api/mutation",
        json={"path": "messages:send", "args": {"channel": channel, "body": body}},
        timeout=10,
    )
    assert response.json()["status"] == "success", response.text


def test_a_client_that_stops_reading_gets_the_latest_state_not_a_backlog(server: Server) -> None:
    async def scenario() -> tuple[int, list[str]]:
        # max_queue=1: the client library stops reading from the socket
        # after one buffered message, so the server's writes back up.
        async with sync_socket(server, max_queue=1) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "ModifyQuerySet",
                        "baseVersion": 0,
                        "newVersion": 1,
                        "modifications": [add(0, "messages:list", {"channel": "slow"})],
                    }
                )
            )
            await next_update(ws, 0)
            padding = "p" * 2000
            async with httpx.AsyncClient(timeout=10) as http:
                for i in range(600):
                    args = {"channel": "slow", "body": f"{i} {padding}"}
                    body = {"path": "messages:send", "args": args}
                    response = await http.post(server.url + "/api/mutation", json=body)
                    assert response.json()["status"] == "success"
            transitions = 0
            last: list[str] = []
            # Read until the latest state (all 600 messages) is in: it is the last Transition for
            # this query, so by then every one the server sent has been counted. (Reading "until
            # 3 s of quiet" instead stopped early when a loaded server took longer than that.)
            async with asyncio.timeout(60):
                while len(last) < 600:
                    message = json.loads(await ws.recv())
                    if message["type"] == "Transition":
                        transitions += 1
                        for mod in message["modifications"]:
                            if mod["type"] == "QueryUpdated":
                                last = [doc["body"].split(" ")[0] for doc in mod["value"]]
            return transitions, last

    transitions, last = asyncio.run(scenario())
    assert last and last[-1] == "599", "the client must end on the latest state"
    assert len(last) == 600
    assert transitions < 300, f"{transitions} Transitions for 600 writes: a backlog was queued"


def test_live_pages_stay_gapless_while_rows_are_inserted(server: Server) -> None:
    for i in range(6):
        send(server, "pages", f"m{i}")

    async def scenario() -> tuple[list[str], list[str], list[str], list[str]]:
        async with sync_socket(server) as ws:
            opts = {"numItems": 3.0, "cursor": None}
            await ws.send(
                json.dumps(
                    {
                        "type": "ModifyQuerySet",
                        "baseVersion": 0,
                        "newVersion": 1,
                        "modifications": [
                            add(0, "messages:page", {"channel": "pages", "paginationOpts": opts})
                        ],
                    }
                )
            )
            first = await next_update(ws, 0)
            page1 = first["value"]
            assert first["journal"] is not None
            opts2 = {"numItems": 3.0, "cursor": page1["continueCursor"]}
            await ws.send(
                json.dumps(
                    {
                        "type": "ModifyQuerySet",
                        "baseVersion": 1,
                        "newVersion": 2,
                        "modifications": [
                            add(1, "messages:page", {"channel": "pages", "paginationOpts": opts2})
                        ],
                    }
                )
            )
            page2 = (await next_update(ws, 1))["value"]
            # Delete the second message (inside page 1): page 1 shrinks, page 2 does not shift.
            second_id = page1["page"][1]["_id"]
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(
                    server.url + "/api/mutation",
                    json={"path": "messages:remove", "args": {"id": second_id}},
                )
                assert r.json()["status"] == "success"
            page1_after = (await next_update(ws, 0))["value"]
            return (
                [d["body"] for d in page1["page"]],
                [d["body"] for d in page2["page"]],
                [d["body"] for d in page1_after["page"]],
                [page1["continueCursor"], page1_after["continueCursor"]],
            )

    page1, page2, page1_after, cursors = asyncio.run(scenario())
    assert page1 == ["m0", "m1", "m2"]
    assert page2 == ["m3", "m4", "m5"]
    assert page1_after == ["m0", "m2"], "a re-run keeps the page's end: it shrinks, not shifts"
    assert cursors[0] == cursors[1], "the continue cursor stays put across re-runs"


def test_a_mutation_resent_on_a_new_socket_is_applied_once(server: Server) -> None:
    session = str(uuid.uuid4())
    mutation = {
        "type": "Mutation",
        "requestId": 0,
        "udfPath": "counters:increment",
        "args": [{"name": "resent"}],
    }

    async def scenario() -> list[dict]:
        answers = []
        for _ in range(3):  # the same request on three sockets of one session
            async with sync_socket(server, session_id=session) as ws:
                await ws.send(json.dumps(mutation))
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["type"] == "MutationResponse":
                        answers.append(message)
                        break
        return answers

    answers = asyncio.run(scenario())
    assert all(a["success"] for a in answers)
    assert len({a["ts"] for a in answers}) == 1, "the stored commit timestamp is returned"
    assert {json.dumps(a["result"]) for a in answers} == {json.dumps({"$integer": "AQAAAAAAAAA="})}
    r = httpx.post(
        server.url + "/api/query",
        json={"path": "counters:get", "args": {"name": "resent"}, "format": "json"},
    )
    assert r.json()["value"] == "1"
