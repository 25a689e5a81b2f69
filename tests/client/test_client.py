"""``livebase.client.Client`` against a real ``livebase serve examples/chat``: round trips,
live updates, read-your-writes, function errors, admin auth and closing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from livebase.client import (
    Client,
    ClientError,
    ConnectionClosedError,
    FunctionError,
    InvalidArgumentsError,
)
from livebase.values.types import Int64, Value
from tests.support.calls import wait_until_async

from .conftest import ChatServer, free_port, run

pytestmark = pytest.mark.e2e


def channel() -> str:
    return f"ch-{uuid.uuid4().hex[:8]}"


def test_round_trips_with_int64_and_bytes(chat_server: ChatServer) -> None:
    async def body() -> None:
        value: dict[str, Value] = {
            "small": 5,
            "int64": Int64(5),
            "big": Int64(2**62 + 3),
            "neg": Int64(-(2**63)),
            "float": 2.5,
            "whole_float": 3.0,
            "blob": b"\x00\x01\xfe\xff",
            "empty": b"",
            "nested": [1, [b"x", None, True], {"s": "text"}],
        }
        async with Client(chat_server.url) as c:
            echoed = await c.query("messages:echo", {"value": value})
            assert echoed == value
            assert isinstance(echoed, dict)
            # As the official clients: an int is a number, and a whole number reads back as an
            # int; an int64 is an Int64.
            assert type(echoed["small"]) is int and type(echoed["whole_float"]) is int
            assert type(echoed["int64"]) is Int64 and type(echoed["big"]) is Int64
            assert type(echoed["blob"]) is bytes

            name = f"counter-{uuid.uuid4().hex}"
            assert await c.mutation("counters:increment", {"name": name}) == 1
            two = await c.mutation("counters:increment", {"name": name})
            assert two == 2 and type(two) is Int64  # counters answer returns=v.int64()
            assert await c.query("counters:get", {"name": name}) == 2

            assert await c.action("actions:slow_sum", {"a": 1.5, "b": 2.0}) == 3.5
            ch = channel()
            shout = await c.action("actions:shout", {"channel": ch, "body": "hey"})
            assert isinstance(shout, dict) and shout["count"] == 1
            listed: Any = await c.query("messages:list", {"channel": ch})
            [msg] = listed
            assert msg["body"] == "HEY" and msg["_id"] == shout["id"]

    run(body())


def test_subscription_sees_another_clients_mutation(chat_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(chat_server.url) as watcher, Client(chat_server.url) as writer:
            sub = watcher.subscribe("messages:list", {"channel": ch})
            assert await anext(sub) == []
            await writer.mutation("messages:send", {"channel": ch, "body": "one"})
            got: Any = await anext(sub)
            assert [m["body"] for m in got] == ["one"]
            await writer.mutation("messages:send", {"channel": ch, "body": "two"})
            got = await anext(sub)
            assert [m["body"] for m in got] == ["one", "two"]
            await sub.aclose()

    run(body())


def test_async_for_and_break_removes_the_subscription(chat_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(chat_server.url) as c:

            async def produce() -> None:
                for i in range(3):
                    await c.mutation("messages:send", {"channel": ch, "body": f"m{i}"})

            counts: list[int] = []
            producer: asyncio.Task[None] | None = None
            async for count in c.subscribe("messages:count", {"channel": ch}):
                assert isinstance(count, int)
                counts.append(count)
                if producer is None:
                    producer = asyncio.create_task(produce())
                if count == 3:
                    break
            assert counts[0] == 0 and counts[-1] == 3
            assert counts == sorted(counts)
            assert producer is not None
            await producer
            # Leaving the loop hands the release to the event loop: it happens soon, not now.
            await wait_until_async(lambda: c._state.query_count == 0)

            # async with also unsubscribes.
            async with c.subscribe("messages:count", {"channel": ch}) as sub:
                assert await anext(sub) == 3
                assert sub.latest == 3
            assert sub.closed and c._state.query_count == 0
            with pytest.raises(StopAsyncIteration):
                await anext(sub)

    run(body())


def test_read_your_writes(chat_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(chat_server.url) as c:
            sub = c.subscribe("messages:list", {"channel": ch})
            await anext(sub)
            for i in range(5):
                msg_id = await c.mutation("messages:send", {"channel": ch, "body": f"b{i}"})
                latest: Any = sub.latest
                assert isinstance(latest, list)
                assert [m["_id"] for m in latest][-1] == msg_id
                assert len(latest) == i + 1
                # A one-shot query of a subscribed query answers from the same, current state.
                assert await c.query("messages:count", {"channel": ch}) == i + 1
            sub.close()

    run(body())


def test_app_error_data_and_plain_errors(chat_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(chat_server.url) as c:
            with pytest.raises(FunctionError) as info:
                await c.mutation("messages:send", {"channel": ch, "body": " "})
            assert info.value.data == {"code": "EmptyMessage", "channel": ch}
            assert isinstance(info.value, ClientError)
            assert isinstance(info.value.message, str)

            with pytest.raises(FunctionError) as plain:
                await c.query("messages:boom", {})
            assert plain.value.data is None
            assert plain.value.message

            with pytest.raises(FunctionError):
                await c.query("messages:nope", {})
            with pytest.raises(FunctionError):
                await c.mutation("messages:send", {"channel": ch})  # missing body

            # A failing subscription raises from __anext__ and stays usable.
            sub = c.subscribe("messages:boom", {})
            with pytest.raises(FunctionError):
                await anext(sub)
            with pytest.raises(FunctionError):
                _ = sub.latest
            sub.close()

            with pytest.raises(InvalidArgumentsError):
                await c.mutation("messages:send", {"channel": {1, 2}})  # type: ignore[dict-item]
            # The client still works after all that.
            assert await c.query("messages:count", {"channel": ch}) == 0

    run(body())


def test_admin_auth(chat_server: ChatServer) -> None:
    async def body() -> None:
        async with Client(chat_server.url) as c:
            with pytest.raises(FunctionError):
                await c.query("admin/users:message_total", {})
            c.set_admin_auth(chat_server.admin_key)
            total = await c.query("admin/users:message_total", {})
            assert isinstance(total, int)
            c.clear_auth()
            with pytest.raises(FunctionError):
                await c.query("admin/users:message_total", {})

        async with Client(chat_server.url, admin_key=chat_server.admin_key) as c:
            assert isinstance(await c.query("admin/users:message_total", {}), int)

    run(body())


def test_wrong_admin_key_is_reported_and_cleared(chat_server: ChatServer) -> None:
    async def body() -> None:
        async with Client(chat_server.url, admin_key="wrong-key") as c:
            # The server answers the Authenticate with an AuthError; the client drops the key,
            # reconnects anonymously, and public calls go on working.
            assert await c.query("messages:count", {"channel": channel()}) == 0
            while c.auth_error is None:
                await asyncio.sleep(0.02)
            assert await c.query("messages:count", {"channel": channel()}) == 0
            with pytest.raises(FunctionError):
                await c.query("admin/users:message_total", {})

    run(body())


def test_close_fails_pending_calls() -> None:
    async def body() -> None:
        # Nothing listens on this port: calls wait for a connection until the client closes.
        c = Client(f"http://127.0.0.1:{free_port()}")
        async with c:
            mutation = asyncio.create_task(c.mutation("messages:send", {"channel": "x"}))
            query = asyncio.create_task(c.query("messages:count", {"channel": "x"}))
            sub = c.subscribe("messages:count", {"channel": "x"})
            nxt = asyncio.create_task(anext(sub))
            await asyncio.sleep(0.3)
            assert not mutation.done() and not query.done() and not nxt.done()
            assert not c.connected
        for task in (mutation, query, nxt):
            with pytest.raises(ConnectionClosedError):
                await task
        with pytest.raises(ConnectionClosedError):
            await c.query("messages:count", {"channel": "x"})
        with pytest.raises(ConnectionClosedError):
            c.subscribe("messages:count", {"channel": "x"})
        await c.close()  # idempotent

    run(body())


def test_http_and_sync_clients_see_the_same_data(chat_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(chat_server.url) as c:
            sub = c.subscribe("messages:count", {"channel": ch})
            assert await anext(sub) == 0
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    f"{chat_server.url}/api/mutation",
                    json={
                        "path": "messages:send",
                        "format": "convex_encoded_json",
                        "args": {"channel": ch, "body": "via http"},
                    },
                )
                assert r.json()["status"] == "success"
            assert await anext(sub) == 1
            sub.close()

    run(body())


def test_mutations_from_one_client_run_in_order(chat_server: ChatServer) -> None:
    async def body() -> None:
        name = f"counter-{uuid.uuid4().hex}"
        async with Client(chat_server.url) as c:
            sub = c.subscribe("counters:get", {"name": name})
            results = await asyncio.gather(
                *(c.mutation("counters:increment", {"name": name}) for _ in range(20))
            )
            assert results == list(range(1, 21))
            assert sub.latest == 20
            sub.close()

    run(body())


def test_idle_connection_kept_alive_by_server_pings(chat_server: ChatServer) -> None:
    """With nothing happening, the server's Pings keep the client from declaring it inactive and
    reconnecting. The server pings after 15 s of silence, checked every 5 s, so a Ping comes
    15-20 s after the last message; the timeout here is 25 s (the default is 30 s), 5 s to
    spare on a loaded machine."""

    async def body() -> None:
        async with Client(chat_server.url, inactivity_timeout=25.0) as c:
            sub = c.subscribe("messages:count", {"channel": channel()})
            assert await anext(sub) == 0
            await asyncio.sleep(26.0)  # past the inactivity timeout: a Ping must have come
            assert c.connected
            assert c.connection_count == 1
            sub.close()

    run(body(), timeout=60)
