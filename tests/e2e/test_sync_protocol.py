"""Sync-protocol guarantees checked over a raw WebSocket: idempotent mutation replay (also across a
``kill -9`` and restart), Authenticate with the admin key and with a bad user token, and query
errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .sync_wire import SyncSocket, decode_ts, decode_value

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def _list(url: str, channel: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{url}/api/query",
        json={
            "path": "messages:list",
            "args": {"channel": channel},
            "format": "convex_encoded_json",
        },
        timeout=10,
    )
    body = response.json()
    assert body["status"] == "success", body
    return list(body["value"])


async def _mutate(sock: SyncSocket, request_id: int, channel: str, body: str) -> dict[str, Any]:
    await sock.send(
        {
            "type": "Mutation",
            "requestId": request_id,
            "udfPath": "messages:send",
            "args": [{"channel": channel, "body": body}],
        }
    )
    response = await sock.wait_for(
        lambda m: m["type"] == "MutationResponse" and m["requestId"] == request_id,
        what=f"MutationResponse {request_id}",
    )
    if response["success"]:
        # Also for a replayed result: without a following Transition the JS client never resolves.
        ts = decode_ts(response["ts"])
        await sock.wait_for(
            lambda m: m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= ts,
            what="the Transition after the MutationResponse",
        )
    return response


def test_resent_mutation_is_applied_once_even_across_kill_9(
    chat_server_factory: Callable[[], ChatServer],
) -> None:
    server = chat_server_factory()
    channel = "replay"

    async def resend(session_id: str, connection_count: int) -> dict[str, Any]:
        sock = await SyncSocket.open(
            server.ws_url,
            path="/api/1.48.0/sync",
            session_id=session_id,
            connection_count=connection_count,
            last_close_reason="closed with code 1006",
        )
        try:
            return await _mutate(sock, 0, channel, "once")
        finally:
            await sock.close()

    async def with_session() -> tuple[str, dict[str, Any]]:
        sock = await SyncSocket.open(server.ws_url, path="/api/1.48.0/sync")
        try:
            response = await _mutate(sock, 0, channel, "once")
            return sock.session_id, response
        finally:
            await sock.close()

    session_id, first = asyncio.run(with_session())
    assert first["success"] is True

    # Same session, same request id, new socket: the stored result and ts, not a second insert.
    replay = asyncio.run(resend(session_id, 1))
    assert replay["success"] is True, replay
    assert replay["result"] == first["result"]
    assert replay["ts"] == first["ts"]
    assert [d["body"] for d in _list(server.url, channel)] == ["once"]

    # The record survives a crash: it was stored in the mutation's own transaction.
    server.kill9()
    server.restart()
    replay = asyncio.run(resend(session_id, 2))
    assert replay["success"] is True, replay
    assert replay["result"] == first["result"]
    assert replay["ts"] == first["ts"]
    assert [d["body"] for d in _list(server.url, channel)] == ["once"]

    # A new request id in the same session is a new mutation.
    async def new_request() -> dict[str, Any]:
        sock = await SyncSocket.open(
            server.ws_url, path="/api/1.48.0/sync", session_id=session_id, connection_count=3
        )
        try:
            return await _mutate(sock, 1, channel, "third")
        finally:
            await sock.close()

    third = asyncio.run(new_request())
    assert third["success"] is True
    assert decode_ts(third["ts"]) > decode_ts(first["ts"])
    assert [d["body"] for d in _list(server.url, channel)] == ["once", "third"]


def test_admin_authenticate_bumps_identity_and_reaches_internal_queries(
    chat_server: ChatServer,
) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            v1 = await sock.modify([(0, "admin/users:message_total", {})])
            await sock.wait_query_set(v1)
            assert 0 in sock.failures, "an internal query must fail without admin auth"
            failed = sock.failures[0]
            assert isinstance(failed["errorMessage"], str)
            assert isinstance(failed["logLines"], list)

            await sock.send(
                {
                    "type": "Authenticate",
                    "baseVersion": 0,
                    "tokenType": "Admin",
                    "value": chat_server.admin_key,
                }
            )
            bumped = await sock.wait_for(
                lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 1,
                what="the identity-bumping Transition",
            )
            assert bumped["startVersion"]["identity"] == 0
            # Re-run under the new identity: the internal query now succeeds.
            if 0 not in sock.results:
                await sock.wait_for(lambda m: 0 in sock.results, what="the re-run internal query")
            assert isinstance(sock.results[0], float) and sock.results[0] >= 0  # a count: a number
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())


def test_bad_user_token_gets_auth_error(chat_server: ChatServer) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send(
                {
                    "type": "Authenticate",
                    "baseVersion": 0,
                    "tokenType": "User",
                    "value": "not-a.valid.jwt",
                }
            )
            error = await sock.wait_for(
                lambda m: m["type"] in ("AuthError", "Transition", "FatalError"),
                what="the answer to a bad user token",
            )
            assert error["type"] == "AuthError", error
            assert error["baseVersion"] == 0
            assert error["authUpdateAttempted"] is True
            assert isinstance(error["error"], str)
            assert error["error"] != ""
        finally:
            await sock.close()

    asyncio.run(run())


def test_query_errors_arrive_as_query_failed(chat_server: ChatServer) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            v = await sock.modify(
                [
                    (0, "messages:boom", {}),
                    (1, "nope:missing", {}),
                    (2, "messages:echo", {"value": {"$integer": "BQAAAAAAAAA="}}),
                ]
            )
            await sock.wait_query_set(v)
            # A plain exception is redacted, as over HTTP: the details stay in the server log.
            assert isinstance(sock.failures[0]["errorMessage"], str)
            assert sock.failures[0]["errorMessage"] != ""
            assert "this is a bug in the app" not in sock.failures[0]["errorMessage"]
            assert "errorData" not in sock.failures[0]
            assert sock.failures[1]["type"] == "QueryFailed"
            assert sock.results[2] == 5
            assert decode_value({"$integer": "BQAAAAAAAAA="}) == 5
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())


def test_failed_mutation_with_error_data_is_followed_by_a_transition(
    chat_server: ChatServer,
) -> None:
    """The Rust/Python client treats a MutationResponse carrying ``errorData`` (a ConvexError) like
    a success: the call completes only on the next Transition (its request manager resolves only
    ``ErrorMessage`` results immediately). Without a Transition, ``mutation()`` blocks forever."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send(
                {
                    "type": "Mutation",
                    "requestId": 0,
                    "udfPath": "messages:send",
                    "args": [{"channel": "fails", "body": " "}],
                }
            )
            failed = await sock.wait_for(lambda m: m["type"] == "MutationResponse", what="failure")
            assert failed["success"] is False
            assert "errorData" in failed
            await sock.wait_for(
                lambda m: m["type"] == "Transition",
                timeout=15,
                what="a Transition after the failed MutationResponse with errorData",
            )
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())
