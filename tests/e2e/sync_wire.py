"""A hand-written client for the Convex sync protocol, for tests that check the wire itself.

It keeps the per-socket state a real client keeps (reference §3.2): the current version, which
every Transition's ``startVersion`` must equal, and the latest result of each query. Chaining
violations are recorded in ``chain_errors`` instead of raising, so a test can report them all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from .conftest import TEST_ADMIN_KEY

ZERO_TS = "AAAAAAAAAAA="


def decode_ts(ts: str) -> int:
    return int(struct.unpack("<Q", base64.b64decode(ts))[0])


def decode_value(value: Any) -> Any:
    """Convex encoded JSON -> Python (``$integer`` -> int, ``$bytes`` -> bytes)."""
    if isinstance(value, dict):
        if set(value) == {"$integer"}:
            return struct.unpack("<q", base64.b64decode(value["$integer"]))[0]
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


class SyncSocket:
    def __init__(self, ws: Any, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.version: dict[str, Any] = {"querySet": 0, "identity": 0, "ts": ZERO_TS}
        self.query_set = 0
        self.results: dict[int, Any] = {}
        self.failures: dict[int, dict[str, Any]] = {}
        self.transitions: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.chain_errors: list[str] = []
        self._cursor = 0  # index in self.messages of the next unread message

    @classmethod
    async def open(
        cls,
        ws_url: str,
        path: str = "/api/sync",
        session_id: str | None = None,
        connection_count: int = 0,
        last_close_reason: str | None = "InitialConnect",
        max_queue: int = 16,
    ) -> SyncSocket:
        ws = await websockets.connect(
            ws_url + path, open_timeout=10, max_size=None, max_queue=max_queue
        )
        sock = cls(ws, session_id or str(uuid.uuid4()))
        await sock.send(
            {
                "type": "Connect",
                "sessionId": sock.session_id,
                "connectionCount": connection_count,
                "lastCloseReason": last_close_reason,
                "clientTs": int(time.time() * 1000),
            }
        )
        return sock

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def send_together(self, *messages: dict[str, Any] | str) -> None:
        """Send several frames (objects as JSON, strings as they are) in one TCP write, as a
        client pipelining them would: the server reads them all at once."""
        for message in messages:
            text = message if isinstance(message, str) else json.dumps(message)
            self.ws.protocol.send_text(text.encode("utf-8"))
        self.ws.transport.write(b"".join(self.ws.protocol.data_to_send()))

    async def wait_closed(self, timeout: float = 10.0) -> Any:
        """Read (and record) messages until the server closes the socket; the close frame it
        sent (``.code``, ``.reason``), or None if the TCP connection ended without one."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                await self.recv(max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"the server did not close the socket within {timeout} s; last messages: "
                    f"{[m['type'] for m in self.messages[-10:]]}"
                ) from None
            except websockets.ConnectionClosed as closed:
                return closed.rcvd

    async def close(self) -> None:
        await self.ws.close()

    def _absorb(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        if msg["type"] != "Transition":
            return
        start, end = msg["startVersion"], msg["endVersion"]
        if start != self.version:
            self.chain_errors.append(f"startVersion {start} != previous endVersion {self.version}")
        for key in ("querySet", "identity"):
            if end[key] < start[key]:
                self.chain_errors.append(f"endVersion.{key} went backwards: {start} -> {end}")
        if decode_ts(end["ts"]) < decode_ts(start["ts"]):
            self.chain_errors.append(f"endVersion.ts went backwards: {start} -> {end}")
        self.version = end
        self.transitions.append(msg)
        for mod in msg["modifications"]:
            qid = mod["queryId"]
            if mod["type"] == "QueryUpdated":
                self.results[qid] = decode_value(mod["value"])
                self.failures.pop(qid, None)
            elif mod["type"] == "QueryFailed":
                self.failures[qid] = mod
                self.results.pop(qid, None)
            elif mod["type"] == "QueryRemoved":
                self.results.pop(qid, None)
                self.failures.pop(qid, None)

    async def recv(self, timeout: float) -> dict[str, Any]:
        """The next unread message (Pings included), waiting up to ``timeout`` seconds."""
        if self._cursor < len(self.messages):
            msg = self.messages[self._cursor]
        else:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(raw, str), f"binary frame from the server: {raw!r}"
            msg = json.loads(raw, parse_constant=_not_json)
            self._absorb(msg)
        self._cursor += 1
        return msg

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0, what: str = ""
    ) -> dict[str, Any]:
        """Read messages until one satisfies ``predicate``; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                msg = await self.recv(max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or predicate}; last messages: "
                    f"{[m['type'] for m in self.messages[-10:]]}"
                ) from None
            if predicate(msg):
                return msg

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Read until nothing arrives for ``quiet`` seconds; returns what was read."""
        got = []
        while True:
            try:
                got.append(await self.recv(quiet))
            except TimeoutError:
                return got

    async def modify(
        self, adds: list[tuple[int, str, dict[str, Any]]], removes: tuple[int, ...] = ()
    ) -> int:
        """Send one ModifyQuerySet; returns its newVersion."""
        base, new = self.query_set, self.query_set + 1
        self.query_set = new
        mods: list[dict[str, Any]] = [
            {"type": "Add", "queryId": qid, "udfPath": path, "args": [args]}
            for qid, path, args in adds
        ]
        mods += [{"type": "Remove", "queryId": qid} for qid in removes]
        await self.send(
            {
                "type": "ModifyQuerySet",
                "baseVersion": base,
                "newVersion": new,
                "modifications": mods,
            }
        )
        return new

    async def wait_query_set(self, version: int, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_for(
            lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] >= version,
            timeout,
            f"a Transition to querySet {version}",
        )


METRICS_AUTH = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
"""``GET /metrics`` needs the admin key (or ``LIVEBASE_METRICS_TOKEN``)."""


def metric_samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``GET /metrics`` parsed: (name, labels) -> value (read with the test admin key)."""
    response = httpx.get(f"{url}/metrics", headers=METRICS_AUTH, timeout=10)
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = line_re.match(line)
        assert match, f"unparseable metrics line: {line!r}"
        labels = frozenset(label_re.findall(match.group(3) or ""))
        samples[(match.group(1), labels)] = float(match.group(4))
    return samples


def metric(url: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the labelled series does not exist yet)."""
    return metric_samples(url).get((name, frozenset(labels.items())), 0.0)


def executions(url: str, path: str, kind: str = "query") -> float:
    return metric(url, "livebase_function_executions_total", path=path, kind=kind)


def http_mutation(url: str, path: str, args: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{url}/api/mutation",
        json={"path": path, "args": args, "format": "convex_encoded_json"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["value"]
