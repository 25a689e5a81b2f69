"""W1-W4 and the PostgreSQL write rate, each written once for both sides.

Writes always go over HTTP (Livebase ``POST /api/mutation``, PocketBase ``POST
/api/collections/messages/records``) except W1 over Livebase's sync socket, where the client
waits, as a Convex client does, for the Transition after the ``MutationResponse``. Subscribers
are Livebase sync sockets holding ``messages:list {channel}`` or PocketBase SSE streams holding a
``channel='...'`` filter. A delivery is the first frame or event carrying the write's unique body;
latency runs from just before the write's request bytes go out to that arrival
(``time.monotonic_ns`` on both ends, one process).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

import http_mutations as hm

from side_by_side.clients import CLOCK, Deliveries, SseStream, SyncSocket, http_write
from side_by_side.servers import cpu_seconds


class Server(Protocol):
    side: str
    port: int
    ports: list[int]

    @property
    def pids(self) -> list[int]: ...


@dataclass
class Sizes:
    """Counts of one run (``--quick`` makes them small)."""

    w1_warmup: int = 300
    w1_requests: int = 3000
    w2_seconds: float = 5.0
    w3_prefill: int = 200
    w3_writes: int = 100
    w4_writes: int = 100
    w4_writes_10k: int = 20
    w4_connections: int = 100
    pg_seconds: float = 5.0
    delivery_timeout: float = 30.0


async def w1(server: Server, sizes: Sizes, tag: str, socket: bool = False) -> dict[str, Any]:
    """One writer, closed loop: p50/p99 of a mutation round trip."""
    samples: list[int] = []
    if socket:
        sock = SyncSocket(0, server.port)
        await sock.open()
        try:
            for i in range(sizes.w1_warmup + sizes.w1_requests):
                t0 = time.perf_counter_ns()
                await sock.call_mutation("messages:send", {"channel": tag, "body": f"{tag}-{i}"})
                if i >= sizes.w1_warmup:
                    samples.append(time.perf_counter_ns() - t0)
        finally:
            sock.close()
    else:
        conn = hm.Connection(server.port, b"")
        await conn.open()
        try:
            for i in range(sizes.w1_warmup + sizes.w1_requests):
                t0 = time.perf_counter_ns()
                await http_write(conn, server.side, tag, f"{tag}-{i}")
                if i >= sizes.w1_warmup:
                    samples.append(time.perf_counter_ns() - t0)
        finally:
            await conn.close()
    return hm.latency_summary(samples)


async def w2(server: Server, sizes: Sizes, tag: str, writers: int) -> dict[str, Any]:
    """``writers`` closed-loop HTTP writers, spread over the nodes: writes per second."""
    done = 0
    measuring = False
    stop = 0.0

    async def writer(i: int) -> None:
        nonlocal done
        conn = hm.Connection(server.ports[i % len(server.ports)], b"")
        await conn.open()
        n = 0
        try:
            while time.monotonic() < stop:
                await http_write(conn, server.side, f"{tag}-{i}", f"{tag}-{i}-{n}")
                n += 1
                if measuring:
                    done += 1
        finally:
            await conn.close()

    warmup = min(1.0, sizes.w2_seconds / 5)
    stop = time.monotonic() + warmup + sizes.w2_seconds
    tasks = [asyncio.create_task(writer(i)) for i in range(writers)]
    await asyncio.sleep(warmup)
    measuring, cpu0, t0 = True, cpu_seconds(server.pids), time.monotonic()
    await asyncio.gather(*tasks)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(server.pids) - cpu0
    return {"mutations_per_s": round(done / elapsed, 1), "writers": writers,
            "server_cpu_ms_per_write": round(cpu * 1000 / max(done, 1), 3)}  # fmt: skip


async def subscribers(
    server: Server, channels_of: list[list[str]], deliveries: Deliveries, timeout: float
) -> list[SyncSocket | SseStream]:
    """One connection per entry of ``channels_of``, subscribed to those channels' lists."""
    conns: list[SyncSocket | SseStream] = []
    for i, channels in enumerate(channels_of):
        conn: SyncSocket | SseStream
        if server.side == "livebase":
            conn = SyncSocket(i, server.port, deliveries.seen)
            await conn.open()
            queries = [(q, "messages:list", {"channel": c}) for q, c in enumerate(channels)]
            await conn.subscribe(queries, timeout)
        else:
            conn = SseStream(i, server.port, deliveries.seen)
            await conn.open()
            await conn.subscribe(channels)
        conns.append(conn)
    return conns


async def measure_writes(
    server: Server,
    deliveries: Deliveries,
    writes: list[tuple[str, set[int]]],
    warmup: int,
    timeout: float,
    tag: str,
    gap: float = 0.05,
) -> dict[str, Any]:
    """Send each write (channel, connections that must see it), one at a time, ``gap`` seconds
    apart."""
    conn = hm.Connection(server.port, b"")
    await conn.open()
    samples: list[int] = []
    missing = 0
    cpu0 = 0.0
    try:
        for k, (channel, expected) in enumerate(writes):
            if k == warmup:
                cpu0 = cpu_seconds(server.pids)
            body = f"{tag}-{k}"
            deliveries.expect(body, expected)
            t0 = CLOCK()
            await http_write(conn, server.side, channel, body)
            try:
                async with asyncio.timeout(timeout):
                    await deliveries.done.wait()
            except TimeoutError:
                missing += len(expected) - len(deliveries.got)
            if k >= warmup:
                samples.extend(t - t0 for t in deliveries.got.values())
            await asyncio.sleep(gap)
        cpu = cpu_seconds(server.pids) - cpu0
    finally:
        await conn.close()
    measured = len(writes) - warmup
    # The pauses are idle on both sides, so the CPU is the writes' own cost.
    return {**hm.latency_summary(samples), "missing_deliveries": missing,
            "server_cpu_ms_per_write": round(cpu * 1000 / measured, 3)}  # fmt: skip


async def w3(server: Server, sizes: Sizes, tag: str, n_subs: int) -> dict[str, Any]:
    """S subscribers of one channel's whole list, which starts at ``w3_prefill`` rows and grows
    by one row per write."""
    channel = f"{tag}-list"
    conn = hm.Connection(server.port, b"")
    await conn.open()
    for i in range(sizes.w3_prefill):
        await http_write(conn, server.side, channel, f"{tag}-pre-{i}")
    await conn.close()
    deliveries = Deliveries()
    conns = await subscribers(server, [[channel]] * n_subs, deliveries, sizes.delivery_timeout)
    try:
        every = set(range(n_subs))
        warmup = max(2, sizes.w3_writes // 10)
        writes = [(channel, every)] * (warmup + sizes.w3_writes)
        out = await measure_writes(server, deliveries, writes, warmup, sizes.delivery_timeout, tag)
    finally:
        for c in conns:
            c.close()
    return {**out, "subscribers": n_subs, "rows_at_start": sizes.w3_prefill}


async def w4(server: Server, sizes: Sizes, tag: str, n_keys: int, seed: int) -> dict[str, Any]:
    """N subscriptions of N distinct channels over ``w4_connections`` connections; each write
    goes to one random channel, so exactly one subscription changes."""
    n_conns = min(sizes.w4_connections, n_keys)
    channels = [f"{tag}-k{i}" for i in range(n_keys)]
    channels_of = [channels[c::n_conns] for c in range(n_conns)]
    deliveries = Deliveries()
    t0 = time.monotonic()
    conns = await subscribers(server, channels_of, deliveries, sizes.delivery_timeout * 4)
    subscribe_s = time.monotonic() - t0
    try:
        rng = random.Random(seed)
        n_writes = sizes.w4_writes if n_keys <= 1000 else sizes.w4_writes_10k
        warmup = max(2, n_writes // 10)
        picks = [rng.randrange(n_keys) for _ in range(warmup + n_writes)]
        writes = [(channels[k], {k % n_conns}) for k in picks]
        out = await measure_writes(server, deliveries, writes, warmup, sizes.delivery_timeout, tag)
    finally:
        for c in conns:
            c.close()
    return {**out, "subscriptions": n_keys, "connections": n_conns,
            "subscribe_s": round(subscribe_s, 2)}  # fmt: skip
