"""Reconnects against a real server: kill -9 and restart while subscribed, mutations that cross
an outage (applied exactly once), a lost MutationResponse, actions cut off, a silent server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from livebase.client import Client, ConnectionClosedError, ConnectionLostError, Subscription
from livebase.values.types import Value
from tests.support.calls import wait_until_async

from .conftest import ChatServer, Relay, run

pytestmark = pytest.mark.e2e


def channel() -> str:
    return f"ch-{uuid.uuid4().hex[:8]}"


def sent_requests(c: Client) -> int:
    """How many of the client's mutations and actions went out on a socket and await an answer."""
    return sum(1 for req in c._state._requests.values() if req.sent)


async def until_disconnected(c: Client) -> None:
    while c.connected:
        await asyncio.sleep(0.02)


async def next_matching(sub: Subscription, predicate: Callable[[Any], bool]) -> Value:
    """The first result (current or coming) for which ``predicate(result)`` holds."""
    if sub.has_result and predicate(sub.latest):
        return sub.latest
    async for value in sub:
        if predicate(value):
            return value
    raise AssertionError("subscription ended")


def bodies(value: Any) -> list[str]:
    assert isinstance(value, list)
    return [m["body"] for m in value]


def test_kill9_restart_resubscribes(own_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with Client(own_server.url) as c:
            sub = c.subscribe("messages:list", {"channel": ch})
            assert await anext(sub) == []
            await c.mutation("messages:send", {"channel": ch, "body": "before"})
            assert bodies(await anext(sub)) == ["before"]
            session = c.session_id
            assert c.connection_count == 1

            own_server.kill9()
            await until_disconnected(c)
            await asyncio.to_thread(own_server.restart)

            async with Client(own_server.url) as other:
                await other.mutation("messages:send", {"channel": ch, "body": "after"})
            got = await next_matching(sub, lambda v: "after" in bodies(v))
            assert bodies(got) == ["before", "after"]
            assert c.connection_count == 2
            assert c.session_id == session
            # The client's own calls work on the new socket too.
            await c.mutation("messages:send", {"channel": ch, "body": "mine"})
            assert bodies(sub.latest) == ["before", "after", "mine"]
            sub.close()

    run(body(), timeout=40)


def test_mutation_while_server_down_applied_once(own_server: ChatServer) -> None:
    async def body() -> None:
        name = f"c-{uuid.uuid4().hex}"
        async with Client(own_server.url) as c:
            sub = c.subscribe("counters:get", {"name": name})
            assert await anext(sub) == 0

            own_server.kill9()
            await until_disconnected(c)
            pending = asyncio.create_task(c.mutation("counters:increment", {"name": name}))
            await asyncio.sleep(0.3)
            assert not pending.done()
            await asyncio.to_thread(own_server.restart)

            assert await pending == 1
            assert sub.latest == 1  # read your writes across the reconnect
            assert await c.query("counters:get", {"name": name}) == 1
            async with Client(own_server.url) as other:
                assert await other.query("counters:get", {"name": name}) == 1
            sub.close()

    run(body(), timeout=40)


def test_mutation_sent_to_a_frozen_server_resent_after_restart(own_server: ChatServer) -> None:
    """The mutation goes out on the old socket but the (stopped) server never reads it; after
    kill -9 and a restart the client resends it on the new socket."""

    async def body() -> None:
        name = f"c-{uuid.uuid4().hex}"
        async with Client(own_server.url) as c:
            assert await c.query("counters:get", {"name": name}) == 0
            assert own_server.process is not None
            os.kill(own_server.process.pid, signal.SIGSTOP)
            pending = asyncio.create_task(c.mutation("counters:increment", {"name": name}))
            await wait_until_async(lambda: sent_requests(c) == 1)  # on the old socket
            assert not pending.done()
            own_server.kill9()
            await asyncio.to_thread(own_server.restart)
            assert await pending == 1
            assert await c.mutation("counters:increment", {"name": name}) == 2

    run(body(), timeout=40)


def test_lost_mutation_response_is_not_applied_twice(own_server: ChatServer) -> None:
    """The server applies the mutation but its answer never arrives; the client reconnects and
    resends it with the same session and request id, and the server replays the stored result."""

    async def body() -> None:
        name = f"c-{uuid.uuid4().hex}"
        async with (
            Relay(own_server.port) as relay,
            Client(relay.url) as c,
            Client(own_server.url) as direct,
        ):
            watch = direct.subscribe("counters:get", {"name": name})
            assert await anext(watch) == 0
            assert await c.query("counters:get", {"name": name}) == 0

            relay.swallow()
            pending = asyncio.create_task(c.mutation("counters:increment", {"name": name}))
            assert await anext(watch) == 1  # applied on the server
            await asyncio.sleep(0.2)
            assert not pending.done()  # ... but the client never heard back

            relay.cut()
            assert await pending == 1  # the stored result of the one execution
            assert relay.accepted == 2
            await asyncio.sleep(0.2)
            assert watch.latest == 1
            assert await c.query("counters:get", {"name": name}) == 1
            assert await c.mutation("counters:increment", {"name": name}) == 2
            watch.close()

    run(body(), timeout=30)


def test_action_in_flight_fails_when_the_connection_drops(own_server: ChatServer) -> None:
    async def body() -> None:
        async with Relay(own_server.port) as relay, Client(relay.url) as c:
            assert await c.action("actions:slow_sum", {"a": 1.0, "b": 1.0}) == 2.0
            relay.swallow()
            pending = asyncio.create_task(c.action("actions:slow_sum", {"a": 2.0, "b": 2.0}))
            await wait_until_async(lambda: sent_requests(c) == 1)  # in flight: sent, no answer
            relay.cut()
            with pytest.raises(ConnectionLostError):
                await pending
            assert await c.action("actions:slow_sum", {"a": 3.0, "b": 3.0}) == 6.0

    run(body(), timeout=30)


def test_silent_server_is_abandoned_after_the_inactivity_timeout(own_server: ChatServer) -> None:
    async def body() -> None:
        ch = channel()
        async with (
            Relay(own_server.port) as relay,
            Client(relay.url, inactivity_timeout=1.0) as c,
            Client(own_server.url) as writer,
        ):
            sub = c.subscribe("messages:count", {"channel": ch})
            assert await anext(sub) == 0
            relay.swallow()  # the socket stays open but nothing arrives any more
            await writer.mutation("messages:send", {"channel": ch, "body": "x"})
            # Within about a second the client gives up on the socket, reconnects (through a
            # fresh, working relay connection) and resubscribes.
            assert await next_matching(sub, lambda v: v == 1) == 1
            assert c.connection_count == 2
            assert relay.accepted == 2
            sub.close()

    run(body(), timeout=40)


def test_page_journal_survives_a_reconnect(own_server: ChatServer) -> None:
    """A paginated query is re-added after a reconnect with the journal the server gave it, so
    the page keeps its end cursor: a row deleted during the outage shrinks the page instead of
    pulling the next row in."""

    async def body() -> None:
        ch = channel()
        async with (
            Relay(own_server.port) as relay,
            Client(relay.url) as c,
            Client(own_server.url) as writer,
        ):
            ids = [
                await writer.mutation("messages:send", {"channel": ch, "body": f"m{i}"})
                for i in range(3)
            ]
            args: dict[str, Value] = {
                "channel": ch,
                "paginationOpts": {"numItems": 2.0, "cursor": None},
            }
            sub = c.subscribe("messages:page", args)
            first: Any = await anext(sub)
            assert bodies(first["page"]) == ["m0", "m1"] and first["isDone"] is False
            [entry] = c._state._by_id.values()
            assert entry.journal is not None, "the server sent no journal for a page query"

            # Disconnected, a row of the page goes away; the page comes back on the new socket
            # re-added with its journal.
            relay.refuse = True
            relay.cut()
            await until_disconnected(c)
            await writer.mutation("messages:remove", {"id": ids[0]})
            relay.refuse = False
            page: Any = await next_matching(sub, lambda v: "m0" not in bodies(v["page"]))
            assert bodies(page["page"]) == ["m1"]
            assert page["continueCursor"] == first["continueCursor"]
            sub.close()

    run(body(), timeout=30)


def own_sockets_to(port: int) -> int:
    """How many of this process's open TCP sockets are connected to 127.0.0.1:``port``."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    with open("/proc/self/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[9] in inodes:
                count += 1
    return count


def test_close_returns_and_frees_the_socket_when_the_server_stops_reading(
    own_server: ChatServer,
) -> None:
    """A server that stops reading (frozen, or its buffers full) while a large mutation is being
    written: the write waits, and close() must still return within its close timeout and let the
    socket go. It used to wait forever for the unsent bytes to drain."""

    async def body() -> None:
        async with Relay(own_server.port) as relay:
            c = Client(relay.url)
            async with c:
                assert await c.query("counters:get", {"name": "x"}) == 0
                assert own_sockets_to(relay.port) == 1
                relay.stall()
                # More than the kernel buffers on both sides and the relay's reader can take.
                pending = asyncio.create_task(
                    c.mutation("counters:increment", {"name": "y" * 30_000_000})
                )
                await wait_until_async(lambda: sent_requests(c) == 1)
                started = asyncio.get_running_loop().time()
                await c.close()
                # 1 s for the server to answer the close frame and a 1 s margin.
                assert asyncio.get_running_loop().time() - started < 4.0
                assert own_sockets_to(relay.port) == 0
                with pytest.raises(ConnectionClosedError):
                    await pending

    run(body(), timeout=30)


def test_a_cancelled_close_is_cancelled_and_still_frees_the_socket(own_server: ChatServer) -> None:
    """Cancelling the task that waits in close() cancels it (it used to return as if the close
    had finished), and the socket is let go all the same, without waiting for the stalled peer."""

    async def body() -> None:
        async with Relay(own_server.port) as relay:
            c = Client(relay.url)
            await c.__aenter__()
            assert await c.query("counters:get", {"name": "x"}) == 0
            relay.stall()
            pending = asyncio.create_task(
                c.mutation("counters:increment", {"name": "y" * 30_000_000})
            )
            await wait_until_async(lambda: sent_requests(c) == 1)
            closer = asyncio.create_task(c.close())
            await asyncio.sleep(0.3)  # the close is waiting for the stalled server
            assert not closer.done()
            closer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await closer
            await wait_until_async(lambda: own_sockets_to(relay.port) == 0)
            with pytest.raises(ConnectionClosedError):
                await pending

    run(body(), timeout=30)
