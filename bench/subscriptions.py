#!/usr/bin/env python3
"""Commit-to-subscriber latency benchmark for the livebase sync WebSocket.

Starts one fresh ``livebase serve`` process (with a fresh data directory) per scenario and
measures, with raw WebSocket clients that speak the Convex sync protocol by hand (Connect,
ModifyQuerySet, then Transitions), how long a committed write takes to reach its subscribers:

* ``one-query``: S subscribers (each on its own WebSocket) of ONE query, ``messages:list``
  ``{"channel": "bench", "limit": 20}`` or ``messages:count`` ``{"channel": "bench"}``. One writer
  sends ``messages:send`` over HTTP at a fixed rate. Latency per delivery runs from just before the
  write request is sent to the moment each subscriber's socket yields the Transition carrying that
  write's effect. Also the first-to-last spread per write. ``messages:list`` returns the 20
  oldest messages, so for it each measured insert (into a channel of 19) is followed by an
  unmeasured delete that brings the channel back to 19.
* ``distinct``: N distinct subscriptions of ``messages:count`` ``{"channel": "k<i>"}`` spread over
  a fixed number of connections. Each write goes to one random ``k<i>``; latency to the affected
  subscription and server CPU per write. A second variant writes to a channel nobody subscribes to.

All sockets live in this one asyncio (uvloop) process, each a websockets Sans-I/O
``ClientProtocol`` on a plain asyncio Protocol (or, with ``--ws-client asyncio``, websockets'
``connect()``). The writer is the minimal keep-alive
HTTP/1.1 client from ``http_mutations.py``, which this script also borrows its server handling and
machine facts from. Only 127.0.0.1 is used; every loop is bounded by a count or a deadline.

See bench/README.md for how to run it and what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import re
import resource
import shutil
import socket
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_mutations as hm  # sibling script: HTTP client, server process, machine facts

try:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.client import ClientProtocol
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri
except ImportError:  # pragma: no cover
    sys.exit("bench/subscriptions.py needs websockets >= 13 (websockets.asyncio.client)")

HOST = hm.HOST
SYNC_PATH = "/api/sync"
CLOCK = time.monotonic_ns  # CLOCK_MONOTONIC, comparable across processes (peers.md Part C)
ZERO_VERSION = b'{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="}'
TRANSITION_PREFIX = b'{"type":"Transition"'
PING = b'{"type":"Ping"}'
VERSION_RE = re.compile(rb'"startVersion":(\{[^{}]*\}),"endVersion":(\{[^{}]*\})')
# Fast path for a one-query count subscription (query id 0); anything else falls back to json.
COUNT_RE = re.compile(
    rb'"type":"QueryUpdated","queryId":0,"value":'
    rb'(?:\{"\$integer":"([A-Za-z0-9+/=]*)"\}|(-?[0-9][0-9.eE+-]*))'
)
MAX_MESSAGE = 2**26
LIST_LIMIT = 20
LIST_PREFILL = LIST_LIMIT - 1  # the measured insert makes it 20; a reset delete brings it back
TARGETS = {
    "pocketbase_1_sub_ms": 1.5,
    "pocketbase_100_subs_ms": 4.5,
    "one_query_1000_p99_ms": 30.0,
    "distinct_vs_1_sub_ratio": 1.5,
    "cpu_flat_ratio": 1.25,
}


def int64(n: int) -> dict[str, str]:
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def decode_int(value: Any) -> int:
    if isinstance(value, dict) and "$integer" in value:
        return int.from_bytes(base64.b64decode(value["$integer"]), "little", signed=True)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Bookkeeping
# --------------------------------------------------------------------------------------------


class Tracker:
    """For each write: when it was sent and when each of its expected deliveries arrived."""

    def __init__(self, n_writes: int, fanout: int) -> None:
        self.fanout = fanout
        self.sent = [0] * n_writes
        self.recv = [[0] * fanout for _ in range(n_writes)]
        self.left = [fanout] * n_writes
        self.events: dict[int, asyncio.Event] = {}
        self.duplicates = 0

    def deliver(self, k: int, slot: int, t: int) -> None:
        row = self.recv[k]
        if row[slot]:
            self.duplicates += 1
            return
        row[slot] = t
        self.left[k] -= 1
        if self.left[k] == 0:
            ev = self.events.get(k)
            if ev is not None:
                ev.set()

    async def wait(self, ks: range, timeout: float) -> bool:
        """Wait until every write in ks is fully delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        for k in ks:
            if self.left[k] == 0:
                continue
            ev = self.events.setdefault(k, asyncio.Event())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await ev.wait()
            except TimeoutError:
                return False
        return True

    def summary(self, ks: range) -> dict[str, Any]:
        lat: list[int] = []
        spreads: list[int] = []
        lasts: list[int] = []
        missing = 0
        for k in ks:
            t0 = self.sent[k]
            got = [t for t in self.recv[k] if t]
            missing += self.fanout - len(got)
            lat.extend(t - t0 for t in got)
            if got:
                spreads.append(max(got) - min(got))
            if len(got) == self.fanout:
                lasts.append(max(got) - t0)
        out: dict[str, Any] = {
            "expected_deliveries": len(ks) * self.fanout,
            "deliveries": len(lat),
            "missing_deliveries": missing,
            "duplicate_deliveries": self.duplicates,
            "latency": hm.latency_summary(lat) if lat else None,
        }
        if self.fanout > 1:
            out["spread"] = hm.latency_summary(spreads) if spreads else None
            out["last_delivery"] = hm.latency_summary(lasts) if lasts else None
            out["fully_delivered_writes"] = len(lasts)
        return out


@dataclass(eq=False)
class Sub:
    """One WebSocket connection: its protocol state and what it has seen."""

    index: int
    conn: Any = None  # SansIOConn or AsyncioConn
    keys: dict[int, int] = field(default_factory=dict)  # queryId -> channel number (distinct)
    pending_initial: set[int] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    initial: Any = None
    last_end: bytes = ZERO_VERSION
    transitions: int = 0
    empty_transitions: int = 0
    pings: int = 0
    other_frames: int = 0
    chain_errors: int = 0
    handler_errors: int = 0
    closing: bool = False
    closed: str | None = None


@dataclass
class Problems:
    """Protocol oddities, counted over all sockets, with a few samples for the report."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def add(self, kind: str, detail: str = "") -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.samples) < 8:
            self.samples.append(f"{kind}: {detail[:300]}")


Handler = Callable[[Sub, bytes, int], None]


def frame_received(sub: Sub, frame: bytes, t: int, handler: Handler, problems: Problems) -> None:
    """Check one server message (version chain, type) and hand Transitions to the workload."""
    if frame.startswith(TRANSITION_PREFIX):
        sub.transitions += 1
        m = VERSION_RE.search(frame)
        if m is None:
            problems.add(
                "transition without parsable versions", frame[:200].decode("utf-8", "replace")
            )
        else:
            if m.group(1) != sub.last_end:
                sub.chain_errors += 1
                problems.add(
                    "startVersion != previous endVersion",
                    f"socket {sub.index}: start {m.group(1)!r}, previous end {sub.last_end!r}",
                )
            sub.last_end = m.group(2)
        if b'"modifications":[]' in frame:
            sub.empty_transitions += 1
            return
        try:
            handler(sub, frame, t)
        except Exception as e:
            sub.handler_errors += 1
            problems.add("bad Transition", f"{type(e).__name__}: {e}; {frame[:200]!r}")
    elif frame == PING:
        sub.pings += 1
    else:
        sub.other_frames += 1
        problems.add("unexpected message", frame[:300].decode("utf-8", "replace"))


def connection_lost(sub: Sub, problems: Problems, why: str) -> None:
    if sub.closed is None:
        sub.closed = why
        if not sub.closing:
            problems.add("socket closed by the server", f"socket {sub.index}: {why}")


class SansIOConn(asyncio.Protocol):
    """WebSocket client on websockets' Sans-I/O ``ClientProtocol`` over a plain asyncio Protocol.

    A frame is timestamped in ``data_received``, as soon as the event loop hands over the bytes,
    and costs only the frame parser: no per-message futures or queues. Pings get pongs from the
    protocol object itself.
    """

    def __init__(self, sub: Sub, handler: Handler, problems: Problems, uri: str) -> None:
        self.sub, self.handler, self.problems = sub, handler, problems
        self.proto = ClientProtocol(parse_uri(uri), max_size=MAX_MESSAGE)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.parts: list[bytes] = []

    async def open(self, port: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: self, HOST, port)
            await self.opened

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = self.proto.connect()
        request.headers["User-Agent"] = "livebase-bench"
        self.proto.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        t = CLOCK()
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Frame):
                op = event.opcode
                if op is Opcode.TEXT or (op is Opcode.CONT and self.parts):
                    if event.fin and not self.parts:
                        frame_received(self.sub, event.data, t, self.handler, self.problems)
                    else:
                        self.parts.append(event.data)
                        if event.fin:
                            whole, self.parts = b"".join(self.parts), []
                            frame_received(self.sub, whole, t, self.handler, self.problems)
                elif op is Opcode.BINARY:
                    self.sub.other_frames += 1
                    self.problems.add("binary frame", repr(event.data[:100]))
            elif not self.opened.done():  # the handshake Response
                if self.proto.handshake_exc is not None:
                    self.opened.set_exception(self.proto.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()
        if self.proto.close_expected() and self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        code = self.proto.close_code
        connection_lost(self.sub, self.problems, f"code {code} {self.proto.close_reason or exc}")
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))

    async def send(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    async def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            self.proto.send_close(1000)
            self._flush()
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AsyncioConn:
    """WebSocket client on websockets' asyncio API (``recv()`` per message; more client CPU)."""

    def __init__(self, sub: Sub, handler: Handler, problems: Problems, uri: str) -> None:
        self.sub, self.handler, self.problems, self.uri = sub, handler, problems, uri
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, port: int, timeout: float) -> None:
        self.ws = await ws_connect(
            self.uri,
            compression=None,
            ping_interval=None,
            max_size=MAX_MESSAGE,
            max_queue=256,
            open_timeout=timeout,
            close_timeout=2,
            user_agent_header="livebase-bench",
        )
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        clock = CLOCK
        try:
            while True:
                frame = await self.ws.recv(decode=False)
                frame_received(self.sub, frame, clock(), self.handler, self.problems)
        except ConnectionClosed as e:
            rcvd = e.rcvd
            why = f"code {rcvd.code} {rcvd.reason}" if rcvd else "no close frame"
            connection_lost(self.sub, self.problems, why)

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2):
                    await self.task

    def abort(self) -> None:
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def open_sub(
    port: int, sub: Sub, adds: list[dict[str, Any]], handler: Handler, problems: Problems, a
) -> None:
    uri = f"ws://{HOST}:{port}{SYNC_PATH}"
    conn_cls = SansIOConn if a.ws_client == "sansio" else AsyncioConn
    sub.conn = conn_cls(sub, handler, problems, uri)
    await sub.conn.open(port, a.connect_timeout)
    await sub.conn.send(
        json.dumps(
            {
                "type": "Connect",
                "sessionId": str(uuid.uuid4()),
                "connectionCount": 0,
                "lastCloseReason": "InitialConnect",
                "clientTs": 0,
            }
        )
    )
    await sub.conn.send(
        json.dumps(
            {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds},
            separators=(",", ":"),
        )
    )


async def open_all(
    port: int,
    subs: list[Sub],
    adds_for: Callable[[Sub], list[dict[str, Any]]],
    handler: Handler,
    problems: Problems,
    a: argparse.Namespace,
) -> float:
    """Open every socket (a batch at a time) and wait until each has its first results."""
    t0 = time.monotonic()
    for i in range(0, len(subs), a.connect_batch):
        batch = subs[i : i + a.connect_batch]
        try:
            async with asyncio.timeout(a.connect_timeout):
                outcomes = await asyncio.gather(
                    *(open_sub(port, s, adds_for(s), handler, problems, a) for s in batch),
                    return_exceptions=True,
                )
        except TimeoutError:
            raise hm.BenchError(
                f"opening sockets {i}..{i + len(batch) - 1} took over {a.connect_timeout:.0f} s"
            ) from None
        failed = [e for e in outcomes if isinstance(e, BaseException)]
        if failed:
            raise hm.BenchError(
                f"{len(failed)} of {len(batch)} sockets in batch {i // a.connect_batch} failed "
                f"to open or subscribe, e.g. {type(failed[0]).__name__}: {failed[0]}"
            )
    remaining = max(1.0, a.connect_timeout - (time.monotonic() - t0))
    try:
        async with asyncio.timeout(remaining):
            await asyncio.gather(*(s.ready.wait() for s in subs))
    except TimeoutError:
        waiting = sum(1 for s in subs if not s.ready.is_set())
        raise hm.BenchError(
            f"{waiting} of {len(subs)} sockets had no initial query results after "
            f"{a.connect_timeout:.0f} s"
        ) from None
    return time.monotonic() - t0


async def close_all(subs: list[Sub]) -> None:
    for s in subs:
        s.closing = True
    for i in range(0, len(subs), 200):
        batch = [s.conn for s in subs[i : i + 200] if s.conn is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*(c.close() for c in batch), return_exceptions=True)
    await asyncio.sleep(0)
    for s in subs:
        if s.conn is not None:
            s.conn.abort()


def socket_totals(subs: list[Sub]) -> dict[str, int]:
    return {
        "transitions": sum(s.transitions for s in subs),
        "empty_transitions": sum(s.empty_transitions for s in subs),
        "pings": sum(s.pings for s in subs),
        "other_messages": sum(s.other_frames for s in subs),
        "version_chain_errors": sum(s.chain_errors for s in subs),
        "bad_transitions": sum(s.handler_errors for s in subs),
        "closed_by_server": sum(1 for s in subs if s.closed is not None and not s.closing),
    }


# --------------------------------------------------------------------------------------------
# Writer, metrics, CPU
# --------------------------------------------------------------------------------------------


class HttpWriter:
    """One keep-alive HTTP/1.1 connection that posts mutations (raw asyncio, no library)."""

    def __init__(self, port: int, errors: hm.ErrorLog) -> None:
        self.port = port
        self.errors = errors
        self.conn = hm.Connection(port, b"")
        self.rtt_ns: list[int] = []

    async def open(self) -> None:
        await self.conn.open()

    async def close(self) -> None:
        await self.conn.close()

    async def mutation(
        self,
        path: str,
        args: dict[str, Any],
        t0_out: list[int] | None = None,
        record: bool = True,
    ):
        body = json.dumps(
            {"path": path, "args": args, "format": "convex_encoded_json"}, separators=(",", ":")
        ).encode()
        self.conn.request = hm.build_request("POST", "/api/mutation", self.port, body)
        t0 = CLOCK()
        if t0_out is not None:
            t0_out.append(t0)
        status, resp = await self.conn.send()
        if record:
            self.rtt_ns.append(CLOCK() - t0)
        if not self.errors.check(status, resp):
            return None
        return json.loads(resp).get("value")


async def get_metrics(port: int) -> dict[str, float]:
    status, body = await hm.http_get(port, "/metrics", timeout=10.0, headers=hm.metrics_auth())
    if status != 200:
        raise hm.BenchError(f"GET /metrics returned HTTP {status}")
    out: dict[str, float] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


def metric(m: dict[str, float], name: str, **labels: str) -> float:
    total, found = 0.0, False
    for key, value in m.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
            found = True
    return total if found else float("nan")


def server_cpu_ns(root_pid: int) -> int:
    """On-CPU nanoseconds of the server's live threads (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for pid in hm.proc_tree_pids(root_pid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError, ValueError),
                    open(f"/proc/{pid}/task/{tid}/schedstat") as f,
                ):
                    total += int(f.read().split()[0])
    return total


class Window:
    """CPU (server and client), wall time and /metrics deltas over a measured window."""

    def __init__(self, port: int, server_pid: int, idle_ms_per_s: float | None = None) -> None:
        self.port = port
        self.pid = server_pid
        self.idle_ms_per_s = idle_ms_per_s

    async def start(self) -> None:
        self.m0 = await get_metrics(self.port)
        self.cli0 = time.process_time()
        self.srv0 = hm.proc_tree_cpu_seconds(self.pid)
        self.srv_ns0 = server_cpu_ns(self.pid)
        self.t0 = time.monotonic()

    async def stop(self, writes: int, query_path: str) -> dict[str, Any]:
        t1 = time.monotonic()
        srv1 = hm.proc_tree_cpu_seconds(self.pid)
        srv_ns1 = server_cpu_ns(self.pid)
        cli1 = time.process_time()
        m1 = await get_metrics(self.port)
        wall = t1 - self.t0

        def delta(name: str, **labels: str) -> float:
            return metric(m1, name, **labels) - metric(self.m0, name, **labels)

        push_n = delta("livebase_commit_to_push_seconds_count")
        push_s = delta("livebase_commit_to_push_seconds_sum")
        reruns = delta("livebase_function_executions_total", path=query_path, kind="query")
        srv = srv1 - self.srv0
        srv_ms = (srv_ns1 - self.srv_ns0) / 1e6
        net = None
        if self.idle_ms_per_s is not None:
            net = round((srv_ms - self.idle_ms_per_s * wall) / writes, 3)
        return {
            "window_s": round(wall, 3),
            "server_cpu_ms_per_write": round(srv * 1e3 / writes, 3),
            "server_cpu_ms_per_write_schedstat": round(srv_ms / writes, 3),
            "server_cpu_ms_per_write_net_of_idle": net,
            "server_cpu_utilisation": round(srv / wall, 3) if wall else None,
            "client_cpu_ms_per_write": round((cli1 - self.cli0) * 1e3 / writes, 3),
            "client_cpu_utilisation": round((cli1 - self.cli0) / wall, 3) if wall else None,
            "query_reruns_per_write": None if math.isnan(reruns) else round(reruns / writes, 3),
            "commits": None
            if math.isnan(delta("livebase_commits_total"))
            else int(delta("livebase_commits_total")),
            "server_push_histogram_count": None if math.isnan(push_n) else int(push_n),
            "server_push_mean_ms": round(push_s / push_n * 1e3, 4) if push_n > 0 else None,
        }


async def measure_idle(run: ScenarioRun, seconds: float) -> float | None:
    """Server CPU while nothing happens (timers, pings), in ms per second (schedstat)."""
    if seconds <= 0:
        return None
    c0, t0 = server_cpu_ns(run.server.pid), time.monotonic()
    await asyncio.sleep(seconds)
    ms_per_s = (server_cpu_ns(run.server.pid) - c0) / 1e6 / (time.monotonic() - t0)
    run.result["server_idle_cpu_ms_per_s"] = round(ms_per_s, 3)
    return ms_per_s


async def pace(next_t: float) -> float:
    """Sleep until next_t (time.monotonic); return how late we are (s, >= 0)."""
    delay = next_t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return max(0.0, time.monotonic() - next_t)


# --------------------------------------------------------------------------------------------
# Scenario plumbing
# --------------------------------------------------------------------------------------------


class ScenarioRun:
    """A fresh data directory and server for one scenario; cleans up after itself."""

    def __init__(self, a: argparse.Namespace, name: str) -> None:
        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix=f"livebase-bench-subs-{name}-", dir=a.tmp_dir))
        data = self.tmp / "data"
        data.mkdir()
        self.port = hm.free_port()
        self.server = hm.Server(a, a.durability, self.port, data, self.tmp / "server.log")
        self.result: dict[str, Any] = {"scenario": name, "port": self.port}

    async def start(self) -> None:
        self.server.start()
        self.result["server_pid"] = self.server.pid
        ready_s, version = await self.server.wait_ready(self.a.startup_timeout)
        self.result["startup_s"] = round(ready_s, 3)
        self.result["server_version"] = version[:200]
        self.result["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]

    def finish(self, errors: hm.ErrorLog) -> dict[str, Any]:
        r = self.result
        if self.server.proc is not None and self.server.proc.poll() is not None:
            r.setdefault("error", f"server exited early with code {self.server.proc.returncode}")
        else:
            pids = hm.proc_tree_pids(self.server.pid)
            r["server_rss_mb"] = hm.rss_mb(pids)
            r["server_processes"] = len(pids)
        r["failed_mutations"] = errors.count
        if errors.samples:
            r["failure_samples"] = errors.samples
        r["server_exit_code"] = self.server.stop()
        if "error" in r:
            r["server_log_tail"] = self.server.log_tail()
        if self.a.keep_data:
            r["kept_dir"] = str(self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return r


async def run_scenario(a: argparse.Namespace, name: str, body) -> dict[str, Any]:
    run = ScenarioRun(a, name)
    errors = hm.ErrorLog(a.max_errors)
    subs: list[Sub] = []
    problems = Problems()
    writer: HttpWriter | None = None
    try:
        async with asyncio.timeout(a.scenario_timeout):
            await run.start()
            log(f"[{name}] server pid {run.server.pid} ready on port {run.port}")
            writer = HttpWriter(run.port, errors)
            await writer.open()
            await body(run, writer, subs, problems)
    except TimeoutError:
        run.result["error"] = f"scenario exceeded its time limit ({a.scenario_timeout} s)"
    except Exception as e:  # report it, stop the server, go on with the next scenario
        run.result["error"] = f"{type(e).__name__}: {e}"
    finally:
        try:
            run.result["sockets"] = socket_totals(subs)
            if problems.counts:
                run.result["protocol_problems"] = problems.counts
                run.result["protocol_problem_samples"] = problems.samples
            if writer is not None:
                await writer.close()
            await close_all(subs)
        finally:
            result = run.finish(errors)  # always stops the server
    return result


# --------------------------------------------------------------------------------------------
# Workload 1: S subscribers of one query
# --------------------------------------------------------------------------------------------


async def one_query(a: argparse.Namespace, query: str, n_subs: int) -> dict[str, Any]:
    n_total = a.warmup_writes + a.writes
    measured = range(a.warmup_writes, n_total)
    ins = Tracker(n_total, n_subs)
    rm = Tracker(n_total, n_subs)  # list only: the reset delete after each insert
    run_id = uuid.uuid4().hex[:8]
    state: dict[str, Any] = {"base": None, "k": -1, "marker": b"\x00", "removing": False}
    unexpected = [0]
    path = f"messages:{query}"
    qargs: dict[str, Any] = {"channel": "bench"}
    if query == "list":
        qargs["limit"] = int64(LIST_LIMIT)

    def initial(sub: Sub, frame: bytes) -> None:
        for mod in json.loads(frame)["modifications"]:
            if mod.get("queryId") != 0:
                continue
            if mod["type"] == "QueryUpdated":
                v = mod["value"]
                sub.initial = decode_int(v) if query == "count" else len(v)
            else:
                sub.initial = f"{mod['type']}: {mod.get('errorMessage')}"
            sub.ready.set()

    def on_count(sub: Sub, frame: bytes, t: int) -> None:
        if not sub.ready.is_set():
            initial(sub, frame)
            return
        m = COUNT_RE.search(frame)
        if m is not None:
            v = (
                int.from_bytes(base64.b64decode(m.group(1)), "little", signed=True)
                if m.group(1) is not None
                else int(float(m.group(2)))
            )
        else:
            mods = [x for x in json.loads(frame)["modifications"] if x.get("queryId") == 0]
            if not mods or mods[-1]["type"] != "QueryUpdated":
                unexpected[0] += 1
                return
            v = decode_int(mods[-1]["value"])
        k = v - state["base"] - 1
        if 0 <= k < n_total:
            ins.deliver(k, sub.index, t)
        else:
            unexpected[0] += 1

    def on_list(sub: Sub, frame: bytes, t: int) -> None:
        if not sub.ready.is_set():
            initial(sub, frame)
            return
        k = state["k"]
        if k < 0:
            unexpected[0] += 1
        elif state["marker"] in frame:
            ins.deliver(k, sub.index, t)
        elif state["removing"]:
            rm.deliver(k, sub.index, t)
        else:
            unexpected[0] += 1

    async def body(run: ScenarioRun, writer: HttpWriter, subs: list[Sub], problems: Problems):
        r = run.result
        r.update({"workload": "one-query", "query": path, "args": qargs, "subscribers": n_subs})
        if query == "list":
            for i in range(LIST_PREFILL):
                await writer.mutation(
                    "messages:send", {"channel": "bench", "body": f"pre{i}"}, record=False
                )
        subs.extend(Sub(i) for i in range(n_subs))
        adds = [{"type": "Add", "queryId": 0, "udfPath": path, "args": [qargs]}]
        setup_s = await open_all(
            run.port, subs, lambda s: adds, on_count if query == "count" else on_list, problems, a
        )
        r["subscribe_s"] = round(setup_s, 3)
        initials = {repr(s.initial) for s in subs}
        if len(initials) != 1:
            raise hm.BenchError(f"subscribers disagree on the initial result: {sorted(initials)}")
        first = subs[0].initial
        want = 0 if query == "count" else LIST_PREFILL
        if first != want:
            raise hm.BenchError(f"initial result of {path} is {first!r}, expected {want}")
        state["base"] = first
        m = await get_metrics(run.port)
        r["gauges_after_subscribe"] = {
            "livebase_subscriptions": metric(m, "livebase_subscriptions"),
            "livebase_sync_connections": metric(m, "livebase_sync_connections"),
        }
        log(f"[{r['scenario']}] {n_subs} sockets subscribed in {setup_s:.2f} s; writing")

        idle = await measure_idle(run, a.idle_seconds)
        interval = 1.0 / a.rate
        lags: list[float] = []
        timeouts = {"insert": 0, "reset": 0}
        window = Window(run.port, run.server.pid, idle)

        async def write(k: int) -> None:
            body_text = f"{run_id}-w{k}"
            state["k"], state["marker"], state["removing"] = (
                k,
                f'"body":"{body_text}"'.encode(),
                False,
            )
            t0: list[int] = []
            doc_id = await writer.mutation(
                "messages:send", {"channel": "bench", "body": body_text}, t0
            )
            ins.sent[k] = t0[0]
            rm.sent[k] = t0[0]
            if query != "list":
                return
            # messages:list takes the 20 oldest messages, so an insert past the 20th would not
            # change it. Wait for every subscriber to see the insert, delete it again (unmeasured)
            # and wait for that too, so the next insert again changes the result.
            if not await ins.wait(range(k, k + 1), a.delivery_timeout):
                timeouts["insert"] += 1
            state["removing"] = True
            if doc_id is not None:
                await writer.mutation("messages:remove", {"id": doc_id}, record=False)
            if not await rm.wait(range(k, k + 1), a.delivery_timeout):
                timeouts["reset"] += 1

        next_t = time.monotonic()
        for k in range(n_total):
            if k == a.warmup_writes:
                await ins.wait(range(k), a.drain_timeout)
                await window.start()
                next_t = time.monotonic()
            lag = await pace(next_t)
            if k >= a.warmup_writes:
                lags.append(lag)
            await write(k)
            next_t += interval
        drained = await ins.wait(measured, a.drain_timeout)
        w = await window.stop(a.writes, path)
        r["window"] = w
        r["writes"] = a.writes
        r["warmup_writes"] = a.warmup_writes
        r["target_rate_per_s"] = a.rate
        r["achieved_rate_per_s"] = round(a.writes / (w["window_s"] or float("nan")), 2)
        r["max_schedule_lag_ms"] = round(max(lags) * 1e3, 3) if lags else None
        r["all_delivered_before_drain_timeout"] = drained
        r["delivery"] = ins.summary(measured)
        r["http_write_rtt"] = hm.latency_summary(writer.rtt_ns[-a.writes :])
        r["unexpected_updates"] = unexpected[0]
        if query == "list":
            r["reset_deletes"] = a.writes + a.warmup_writes
            r["reset_delivery"] = rm.summary(measured)
            r["wait_timeouts"] = timeouts

    return await run_scenario(a, f"one-query-{query}-S{n_subs}", body)


# --------------------------------------------------------------------------------------------
# Workload 2: N distinct subscriptions, each write affects one (or none)
# --------------------------------------------------------------------------------------------


async def distinct(a: argparse.Namespace, n_keys: int) -> dict[str, Any]:
    n_conns = min(a.connections, n_keys)
    n_total = a.distinct_warmup_writes + a.distinct_writes
    measured = range(a.distinct_warmup_writes, n_total)
    tracker = Tracker(n_total, 1)
    rng = random.Random(a.seed)
    writes_to: dict[int, int] = {}  # channel number -> writes so far (= its expected count)
    write_of: dict[tuple[int, int], int] = {}  # (channel number, count) -> write index
    phase = {"name": "setup", "updates": 0}
    unexpected = [0]
    path = "messages:count"
    run_id = uuid.uuid4().hex[:8]

    def on_frame(sub: Sub, frame: bytes, t: int) -> None:
        mods = json.loads(frame)["modifications"]
        if phase["name"] == "unaffected":
            phase["updates"] += len(mods)
        for mod in mods:
            qid = mod.get("queryId")
            key = sub.keys.get(qid) if isinstance(qid, int) else None
            if key is None or mod["type"] != "QueryUpdated":
                unexpected[0] += 1
                continue
            v = decode_int(mod["value"])
            if qid in sub.pending_initial:
                sub.pending_initial.discard(qid)
                if v != 0:
                    unexpected[0] += 1
                if not sub.pending_initial:
                    sub.ready.set()
                continue
            k = write_of.get((key, v))
            if k is None:
                unexpected[0] += 1
            else:
                tracker.deliver(k, 0, t)

    async def body(run: ScenarioRun, writer: HttpWriter, subs: list[Sub], problems: Problems):
        r = run.result
        r.update(
            {
                "workload": "distinct",
                "query": path,
                "args": '{"channel": "k<i>"}',
                "subscriptions": n_keys,
                "connections": n_conns,
            }
        )
        for c in range(n_conns):
            s = Sub(c)
            # Connection c holds channels c, c + C, c + 2C, ... under query ids 0, 1, 2, ...
            s.keys = {j: key for j, key in enumerate(range(c, n_keys, n_conns))}
            s.pending_initial = set(s.keys)
            subs.append(s)

        def adds_for(s: Sub) -> list[dict[str, Any]]:
            return [
                {"type": "Add", "queryId": q, "udfPath": path, "args": [{"channel": f"k{key}"}]}
                for q, key in s.keys.items()
            ]

        setup_s = await open_all(run.port, subs, adds_for, on_frame, problems, a)
        r["subscribe_s"] = round(setup_s, 3)
        m = await get_metrics(run.port)
        r["gauges_after_subscribe"] = {
            "livebase_subscriptions": metric(m, "livebase_subscriptions"),
            "livebase_sync_connections": metric(m, "livebase_sync_connections"),
        }
        log(
            f"[{r['scenario']}] {n_keys} subscriptions on {n_conns} sockets in {setup_s:.2f} s; "
            "writing"
        )
        idle = await measure_idle(run, a.idle_seconds)
        phase["name"] = "affected"
        interval = 1.0 / a.distinct_rate
        lags: list[float] = []
        window = Window(run.port, run.server.pid, idle)
        next_t = time.monotonic()
        for k in range(n_total):
            if k == a.distinct_warmup_writes:
                await tracker.wait(range(k), a.drain_timeout)
                await window.start()
                next_t = time.monotonic()
            lag = await pace(next_t)
            if k >= a.distinct_warmup_writes:
                lags.append(lag)
            key = rng.randrange(n_keys)
            writes_to[key] = writes_to.get(key, 0) + 1
            write_of[(key, writes_to[key])] = k
            t0: list[int] = []
            await writer.mutation("messages:send", {"channel": f"k{key}", "body": f"w{k}"}, t0)
            tracker.sent[k] = t0[0]
            next_t += interval
        drained = await tracker.wait(measured, a.drain_timeout)
        w = await window.stop(a.distinct_writes, path)
        affected = {
            "variant": "affected",
            "writes": a.distinct_writes,
            "warmup_writes": a.distinct_warmup_writes,
            "target_rate_per_s": a.distinct_rate,
            "achieved_rate_per_s": round(a.distinct_writes / (w["window_s"] or float("nan")), 2),
            "max_schedule_lag_ms": round(max(lags) * 1e3, 3) if lags else None,
            "all_delivered_before_drain_timeout": drained,
            "window": w,
            "delivery": tracker.summary(measured),
            "http_write_rtt": hm.latency_summary(writer.rtt_ns[-a.distinct_writes :]),
            "unexpected_updates": unexpected[0],
        }
        r["variants"] = [affected]

        # Variant 2: the same rate of writes to a channel no subscription reads.
        await asyncio.sleep(0.2)
        phase["name"] = "unaffected"
        rtt_from = len(writer.rtt_ns)
        window = Window(run.port, run.server.pid, idle)
        await window.start()
        next_t = time.monotonic()
        lags = []
        for k in range(a.distinct_writes):
            lags.append(await pace(next_t))
            await writer.mutation("messages:send", {"channel": f"nobody-{run_id}", "body": f"u{k}"})
            next_t += interval
        await asyncio.sleep(0.1)  # let any (wrong) pushes arrive inside the window
        w = await window.stop(a.distinct_writes, path)
        r["variants"].append(
            {
                "variant": "unaffected",
                "writes": a.distinct_writes,
                "target_rate_per_s": a.distinct_rate,
                "achieved_rate_per_s": round(
                    a.distinct_writes / (w["window_s"] or float("nan")), 2
                ),
                "max_schedule_lag_ms": round(max(lags) * 1e3, 3) if lags else None,
                "window": w,
                "query_updates_received": phase["updates"],
                "http_write_rtt": hm.latency_summary(writer.rtt_ns[rtt_from:]),
            }
        )

    return await run_scenario(a, f"distinct-N{n_keys}", body)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(x: Any, nd: int = 2) -> str:
    return hm.fmt(x, nd)


def lat(d: dict[str, Any] | None, key: str) -> float | None:
    return None if not d else d.get(key)


def print_report(doc: dict[str, Any]) -> None:
    m = doc["machine"]
    print()
    print(
        f"livebase subscription benchmark  {m['date_utc']}  nproc={m['nproc']}  "
        f"cpu={m['cpu_model']}  python={m['python']}  loop={m['event_loop']}  "
        f"websockets={doc['client']['websockets']} ({doc['client']['ws_client']} client)"
    )
    print(
        f"durability={doc['workload']['durability']}  loadavg at start={m['loadavg']}  "
        f"open-file limit={doc['client']['nofile_limit']}"
        + (
            f"  pinned: server CPU {m['pinning']['server_cpu']}, client CPU "
            f"{m['pinning']['client_cpu']}"
            if m["pinning"]
            else ""
        )
    )
    errs = [r for r in doc["results"] if "error" in r]

    ones = [r for r in doc["results"] if r["scenario"].startswith("one-query")]
    if ones:
        w = doc["workload"]
        print()
        print(
            f"== Workload 1: S subscribers of one query; 1 HTTP writer at {w['rate']}/s, "
            f"{w['writes']} measured writes after {w['warmup_writes']} warm-up"
        )
        print(
            f"   {'query':<16}{'S':>6}{'deliv':>8}{'miss':>6}{'p50 ms':>9}{'p90 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}{'spread p50':>11}{'spread p99':>11}{'last p99':>10}"
            f"{'http p50':>10}{'srv push':>10}{'srv ms/w':>10}{'cli cpu':>9}{'reruns/w':>9}"
            f"{'writes/s':>9}"
        )
        for r in ones:
            d = r.get("delivery") or {}
            L = d.get("latency")
            sp = d.get("spread")
            la = d.get("last_delivery")
            win = r.get("window") or {}
            http = r.get("http_write_rtt") or {}
            print(
                f"   {r.get('query', r['scenario']):<16}{r.get('subscribers', '?'):>6}"
                f"{fmt(d.get('deliveries')):>8}{fmt(d.get('missing_deliveries')):>6}"
                f"{fmt(lat(L, 'p50_ms'), 3):>9}{fmt(lat(L, 'p90_ms'), 3):>9}"
                f"{fmt(lat(L, 'p99_ms'), 3):>9}{fmt(lat(L, 'max_ms'), 2):>9}"
                f"{fmt(lat(sp, 'p50_ms'), 3) if sp else '-':>11}"
                f"{fmt(lat(sp, 'p99_ms'), 3) if sp else '-':>11}"
                f"{fmt(lat(la, 'p99_ms'), 2) if la else '-':>10}"
                f"{fmt(http.get('p50_ms'), 3):>10}"
                f"{fmt(win.get('server_push_mean_ms'), 3):>10}"
                f"{fmt(win.get('server_cpu_ms_per_write'), 2):>10}"
                f"{fmt(win.get('client_cpu_utilisation'), 2):>9}"
                f"{fmt(win.get('query_reruns_per_write'), 2):>9}"
                f"{fmt(r.get('achieved_rate_per_s'), 1):>9}"
            )
        print(
            "   latency = write request sent -> Transition carrying it read from each socket "
            "(all deliveries); spread = first -> last\n"
            "   subscriber of one write; last = write sent -> last subscriber has it; http = the "
            "writer's mutation round trip;\n"
            "   srv push = server's own mean commit -> socket write "
            "(livebase_commit_to_push_seconds); srv ms/w = server CPU per write;\n"
            "   cli cpu = client cores used; "
            "reruns/w = query executions per write from /metrics. messages:list: each measured "
            "insert is\n   followed by an unmeasured delete "
            "(the list shows the 20 oldest messages), so the server does two fan-outs per "
            "measured write and srv ms/w counts both."
        )

    dis = [r for r in doc["results"] if r["scenario"].startswith("distinct")]
    if dis:
        w = doc["workload"]
        print()
        print(
            f"== Workload 2: N distinct messages:count subscriptions on {w['connections']} "
            f"sockets; 1 HTTP writer at {w['distinct_rate']}/s, "
            f"{w['distinct_writes']} measured writes"
        )
        print(
            f"   {'N':>7}{'variant':>12}{'deliv':>8}{'miss':>6}{'p50 ms':>9}{'p90 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}{'http p50':>10}{'srv ms/w':>10}{'(sched)':>9}"
            f"{'(net)':>8}{'srv util':>9}{'reruns/w':>9}{'pushes':>8}{'subscribe s':>12}"
        )
        for r in dis:
            for v in r.get("variants", []):
                d = v.get("delivery") or {}
                L = d.get("latency")
                win = v.get("window") or {}
                http = v.get("http_write_rtt") or {}
                pushes = v.get("query_updates_received", d.get("deliveries"))
                print(
                    f"   {r.get('subscriptions'):>7}{v['variant']:>12}"
                    f"{fmt(d.get('deliveries')) if d else 'n/a':>8}"
                    f"{fmt(d.get('missing_deliveries')) if d else '-':>6}"
                    f"{fmt(lat(L, 'p50_ms'), 3) if L else 'n/a':>9}"
                    f"{fmt(lat(L, 'p90_ms'), 3) if L else 'n/a':>9}"
                    f"{fmt(lat(L, 'p99_ms'), 3) if L else 'n/a':>9}"
                    f"{fmt(lat(L, 'max_ms'), 2) if L else 'n/a':>9}"
                    f"{fmt(http.get('p50_ms'), 3):>10}"
                    f"{fmt(win.get('server_cpu_ms_per_write'), 2):>10}"
                    f"{fmt(win.get('server_cpu_ms_per_write_schedstat'), 2):>9}"
                    f"{fmt(win.get('server_cpu_ms_per_write_net_of_idle'), 2):>8}"
                    f"{fmt(win.get('server_cpu_utilisation'), 2):>9}"
                    f"{fmt(win.get('query_reruns_per_write'), 2):>9}"
                    f"{fmt(pushes):>8}{fmt(r.get('subscribe_s'), 2):>12}"
                )
            if "error" in r and not r.get("variants"):
                print(f"   {r['scenario']:>7}  ERROR (see below)")
        print(
            "   srv ms/w = server CPU per write from /proc/<pid>/stat utime+stime (10 ms ticks); "
            "(sched) = same from task schedstat (ns);\n"
            "   (net) = (sched) minus the server's idle CPU rate measured before writing; "
            "srv util = server cores busy;\n"
            "   pushes = QueryUpdated deliveries received (unaffected: should be 0); "
            "reruns/w = messages:count executions per write"
        )

    for r in doc["results"]:
        notes = []
        if r.get("protocol_problems"):
            notes.append(f"protocol problems {r['protocol_problems']}")
        for v in [r, *r.get("variants", [])]:
            if v.get("unexpected_updates"):
                notes.append(f"{v['unexpected_updates']} updates matched no write")
            if v.get("all_delivered_before_drain_timeout") is False:
                notes.append("not every delivery arrived before the drain timeout")
            if v.get("wait_timeouts") and any(v["wait_timeouts"].values()):
                notes.append(f"wait timeouts {v['wait_timeouts']}")
        s = r.get("sockets") or {}
        if s.get("version_chain_errors") or s.get("closed_by_server") or s.get("other_messages"):
            notes.append(f"sockets {s}")
        g = r.get("gauges_after_subscribe")
        want = r.get("subscribers", r.get("subscriptions"))
        if g and want is not None and g.get("livebase_subscriptions") != want:
            notes.append(f"/metrics gauges after subscribing: {g} (expected {want} subscriptions)")
        if r.get("failed_mutations"):
            notes.append(f"{r['failed_mutations']} failed mutations: {r.get('failure_samples')}")
        if notes:
            print(f"   note [{r['scenario']}]: " + "; ".join(notes))
    for r in errs:
        print(f"\n   ERROR [{r['scenario']}]: {r['error']}")
        for sample in r.get("protocol_problem_samples", []):
            print(f"     {sample}")
        tail = r.get("server_log_tail")
        if tail:
            print("   server log tail:\n" + "\n".join("     " + x for x in tail.splitlines()))

    summary = doc.get("targets")
    if summary:
        print()
        print("== Against the targets (issue 3; PocketBase figures measured on this machine type)")
        for line in summary:
            print(f"   [{line['verdict']:<4}] {line['check']}: {line['measured']}")
        print(
            "   (indicative only when the machine is shared; Part C asks for 3 runs and the median)"
        )


def evaluate_targets(doc: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(check: str, value: float | None, ok: bool | None, measured: str) -> None:
        verdict = "n/a" if value is None or ok is None else ("PASS" if ok else "MISS")
        out.append({"check": check, "verdict": verdict, "measured": measured})

    ones: dict[tuple[str, int], dict[str, Any]] = {}
    for r in doc["results"]:
        if r.get("workload") == "one-query" and (r.get("delivery") or {}).get("latency"):
            ones[(r["query"], r["subscribers"])] = r
    for q in ("messages:list", "messages:count"):
        for s, key, limit in (
            (1, "p50_ms", TARGETS["pocketbase_1_sub_ms"]),
            (100, "p50_ms", TARGETS["pocketbase_100_subs_ms"]),
        ):
            r = ones.get((q, s))
            if r is None:
                continue
            v = r["delivery"]["latency"][key]
            miss = r["delivery"]["missing_deliveries"]
            add(
                f"{q} S={s} p50 <= PocketBase {limit} ms",
                v,
                v <= limit and miss == 0,
                f"p50 {v:.3f} ms, p99 {r['delivery']['latency']['p99_ms']:.3f} ms, {miss} missing",
            )
        r = ones.get((q, 1000))
        if r is not None:
            v = r["delivery"]["latency"]["p99_ms"]
            miss = r["delivery"]["missing_deliveries"]
            limit = TARGETS["one_query_1000_p99_ms"]
            add(
                f"{q} S=1000 p99 < {limit:.0f} ms",
                v,
                v < limit and miss == 0,
                f"p99 {v:.3f} ms (p50 {r['delivery']['latency']['p50_ms']:.3f} ms), {miss} missing",
            )
    base = ones.get(("messages:count", 1)) or ones.get(("messages:list", 1))
    cpus: list[tuple[int, float]] = []
    for r in doc["results"]:
        if r.get("workload") != "distinct":
            continue
        for v in r.get("variants", []):
            w = v.get("window") or {}
            cpu = w.get("server_cpu_ms_per_write_schedstat")
            if v["variant"] == "affected":
                cpus.append((r["subscriptions"], cpu))
                L = (v.get("delivery") or {}).get("latency")
                ratio = TARGETS["distinct_vs_1_sub_ratio"]
                if L is None:
                    add(
                        f"N={r['subscriptions']} distinct p50 within {ratio}x of S=1",
                        None,
                        None,
                        "no deliveries",
                    )
                    continue
                if base is None:
                    add(
                        f"N={r['subscriptions']} distinct p50 within {ratio}x of S=1",
                        None,
                        None,
                        f"p50 {L['p50_ms']:.3f} ms; no S=1 one-query run to compare with",
                    )
                    continue
                b = base["delivery"]["latency"]["p50_ms"]
                add(
                    f"N={r['subscriptions']} distinct p50 within {ratio}x of S=1 ({base['query']})",
                    L["p50_ms"],
                    L["p50_ms"] <= ratio * b and v["delivery"]["missing_deliveries"] == 0,
                    f"p50 {L['p50_ms']:.3f} ms vs {b:.3f} ms = {L['p50_ms'] / b:.2f}x "
                    f"(p99 {L['p99_ms']:.3f} vs {base['delivery']['latency']['p99_ms']:.3f} ms)",
                )
            else:
                pushes = v.get("query_updates_received")
                reruns = w.get("query_reruns_per_write")
                add(
                    f"N={r['subscriptions']} unrelated write re-runs and pushes nothing",
                    reruns,
                    None if reruns is None else (reruns == 0 and pushes == 0),
                    f"{reruns} re-runs/write, {pushes} pushes, server CPU {cpu} ms/write",
                )
    cpus = [(n, c) for n, c in cpus if c is not None]
    if len(cpus) >= 2:
        cpus.sort()
        (n0, c0), (n1, c1) = cpus[0], cpus[-1]
        ratio = c1 / c0 if c0 else float("inf")
        lim = TARGETS["cpu_flat_ratio"]
        add(
            f"server CPU per write flat in N (N={n1} / N={n0} <= {lim})",
            ratio,
            ratio <= lim,
            f"{c1:.3f} / {c0:.3f} ms = {ratio:.2f}x (schedstat)",
        )
    return out


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def raise_nofile(need: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def int_list(p: argparse.ArgumentParser, text: str, name: str, lo: int, hi: int) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        p.error(f"{name} takes comma-separated integers")
    if not out or any(x < lo or x > hi for x in out):
        p.error(f"{name}: every value must be between {lo} and {hi}")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios", default="one-query,distinct", help="one-query,distinct (default both)"
    )
    p.add_argument("--queries", default="list,count", help="one-query: list,count (default both)")
    p.add_argument("--subscribers", default="1,100,1000", help="one-query: S values")
    p.add_argument("--writes", type=int, default=100, help="one-query: measured writes (100)")
    p.add_argument("--warmup-writes", type=int, default=20, help="one-query: warm-up writes (20)")
    p.add_argument("--rate", type=float, default=20.0, help="one-query: writes per second (20)")
    p.add_argument("--distinct", default="1000,10000", help="distinct: N values")
    p.add_argument(
        "--connections", type=int, default=100, help="distinct: sockets the N are spread over"
    )
    p.add_argument(
        "--distinct-writes", type=int, default=200, help="distinct: measured writes per variant"
    )
    p.add_argument("--distinct-warmup-writes", type=int, default=20)
    p.add_argument("--distinct-rate", type=float, default=50.0, help="distinct: writes/s (50)")
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=1.0,
        help="measure the server's idle CPU this long before writing (1 s; 0 = skip)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for the distinct writer's keys")
    p.add_argument("--durability", default="normal", help="server durability mode (normal)")
    p.add_argument("--app", default="examples/chat")
    p.add_argument("--json", action="store_true", help="also print a JSON document on stdout")
    p.add_argument("--json-only", action="store_true", help="print only the JSON document")
    p.add_argument("--tmp-dir", default=None, help="parent for fresh data dirs (default: $TMPDIR)")
    p.add_argument("--keep-data", action="store_true", help="keep data dirs and server logs")
    p.add_argument("--pin", action="store_true", help="server on CPU 1, client on CPU 0")
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    p.add_argument(
        "--ws-client",
        choices=("sansio", "asyncio"),
        default="sansio",
        help="websockets Sans-I/O protocol on an asyncio Protocol (default, cheaper per frame) "
        "or websockets' asyncio connect()/recv()",
    )
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--connect-timeout", type=float, default=120.0, help="to subscribe everyone")
    p.add_argument("--connect-batch", type=int, default=100, help="sockets opened at once")
    p.add_argument(
        "--delivery-timeout", type=float, default=5.0, help="list: wait per insert/reset (5 s)"
    )
    p.add_argument("--drain-timeout", type=float, default=10.0, help="wait after the last write")
    p.add_argument("--scenario-timeout", type=float, default=600.0, help="per scenario (600 s)")
    p.add_argument("--max-errors", type=int, default=10, help="failed mutations per scenario")
    a = p.parse_args(argv)
    if not Path(a.app).is_dir() and (hm.REPO_ROOT / a.app).is_dir():
        a.app = str(hm.REPO_ROOT / a.app)
    a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    if not a.scenarios or set(a.scenarios) - {"one-query", "distinct"}:
        p.error("--scenarios: one-query and/or distinct")
    a.queries = [q.strip() for q in a.queries.split(",") if q.strip()]
    if not a.queries or set(a.queries) - {"list", "count"}:
        p.error("--queries: list and/or count")
    a.subscribers = int_list(p, a.subscribers, "--subscribers", 1, 10000)
    a.distinct = int_list(p, a.distinct, "--distinct", 1, 200000)
    for name in ("writes", "distinct_writes"):
        if not 1 <= getattr(a, name) <= 100000:
            p.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    for name in ("warmup_writes", "distinct_warmup_writes"):
        if not 0 <= getattr(a, name) <= 100000:
            p.error(f"--{name.replace('_', '-')} must be between 0 and 100000")
    if not (0 < a.rate <= 2000 and 0 < a.distinct_rate <= 2000):
        p.error("rates must be in (0, 2000] writes/s")
    if not 1 <= a.connections <= 5000 or not 1 <= a.connect_batch <= 1000:
        p.error("--connections must be in [1, 5000] and --connect-batch in [1, 1000]")
    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            p.error("--pin needs at least 2 CPUs")
        a.pin = [cpus[1], cpus[0]]  # [server, client]
    else:
        a.pin = None
    return a


async def amain(a: argparse.Namespace, loop_name: str, nofile: tuple[int, int]) -> dict[str, Any]:
    import websockets

    machine = hm.machine_facts(loop_name, a.pin)
    machine["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    doc: dict[str, Any] = {
        "benchmark": "subscriptions",
        "machine": machine,
        "client": {
            "websockets": websockets.__version__,
            "nofile_limit": list(nofile),
            "ws_client": a.ws_client,
            "one_process_all_sockets": True,
        },
        "workload": {
            "durability": a.durability,
            "scenarios": a.scenarios,
            "queries": a.queries,
            "subscribers": a.subscribers,
            "writes": a.writes,
            "warmup_writes": a.warmup_writes,
            "rate": a.rate,
            "distinct": a.distinct,
            "connections": a.connections,
            "distinct_writes": a.distinct_writes,
            "distinct_warmup_writes": a.distinct_warmup_writes,
            "distinct_rate": a.distinct_rate,
            "seed": a.seed,
        },
        "results": [],
    }
    if "one-query" in a.scenarios:
        for q in a.queries:
            for s in a.subscribers:
                log(f"== one-query {q} S={s}")
                doc["results"].append(await one_query(a, q, s))
    if "distinct" in a.scenarios:
        for n in a.distinct:
            log(f"== distinct N={n}")
            doc["results"].append(await distinct(a, n))
    doc["targets"] = evaluate_targets(doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    need = max([*a.subscribers, min(a.connections, max(a.distinct))]) + 256
    nofile = raise_nofile(need)  # the server inherits it too
    if nofile[0] < need:
        log(f"warning: open-file limit {nofile[0]} is below the {need} this run needs")
    return hm.run_report(a, lambda loop_name: amain(a, loop_name, nofile), print_report)


if __name__ == "__main__":
    sys.exit(main())
