"""Fixtures for the observation pipeline: agentfeed loaded in-process by the test kit
(``livebase.testing``: a real SQLite file, a fake clock that runs the scheduled worker), the
signed-in owner, and a helper that stores hook payloads through ``events:ingest`` as the HTTP
handler does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.agentfeed_app.conftest import APP

if TYPE_CHECKING:
    from livebase.testing import AppHarness, Caller

# The test kit's fixtures come from the top-level conftest (pytest_plugins may only be
# declared there).

START_MS = 1_796_428_800_000
"""The fake clock's start: 5 December 2026, after the fixture day."""


@dataclass
class Feed:
    app: AppHarness
    owner: Caller

    def ingest(self, payload: dict[str, Any]) -> dict[str, Any]:
        args = {"endpoint": "event", "raw": json.dumps(payload), "blobs": [], "raw_bytes": 1.0}
        result: dict[str, Any] = self.app.mutation("events:ingest", {**args, "generated_id": ""})
        assert result["status"] == "stored", result
        return result

    def enrich(self) -> None:
        """Let the scheduled worker run until the queue is empty."""
        self.app.finish_scheduled()
        assert self.app.table("enrichment_queue") == []

    def sessions(self) -> list[dict[str, Any]]:
        """The activity sessions, oldest first."""
        return sorted(self.app.table("activity_sessions"), key=lambda s: s["started_at"])


@pytest.fixture
def livebase_app_dir() -> Path:
    return APP


@pytest.fixture
def feed(make_livebase_app: Any) -> Iterator[Feed]:
    app = make_livebase_app(APP, start_ms=START_MS)
    yield Feed(app, app.as_user("owner", email="owner@agentfeed.test"))
