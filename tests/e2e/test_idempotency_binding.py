"""A stored mutation outcome is replayed only to the call that made it: the same caller, the
same function, the same arguments. Another caller reusing an ``Idempotency-Key`` (HTTP) or
another connection's ``sessionId`` and ``requestId`` (sync socket) gets a clear error naming the
reuse, never someone else's result — also after a restart. Real server processes, both
backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.sync_wire import SyncSocket
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ADMIN = "lb_admin_idempotency_binding_key"
SECRET = "sk-internal-7f3a9b"

APP = {
    "notes.py": """
        from livebase import internal_mutation, mutation


        @internal_mutation
        def issue_secret(ctx) -> dict:
            ctx.db.insert("secrets", {"value": "SECRET"})
            return {"secret": "SECRET"}


        @mutation
        def add(ctx, text: str) -> dict:
            return {"id": ctx.db.insert("notes", {"text": text}), "text": text}
    """.replace("SECRET", SECRET),
}


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LivebaseServer]:
    app = write_app(tmp_path / "app", APP)
    if request.param == "sqlite":
        with LivebaseServer.launch(tmp_path / "s", app=app, admin_key=ADMIN) as s:
            yield s
    else:
        with fresh_database_url("idem") as url:
            with LivebaseServer.launch(tmp_path / "s", app=app, admin_key=ADMIN, db=url) as s:
                yield s


def post(
    server: LivebaseServer, path: str, args: dict[str, Any], key: str, admin: bool = False
) -> httpx.Response:
    headers = {"idempotency-key": key}
    if admin:
        headers["authorization"] = f"Convex {ADMIN}"
    body = {"path": path, "args": args, "format": "json"}
    return httpx.post(f"{server.url}/api/mutation", json=body, headers=headers, timeout=30)


def test_an_http_idempotency_key_replays_only_to_the_same_caller_and_call(
    server: LivebaseServer,
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = post(server, "notes:issue_secret", {}, key, admin=True)
    assert first.json()["value"] == {"secret": SECRET}

    # An anonymous client calling a public mutation with the admin's key.
    stolen = post(server, "notes:add", {"text": "hi"}, key)
    assert stolen.status_code == 422, stolen.text
    assert stolen.json()["code"] == "IdempotencyKeyReused"
    assert SECRET not in stolen.text and "already answered a different call" in stolen.text
    # The same function and caller but other arguments, and the same call without the admin key.
    other = post(server, "notes:add", {"text": "x"}, k2 := f"k-{uuid.uuid4().hex}")
    assert other.status_code == 200
    assert post(server, "notes:add", {"text": "y"}, k2).json()["code"] == "IdempotencyKeyReused"
    assert post(server, "notes:issue_secret", {}, key).status_code == 404  # internal: no admin

    # The same caller resending the same call still gets the stored outcome, once applied.
    again = post(server, "notes:issue_secret", {}, key, admin=True)
    assert again.json()["value"] == {"secret": SECRET}
    assert post(server, "notes:add", {"text": "x"}, k2).json()["value"] == other.json()["value"]

    server.kill9()
    server.restart()
    assert post(server, "notes:add", {"text": "hi"}, key).json()["code"] == "IdempotencyKeyReused"
    replay = post(server, "notes:issue_secret", {}, key, admin=True)
    assert replay.json()["value"] == {"secret": SECRET}


async def mutate(sock: SyncSocket, request_id: int, path: str, args: dict[str, Any]) -> Any:
    await sock.send({"type": "Mutation", "requestId": request_id, "udfPath": path, "args": [args]})
    return await sock.wait_for(
        lambda m: m["type"] == "MutationResponse" and m["requestId"] == request_id,
        timeout=20,
        what=f"MutationResponse {request_id}",
    )


def test_a_sync_session_id_and_request_id_replay_only_to_the_same_call(
    server: LivebaseServer,
) -> None:
    session = str(uuid.uuid4())

    async def first() -> dict[str, Any]:
        sock = await SyncSocket.open(server.ws_url, session_id=session)
        await sock.send(
            {"type": "Authenticate", "tokenType": "Admin", "value": ADMIN, "baseVersion": 0}
        )
        reply = await mutate(sock, 0, "notes:issue_secret", {})
        await sock.close()
        return reply

    async def impostor(args: dict[str, Any], path: str = "notes:add") -> dict[str, Any]:
        sock = await SyncSocket.open(server.ws_url, session_id=session, connection_count=1)
        reply = await mutate(sock, 0, path, args)
        await sock.close()
        return reply

    reply = asyncio.run(first())
    assert reply["success"] and reply["result"] == {"secret": SECRET}

    stolen = asyncio.run(impostor({"text": "hi"}))
    assert stolen["success"] is False
    assert SECRET not in str(stolen) and "already answered a different call" in str(stolen)
    # Without the admin credential the internal function is not even there for the impostor.
    stolen = asyncio.run(impostor({}, "notes:issue_secret"))
    assert stolen["success"] is False and SECRET not in str(stolen)

    server.kill9()
    server.restart()
    stolen = asyncio.run(impostor({"text": "hi"}))
    assert stolen["success"] is False and SECRET not in str(stolen)
    assert asyncio.run(first())["result"] == {"secret": SECRET}  # the owner's resend replays
