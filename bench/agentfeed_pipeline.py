#!/usr/bin/env python3
"""Events per second through agentfeed's whole observation pipeline.

Serves ``apps/agentfeed`` (``livebase serve``, SQLite, or PostgreSQL with ``--db``), makes the
owner's account, and POSTs N hook payloads to ``/event`` from C concurrent clients, as the hook
would: sessions of a prompt, tool calls (PreToolUse + PostToolUse) and a Stop, in P projects.
Every event is stored, queued for enrichment in the same transaction (the trigger), and grouped
into activity sessions by the scheduled worker. The clock stops when the enrichment queue is
empty and the activity sessions hold all N events; events/s = N / that time. The time to store
(the POSTs alone) is reported too.

    .venv/bin/python bench/agentfeed_pipeline.py [--events 2000] [--clients 4] [--projects 10]
                                                 [--db postgresql://...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import ROOT, served

from livebase.client import SyncClient

KEY = "bench-agentfeed-key-0123456789"
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
EMAIL, PASSWORD = "owner@bench.test", "bench password 0123456789"
PROMPTS = [
    "fix the failing checkout test", "add a coupon field to the payment form",
    "explain how the renderer works", "refactor the settings module",
    "update the readme install section", "write tests for the uploader",
]  # fmt: skip


def payloads(count: int, projects: int) -> list[dict[str, Any]]:
    """``count`` hook payloads: sessions of 20 events, each in one of ``projects`` projects."""
    events: list[dict[str, Any]] = []
    now = int(time.time() * 1000)
    session = 0
    while len(events) < count:
        sid, cwd = str(uuid.uuid4()), f"/home/u/project-{session % projects}"
        common = {"session_id": sid, "cwd": cwd, "transcript_path": f"/t/{sid}.jsonl"}
        prompt = PROMPTS[session % len(PROMPTS)]
        batch = [{"hook_event_name": "UserPromptSubmit", "prompt": prompt}]
        for n in range(9):
            tool = {
                "tool_name": "Edit",
                "tool_use_id": f"toolu_{sid[:8]}_{n}",
                "tool_input": {"file_path": f"{cwd}/src/module_{n}.py"},
            }
            batch.append({"hook_event_name": "PreToolUse", **tool})
            batch.append({"hook_event_name": "PostToolUse", **tool, "tool_response": {"ok": 1}})
        batch.append({"hook_event_name": "Stop", "stop_hook_active": False})
        for i, fields in enumerate(batch):
            events.append({**common, **fields, "event_id": str(uuid.uuid4()), "timestamp": now + i})
        session += 1
    return events[:count]


def drained(client: SyncClient, total: int) -> bool:
    waiting = client.query("pipeline:unprocessed", {"stage": "sessions", "limit": 1})
    if waiting:
        return False
    listed = client.query("activity:sessions", {"limit": 100})["sessions"]
    return sum(s["event_count"] for s in listed) >= total


def run(events: int, clients: int, projects: int, db: str | None) -> dict[str, Any]:
    env = {"AGENTFEED_KEY": KEY, "LIVEBASE_ADMIN_KEY": ADMIN_KEY}
    with tempfile.TemporaryDirectory() as tmp:
        env["AGENTFEED_HOME"] = str(Path(tmp) / "home")
        environment = {**os.environ, **env}
        args = ["--db", db] if db else []
        app, data = ROOT / "apps" / "agentfeed", Path(tmp) / "data"
        with served(app, data, env=environment, args=args) as s:
            auth = {"authorization": f"Convex {ADMIN_KEY}"}
            account = {"email": EMAIL, "password": PASSWORD}
            httpx.post(f"{s.url}/api/admin/users", json=account, headers=auth, timeout=60)
            form = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
            token = httpx.post(f"{s.url}/auth/token", data=form, timeout=60).json()["access_token"]
            owner = SyncClient(s.url)
            owner.set_auth(token)
            batch = payloads(events, projects)
            http = httpx.Client(headers={"X-Agentfeed-Key": KEY}, timeout=60)

            def post(payload: dict[str, Any]) -> None:
                response = http.post(f"{s.url}/event", json=payload)
                assert response.status_code == 200 and response.json()["status"] == "stored"

            started = time.monotonic()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(post, batch))
            stored = time.monotonic() - started
            while not drained(owner, events):
                time.sleep(0.05)
            through = time.monotonic() - started
            sessions = owner.query("activity:sessions", {"limit": 100})["sessions"]
            owner.close()
            http.close()
    return {
        "events": events,
        "clients": clients,
        "backend": "postgresql" if db else "sqlite",
        "store_seconds": round(stored, 2),
        "stored_per_second": round(events / stored, 1),
        "pipeline_seconds": round(through, 2),
        "pipeline_events_per_second": round(events / through, 1),
        "activity_sessions": len(sessions),
        "machine": f"{platform.machine()} Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--db", help="a postgresql:// URL (default: SQLite)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = run(options.events, options.clients, options.projects, options.db)
    if options.json:
        print(json.dumps(result))
        return
    print(
        f"{result['backend']}: {result['events']} events from {result['clients']} clients: "
        f"stored in {result['store_seconds']} s ({result['stored_per_second']}/s); through the "
        f"pipeline in {result['pipeline_seconds']} s ({result['pipeline_events_per_second']} "
        f"events/s), {result['activity_sessions']} activity sessions"
    )


if __name__ == "__main__":
    main()
