"""agentfeed's crons on an in-process deployment with a fake clock (a real SQLite file): idle
sessions are ended after ``AGENTFEED_IDLE_MINUTES`` and come back with their next event, and
blobs left pending are swept a bounded number of chunks at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livebase.auth.callers import impersonated_identity
from livebase.config import Settings
from livebase.functions.loader import unload
from livebase.runtime import FakeRuntime
from livebase.server import Deployment
from tests.agentfeed_app.conftest import APP, OWNER
from tests.agentfeed_app.payloads import hook

MINUTE = 60.0
OWNER_IDENTITY = impersonated_identity(OWNER)


@dataclass
class Local:
    deployment: Deployment
    clock: FakeRuntime

    @property
    def now_ms(self) -> int:
        return self.clock.now_ns // 1_000_000

    def mutation(self, path: str, args: dict[str, Any]) -> Any:
        async def run() -> Any:
            result = await self.deployment.runner.run_mutation(path, args, admin=True)
            if result.error is not None:
                raise result.error
            return result.value

        return asyncio.run(run())

    def query(self, path: str, args: dict[str, Any]) -> Any:
        """As the admin acting as the signed-in owner."""
        result = self.deployment.runner.run_query(path, args, admin=True, identity=OWNER_IDENTITY)
        if result.error is not None:
            raise result.error
        return result.value

    def ingest(self, payload: dict[str, Any]) -> dict[str, Any]:
        args = {"endpoint": "event", "raw": json.dumps(payload), "blobs": [], "raw_bytes": 1.0}
        result: dict[str, Any] = self.mutation("events:ingest", {**args, "generated_id": ""})
        return result

    def advance(self, seconds: float) -> int:
        """Move the clock and run the jobs (crons) that became due."""
        self.clock.advance(seconds)
        return asyncio.run(self.deployment.worker.run_due())

    def table(self, name: str) -> list[dict[str, Any]]:
        docs, _ = self.deployment.engine.read(lambda tx: tx.query(name).collect())
        return list(docs)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    monkeypatch.setenv("AGENTFEED_IDLE_MINUTES", "10")
    clock = FakeRuntime(start_ns=1_800_000_000_000_000_000)
    deployment = Deployment(
        APP, tmp_path / "data", durability="normal", settings=Settings(), runtime=clock
    )
    deployment.open()
    try:
        yield Local(deployment, clock)
    finally:
        deployment.close()
        unload(deployment.app)


def test_idle_sessions_are_ended_and_resume_with_their_next_event(local: Local) -> None:
    local.advance(0)  # the crons' first runs
    local.ingest(hook("UserPromptSubmit", "quiet", ts=local.now_ms, prompt="hello"))
    last_quiet = local.now_ms
    local.advance(5 * MINUTE)
    local.ingest(hook("UserPromptSubmit", "busy", ts=local.now_ms, prompt="still here"))
    local.advance(4 * MINUTE)
    assert local.query("sessions:session", {"session_id": "quiet"})["status"] == "active"

    local.advance(2 * MINUTE)  # quiet: 11 minutes without an event; busy: 6
    quiet = local.query("sessions:session", {"session_id": "quiet"})
    assert quiet["status"] == "ended" and quiet["end_reason"] == "idle"
    assert quiet["ended_at"] == last_quiet  # when activity stopped, not when the cron ran
    assert local.query("sessions:session", {"session_id": "busy"})["status"] == "active"
    active = local.query("sessions:active_sessions", {})
    assert [s["session_id"] for s in active] == ["busy"]

    local.ingest(hook("PreToolUse", "quiet", ts=local.now_ms, tool_name="Bash", tool_use_id="t"))
    back = local.query("sessions:session", {"session_id": "quiet"})
    assert back["status"] == "active" and "end_reason" not in back

    local.advance(11 * MINUTE)
    assert local.query("sessions:active_sessions", {}) == []


def test_pending_blobs_are_swept_in_bounded_steps(local: Local) -> None:
    local.advance(0)
    pieces = [f"chunk {n}" for n in range(11)]
    blob = local.mutation(
        "blobs:begin",
        {"event_id": "lost", "field": "tool_input", "size": 77.0, "chunks": 11.0, "first": pieces},
    )
    kept = local.mutation(
        "blobs:begin",
        {"event_id": "e", "field": "tool_input", "size": 7.0, "chunks": 1.0, "first": ["attach"]},
    )
    event = hook("PostToolUse", "s", ts=local.now_ms, tool_name="Write", tool_use_id="w")
    stored = local.mutation(
        "events:ingest",
        {
            "endpoint": "event",
            "raw": json.dumps(event),
            "blobs": [{"field": "tool_input", "blob": kept, "bytes": 7.0}],
            "raw_bytes": 1.0,
            "generated_id": "",
        },
    )
    assert stored["status"] == "stored"

    local.advance(30 * MINUTE)
    assert len(local.table("blob_chunks")) == 12  # not yet an hour old
    local.advance(35 * MINUTE)  # one sweep: 8 chunks at most
    assert len(local.table("blob_chunks")) == 12 - 8
    local.advance(5 * MINUTE)
    assert [c["text"] for c in local.table("blob_chunks")] == ["attach"]
    assert [b["_id"] for b in local.table("blobs")] == [kept]
    attached = local.table("blobs")[0]
    assert attached["state"] == "attached" and attached["owner"] == stored["id"]
    assert blob != kept
