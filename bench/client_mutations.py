#!/usr/bin/env python3
"""Concurrent mutations through one ``livebase.client.Client``: does the cost per mutation stay
flat as the number in flight grows?

For each N in ``--sizes`` it starts a fresh ``livebase serve`` (``http_mutations.py``'s server
handling, ``--durability normal`` by default), opens one ``Client`` (one sync WebSocket), sends one
warm-up mutation, then ``asyncio.gather``s N ``messages:send`` mutations and waits for all of them
(each resolves only once a Transition at or past its commit ts has arrived: read your writes).

Per N it reports the wall time, wall time per mutation, and client and server CPU per mutation
(``time.process_time`` here, ``/proc/<pid>/stat`` of the server's process tree, 10 ms ticks).
If the client's bookkeeping is linear, all three per-mutation figures stay roughly flat
as N grows. ``growth`` is (wall per mutation at the largest N) / (wall per mutation at the
smallest N), so about 1.0 is linear and about largest/smallest is quadratic.

    .venv/bin/python bench/client_mutations.py                   # N = 2000, 5000, 10000
    .venv/bin/python bench/client_mutations.py --sizes 1000,20000 --json

The client runs on the standard asyncio loop, as an application would use it. The machine's two
cores are shared by client and server, so check the load average before trusting a single run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import http_mutations as hm  # sibling script: server process, /proc CPU accounting

from livebase.client import Client


async def one_size(args: argparse.Namespace, n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="livebase-client-bench-"))
    port = hm.free_port()
    server_args = argparse.Namespace(app=args.app, pin=None)
    server = hm.Server(server_args, args.durability, port, tmp / "data", tmp / "server.log")
    try:
        server.start()
        await server.wait_ready(args.startup_timeout)
        async with Client(f"http://{hm.HOST}:{port}") as client:
            await client.mutation("messages:send", {"channel": "warm", "body": "warm-up"})
            calls = [
                client.mutation("messages:send", {"channel": "bench", "body": f"m{i}"})
                for i in range(n)
            ]
            server_cpu0, client_cpu0 = hm.proc_tree_cpu_seconds(server.pid), time.process_time()
            t0 = time.perf_counter()
            async with asyncio.timeout(args.timeout):
                results = await asyncio.gather(*calls)
            wall = time.perf_counter() - t0
            client_cpu = time.process_time() - client_cpu0
            server_cpu = hm.proc_tree_cpu_seconds(server.pid) - server_cpu0
        if len(set(results)) != n:
            raise hm.BenchError(f"expected {n} distinct message ids, got {len(set(results))}")
        return {
            "mutations": n,
            "wall_s": wall,
            "wall_us_per_mutation": wall / n * 1e6,
            "client_cpu_us_per_mutation": client_cpu / n * 1e6,
            "server_cpu_us_per_mutation": server_cpu / n * 1e6,
            "loadavg_at_end": os.getloadavg()[0],
        }
    except (hm.BenchError, TimeoutError, OSError) as exc:
        return {"mutations": n, "error": repr(exc), "server_log": server.log_tail()}
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for n in args.sizes:
        hm.log(f"N={n} ...")
        results.append(await one_size(args, n))
    ok = [r for r in results if "error" not in r]
    growth = None
    if len(ok) >= 2:
        growth = ok[-1]["wall_us_per_mutation"] / ok[0]["wall_us_per_mutation"]
    return {
        "benchmark": "client_mutations",
        "durability": args.durability,
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": results,
        "growth": growth,
    }


def print_report(doc: dict[str, Any]) -> None:
    print(f"one Client, N concurrent messages:send ({doc['durability']} durability)")
    print(f"{'N':>7} {'wall s':>8} {'us/mut':>7} {'cli CPU':>8} {'srv CPU':>8} {'load':>5}")
    for r in doc["results"]:
        if "error" in r:
            print(f"{r['mutations']:>7} ERROR {r['error']}")
            continue
        print(
            f"{r['mutations']:>7} {r['wall_s']:>8.2f} {r['wall_us_per_mutation']:>7.0f} "
            f"{r['client_cpu_us_per_mutation']:>8.0f} {r['server_cpu_us_per_mutation']:>8.0f} "
            f"{r['loadavg_at_end']:>5.2f}"
        )
    if doc["growth"] is not None:
        print(f"growth (us/mut largest N / smallest N): {doc['growth']:.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[2000, 5000, 10000],
        help="comma-separated numbers of concurrent mutations (default 2000,5000,10000)",
    )
    ap.add_argument("--durability", default="normal")
    ap.add_argument("--app", default=str(hm.REPO_ROOT / "examples" / "chat"))
    ap.add_argument("--timeout", type=float, default=300.0, help="per size, seconds")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--json", action="store_true", help="also print the JSON document")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    doc = asyncio.run(amain(args))
    print_report(doc)
    if args.json:
        print(json.dumps(doc, indent=2))
    return 1 if any("error" in r for r in doc["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
