"""agentfeed's feed search and similar sessions on a real ``livebase serve apps/agentfeed``.

Posts ``--sessions`` sessions of prompts and Bash tool calls (``--events`` events in all, words
drawn from a fixed vocabulary with a Zipf-like skew, so some words are common and others rare)
through ``POST /event``, four requests in flight, half of the projects public. Then measures,
``--queries`` times each, the latency of one ``POST /api/query``:

* ``events:feed`` with a ``search`` of a common word, a rare word and two words, as the owner
  (the ``search_summary`` index) and as the public (``search_public``, public projects only);
* for comparison, ``events:feed`` with two filters that the index cannot both take (``tool``
  and ``type``), the bounded scan of up to 5,000 rows a page that the text search used to be;
* ``similar:sessions`` (a vector search over every session with a prompt) as the owner and as
  the public.

    .venv/bin/python bench/agentfeed_search.py                 # 5,000 events, 500 sessions
    .venv/bin/python bench/agentfeed_search.py --events 20000 --sessions 2000 --json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import statistics
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

KEY = "bench-agentfeed-key-0123456789"
OWNER = {"subject": "bench-owner", "issuer": "http://bench.test"}
WORDS = (
    "parser uploader retry backoff chunk cache token schema migration index query mutation "
    "deploy release staging rollback flaky test fixture docker compose nginx timeout socket "
    "websocket client server page layout theme button form validation error logging metrics "
    "trace span session project branch commit rebase merge review lint format type check build "
    "bundle vite webpack react hook effect state store reducer router auth password reset email"
).split()


def phrase(rng: random.Random, n: int) -> str:
    """``n`` words, the first of ``WORDS`` far likelier than the last (about Zipf's law)."""
    return " ".join(WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(n))


def payloads(events: int, sessions: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = int(time.time() * 1000) - events * 10
    per = max(2, events // sessions)
    for s in range(sessions):
        session_id, cwd = str(uuid.uuid4()), f"/home/u/project-{s % 10}"
        for n in range(per):
            common = {"session_id": session_id, "cwd": cwd, "event_id": str(uuid.uuid4())}
            common["timestamp"] = start + len(out) * 10
            if n % 3 == 0:
                prompt = f"please {phrase(rng, 12)}"
                out.append({**common, "hook_event_name": "UserPromptSubmit", "prompt": prompt})
            else:
                tool = {"tool_name": "Bash", "tool_use_id": f"toolu_{uuid.uuid4().hex}"}
                tool["tool_input"] = {"command": f"make {phrase(rng, 3)}"}
                out.append({**common, "hook_event_name": "PreToolUse", **tool})
    return out[:events]


class Caller:
    """``POST /api/query`` and ``/api/mutation`` as the owner (the admin acting as a signed-in
    identity) or as the public (no credentials)."""

    def __init__(self, client: httpx.Client, admin_key: str) -> None:
        self.client = client
        identity = base64.b64encode(json.dumps(OWNER).encode()).decode()
        self.owner = f"Convex {admin_key}:{identity}"

    def call(self, kind: str, path: str, args: dict[str, Any], owner: bool) -> Any:
        headers = {"authorization": self.owner} if owner else {}
        body = {"path": path, "args": args, "format": "json"}
        answer = self.client.post(f"/api/{kind}", json=body, headers=headers).json()
        assert answer.get("status") == "success", answer
        return answer["value"]

    def timed(self, path: str, args: dict[str, Any], owner: bool, n: int) -> dict[str, float]:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            self.call("query", path, args, owner)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(p95, 2)}


def post_all(url: str, sent: list[dict[str, Any]]) -> float:
    """Post every payload, four in flight; the events per second."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(4) as pool:

        def post(payload: dict[str, Any]) -> str:
            answer = client.post("/event", json=payload, headers={"X-Agentfeed-Key": KEY})
            return str(answer.json()["status"])

        assert set(pool.map(post, sent)) == {"stored"}
    return len(sent) / (time.perf_counter() - started)


def measure(caller: Caller, sent: list[dict[str, Any]], n: int) -> dict[str, Any]:
    for p in range(0, 10, 2):
        caller.call(
            "mutation", "projects:update", {"path": f"/home/u/project-{p}", "public": True}, True
        )
    page = {"paginationOpts": {"numItems": 50, "cursor": None}}
    results: dict[str, Any] = {}
    for label, search in (
        ("common word", "make"),
        ("rare word", "email"),
        ("two words", "please parser"),
    ):
        for who, owner in (("owner", True), ("public", False)):
            name = f"feed search, {label}, {who}"
            results[name] = caller.timed("events:feed", {**page, "search": search}, owner, n)
    scan = {**page, "tool": "Bash", "type": "Stop"}
    results["feed, two filters (bounded scan), owner"] = caller.timed("events:feed", scan, True, n)
    similar = {"session_id": sent[0]["session_id"], "limit": 5}
    for who, owner in (("owner", True), ("public", False)):
        results[f"similar:sessions, {who}"] = caller.timed("similar:sessions", similar, owner, n)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    env = {k: val for k, val in os.environ.items() if not k.startswith("LIVEBASE_")}
    sent = payloads(options.events, options.sessions)
    with tempfile.TemporaryDirectory() as tmp:
        env |= {"AGENTFEED_KEY": KEY, "AGENTFEED_HOME": str(Path(tmp) / "home")}
        with served(ROOT / "apps" / "agentfeed", Path(tmp) / "data", env=env) as server:
            lines = server.log_path.read_text().splitlines()
            admin_key = next(
                x.split(":", 1)[1].strip() for x in lines if x.startswith("Admin key:")
            )
            rate = post_all(server.url, sent)
            with httpx.Client(base_url=server.url, timeout=120) as client:
                results = measure(Caller(client, admin_key), sent, options.queries)
    for name, figures in results.items():
        print(f"{name:48} p50 {figures['p50_ms']:8.2f} ms   p95 {figures['p95_ms']:8.2f} ms")
    print(f"ingest: {rate:.0f} events/s (4 in flight); {platform.machine()}, {os.cpu_count()} CPUs")
    if options.json:
        report = {"events": len(sent), "sessions": options.sessions, "queries": options.queries}
        print(json.dumps({**report, "ingest_events_per_s": round(rate, 1), "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
