"""Per-call cost of a trivial action: the round trip of ``/api/action`` on an action that returns
at once, next to the same round trip for a trivial query (so the action's own overhead is the
difference) and for a trivial mutation (one insert: the fast path of queries and mutations).
Starts ``livebase serve`` on a small app on 127.0.0.1; bounded by ``--requests``.

    .venv/bin/python bench/action_overhead.py --requests 500
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx
from served import served_module

APP = """
from livebase import action, mutation, query


@action
def noop_sync(ctx) -> float:
    return 1.0


@action
async def noop_async(ctx) -> float:
    return 1.0


@action
async def with_query(ctx) -> float:
    return await ctx.run_query("work:ping", {})


@query
def ping(ctx) -> float:
    return 1.0


@mutation
def touch(ctx) -> str:
    return ctx.db.insert("hits", {"n": 1})
"""


def timed(http: httpx.Client, route: str, path: str, n: int) -> list[float]:
    body = {"path": path, "args": {}, "format": "json"}
    for _ in range(min(n, 20)):  # warm up (workers started, code paths hot)
        http.post(f"/api/{route}", json=body)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        reply = http.post(f"/api/{route}", json=body)
        out.append(time.perf_counter() - t0)
        assert reply.json()["status"] == "success", reply.text
    return sorted(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with served_module(APP) as server:
        url = server.url
        print(f"{'call':<26} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        with httpx.Client(base_url=url, timeout=60) as http:
            for route, path in [
                ("query", "work:ping"),
                ("mutation", "work:touch"),
                ("action", "work:noop_sync"),
                ("action", "work:noop_async"),
                ("action", "work:with_query"),
            ]:
                s = timed(http, route, path, args.requests)
                p99 = s[max(0, int(len(s) * 0.99) - 1)]
                mean = sum(s) / len(s)
                p50 = s[len(s) // 2]
                print(f"{path:<26} {p50 * 1e3:8.2f} {p99 * 1e3:8.2f} {mean * 1e3:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
