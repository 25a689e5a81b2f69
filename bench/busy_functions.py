"""Other clients' latency while functions are busy: does one slow function stall everyone?

Starts ``livebase serve`` on a small app, measures the round trip of a cheap query over HTTP
(``--requests`` sequential calls) while the server is idle, then again while ``--busy`` functions
of one kind each keep busy for ``--seconds``, and reports p50/p99/max of both and the rise:

- ``async-action``: an ``async def`` action looping in plain Python, never awaiting;
- ``sync-action``: the same in a plain ``def`` action;
- ``query-sleep``: a query calling ``time.sleep`` (refused at once since the limit work);
- ``query-c-call``: a query stuck in one long C call (``sum(range(...))``), which no Python-level
  limit can interrupt: it holds the server's loop until the call returns;
- ``query-busy`` / ``mutation-busy``: a query / mutation looping in plain Python for 0.9 s of CPU
  (under the 1 s limit), each busy client calling it again and again for ``--seconds``.

Every loop is bounded by a request count or a deadline; only 127.0.0.1 is used.

    .venv/bin/python bench/busy_functions.py                  # every kind, 4 busy x 5 s
    .venv/bin/python bench/busy_functions.py --kinds async-action --busy 4 --seconds 5
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import httpx
from served import served_module

APP = """
import time

from livebase import action, mutation, query


def spin(seconds):
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
    return float(n)


@action
async def async_action(ctx, seconds: float) -> float:
    return spin(seconds)


@action
def sync_action(ctx, seconds: float) -> float:
    return spin(seconds)


@query
def query_sleep(ctx, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@query
def query_c_call(ctx, seconds: float) -> float:
    return float(sum(range(int(seconds * 25_000_000))))  # about `seconds` of C on this box


def spin_cpu(seconds):
    n = 0
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        n += 1
    return float(n)


@query
def query_busy(ctx, seconds: float) -> float:
    return spin_cpu(min(seconds, 0.9))


@mutation
def mutation_busy(ctx, seconds: float) -> float:
    n = spin_cpu(min(seconds, 0.9))
    ctx.db.insert("spins", {"n": n})
    return n


@query
def ping(ctx) -> float:
    return 1.0
"""

KINDS = {
    "async-action": ("action", "work:async_action"),
    "sync-action": ("action", "work:sync_action"),
    "query-sleep": ("query", "work:query_sleep"),
    "query-c-call": ("query", "work:query_c_call"),
    "query-busy": ("query", "work:query_busy"),
    "mutation-busy": ("mutation", "work:mutation_busy"),
}
REPEATED = {"query-busy", "mutation-busy"}
"""Kinds each busy client calls again and again until ``--seconds`` are up."""


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return ordered[len(ordered) // 2] * 1e3, p99 * 1e3, ordered[-1] * 1e3


def measure(url: str, requests: int, deadline: float) -> list[float]:
    out: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"path": "work:ping", "args": {}, "format": "json"}
        while len(out) < requests and time.monotonic() < deadline:
            t0 = time.perf_counter()
            reply = http.post("/api/query", json=body)
            out.append(time.perf_counter() - t0)
            assert reply.status_code == 200, reply.text
    return out


def run_kind(url: str, kind: str, busy: int, seconds: float, requests: int) -> dict[str, float]:
    route, path = KINDS[kind]

    def occupy() -> None:
        with httpx.Client(base_url=url, timeout=seconds + 60) as http:
            end = time.monotonic() + seconds
            while True:
                http.post(f"/api/{route}", json={"path": path, "args": {"seconds": seconds}})
                if kind not in REPEATED or time.monotonic() >= end:
                    break

    idle = measure(url, requests, time.monotonic() + 60)
    threads = [threading.Thread(target=occupy) for _ in range(busy)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.2)
    during = measure(url, requests, started + seconds - 0.2)
    for t in threads:
        t.join()
    i50, i99, imax = percentiles(idle)
    b50, b99, bmax = percentiles(during)
    return {"idle_p50": i50, "idle_p99": i99, "idle_max": imax, "busy_p50": b50,
            "busy_p99": b99, "busy_max": bmax, "busy_n": float(len(during))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--busy", type=int, default=4, help="functions busy at once (4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each is busy (5)")
    parser.add_argument("--requests", type=int, default=400, help="queries per phase (400)")
    args = parser.parse_args()
    with served_module(APP) as server:
        url = server.url
        print(f"{'kind':<14} {'idle p50/p99/max ms':>24} {'busy p50/p99/max ms':>26} {'n':>5}")
        for kind in args.kinds.split(","):
            print(f"  {kind}: {args.busy} busy x {args.seconds:g} s ...", file=sys.stderr)
            r = run_kind(url, kind, args.busy, args.seconds, args.requests)
            print(
                f"{kind:<14} {r['idle_p50']:7.2f} {r['idle_p99']:7.2f} {r['idle_max']:8.2f}"
                f"   {r['busy_p50']:7.2f} {r['busy_p99']:8.2f} {r['busy_max']:8.2f}"
                f" {int(r['busy_n']):5d}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
