"""The official Convex WebSocket client (npm ``convex`` 1.48.0 ``ConvexClient``) against livebase.

``tests/clients/js/ws_scenario.mjs`` runs one scenario per process and prints JSON lines; the last
one is ``{"event": "result", "ok": ..., "failures": [...], ...}``. The restart scenario is driven
step by step: the script prints ``{"event": "await", "step": ...}`` and waits for a line on stdin,
while this side pauses, kills and restarts the server (same port and data folder).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from tests.support.node import NodeProcess

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(240)]

# Generous: the restart scenario restarts the server and waits out the client's reconnect backoff
# (up to 24 s), on a machine that may be busy.
SCENARIO_TIMEOUT = 120.0


class NodeScenario(NodeProcess):
    """``node ws_scenario.mjs <name> <url> <channel>`` with line-by-line access to its stdout."""

    def __init__(self, js_dir: Path, name: str, url: str, channel: str) -> None:
        super().__init__(js_dir, "ws_scenario.mjs", name, url, channel)
        self.name = name

    def next_event(self, deadline: float) -> dict[str, Any]:
        event = self.read_event(deadline)
        if event is None:
            if self.ended:
                pytest.fail(
                    f"{self.name}: node exited ({self.proc.poll()}) without a result line\n"
                    f"{self.transcript()}"
                )
            pytest.fail(f"{self.name}: no output before the deadline\n{self.transcript()}")
        return event

    def answer(self, text: str) -> None:
        self.send_line(text)

    def run(
        self, on_step: Callable[[str], str] | None = None, timeout: float = SCENARIO_TIMEOUT
    ) -> dict[str, Any]:
        """Read events until the result; answer each ``await`` step with ``on_step(step)``."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                event = self.next_event(deadline)
                if event.get("event") == "await":
                    assert on_step is not None, f"unexpected await: {event}"
                    self.answer(on_step(event["step"]))
                elif event.get("event") == "result":
                    event["_transcript"] = self.transcript()
                    return event
        finally:
            self.close(timeout=5)


def _channel(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _assert_ok(result: dict[str, Any]) -> None:
    assert result["failures"] == [], "\n".join(result["failures"]) + "\n" + result["_transcript"]
    assert result["ok"] is True


def test_subscribe_then_another_client_mutates(
    chat_server: ChatServer, js_client_dir: Path
) -> None:
    channel = _channel("jsws")
    result = NodeScenario(js_client_dir, "subscribe", chat_server.url, channel).run()
    _assert_ok(result)
    assert result["initial"] == []
    after = result["afterB"]
    assert len(after) == 1
    assert after[0]["_id"] == result["bMutationId"]
    assert after[0]["body"] == "from B"
    assert after[0]["channel"] == channel
    assert result["ownMutationVisibleOnResolve"] is True
    # len(rows) is a float64: a JS number (bigints would have been printed as strings).
    assert result["count"] == 2
    assert result["countType"] == "number"
    assert result["countJson"] == '{"count":2}'
    assert result["countPlusOne"] == 3
    assert result["action"]["count"] == 3
    assert result["actionCountType"] == "number"
    assert result["convexError"]["isConvexError"] is True
    assert result["convexError"]["data"] == {"code": "EmptyMessage", "channel": channel}


def test_sync_url_forms_are_served(chat_server: ChatServer) -> None:
    """The JS client dials /api/<version>/sync, the Rust/Python one /api/sync; a deployment URL
    with a trailing slash makes JS dial ``//api/<version>/sync``."""

    async def probe(path: str) -> bool:
        async with websockets.connect(f"{chat_server.ws_url}{path}", open_timeout=30) as ws:
            await ws.send(
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
            await ws.send(
                json.dumps(
                    {
                        "type": "ModifyQuerySet",
                        "baseVersion": 0,
                        "newVersion": 1,
                        "modifications": [],
                    }
                )
            )
            msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
            return bool(msg["type"] == "Transition")

    for path in ("/api/sync", "/api/1.48.0/sync", "//api/1.48.0/sync"):
        assert asyncio.run(probe(path)), path


def test_kill_and_restart_mid_stream(
    chat_server_factory: Callable[[], ChatServer], js_client_dir: Path
) -> None:
    server = chat_server_factory()
    channel = _channel("jsrestart")
    steps: list[str] = []

    def on_step(step: str) -> str:
        steps.append(step)
        if step == "pause-server":
            server.pause()
            return "paused"
        if step == "kill-server":
            server.kill9()
            return "killed"
        if step == "restart-server":
            server.restart()
            return "restarted"
        raise AssertionError(f"unknown step {step}")

    result = NodeScenario(js_client_dir, "restart", server.url, channel).run(on_step)
    assert steps == ["pause-server", "kill-server", "restart-server"], result["_transcript"]
    _assert_ok(result)
    assert result["reconnected"] is True
    assert [d["body"] for d in result["freshList"]] == ["in flight", "sent while down"]
    assert [d["_id"] for d in result["freshList"]] == [
        result["ids"]["inflightId"],
        result["ids"]["queuedId"],
    ]


def test_paginated_query_through_three_pages_while_rows_change(
    chat_server: ChatServer, js_client_dir: Path
) -> None:
    channel = _channel("jspage")
    result = NodeScenario(js_client_dir, "paginate", chat_server.url, channel).run()
    _assert_ok(result)
    assert result["page1"] == ["m0", "m1"]
    assert result["pages12"] == ["m0", "m1", "m2", "m3"]
    assert result["afterDelete"] == ["m0", "m2", "m3"]
    assert result["pages123"][:5] == ["m0", "m2", "m3", "m4", "m5"]
    assert result["final"] == ["m0", "m2", "m3", "m4", "m5", "m6", "m7"]
    statuses = [s.get("status") for s in result["snapshots"]]
    assert "LoadingMore" in statuses
    assert statuses[-1] == "Exhausted"
