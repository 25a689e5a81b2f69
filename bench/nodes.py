#!/usr/bin/env python3
"""Mutations per second and commit-to-subscriber latency on SQLite (1 node) and PostgreSQL
(1 and 3 nodes).

For each configuration it starts fresh ``livebase serve examples/chat`` processes (durability
``normal``; PostgreSQL nodes share one fresh schema of ``--pg``) and measures:

* ``throughput``: ``--writers`` keep-alive HTTP connections, spread round-robin over the nodes,
  each sending ``messages:send`` back to back for ``--duration`` seconds: mutations/s.
* ``latency``: one subscriber (``livebase.client.Client``) on node 1 watches
  ``messages:count {"channel": "lat"}``; a writer on the LAST node sends ``messages:send`` to that
  channel ``--latency-writes`` times, one at a time; latency runs from just before the write is
  sent to the subscriber receiving the new count (so on 3 nodes it crosses nodes: written via
  node 3, delivered by node 1 after a NOTIFY). p50/p99.

    .venv/bin/python bench/nodes.py [--configs sqlite-1,postgres-1,postgres-3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_mutations as hm  # sibling script: HTTP client, percentiles, machine facts

from livebase.client import Client

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "examples" / "chat"
ADMIN_KEY = "lb_admin_bench_nodes"


def start_nodes(count: int, db: str | None, tmp: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    nodes = []
    env = {**os.environ, "LIVEBASE_ADMIN_KEY": ADMIN_KEY}
    for i in range(count):
        port = hm.free_port()
        args = [sys.executable, "-m", "livebase", "serve", str(APP), "--port", str(port),
                "--data", str(tmp / f"node{i}"), "--durability", "normal"]  # fmt: skip
        if db:
            args += ["--db", db]
        log = open(tmp / f"node{i}.log", "wb")
        nodes.append((subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env), port))
    for _, port in nodes:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = asyncio.run(hm.http_get(port, "/version"))
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node on port {port} did not start; see {tmp}")
            time.sleep(0.1)
    return nodes


def send_request(port: int, channel: str) -> bytes:
    body = json.dumps(
        {"path": "messages:send", "args": {"channel": channel, "body": "x"}, "format": "json"}
    ).encode()
    return hm.build_request("POST", "/api/mutation", port, body)


async def throughput(ports: list[int], writers: int, duration: float) -> float:
    done = 0
    deadline = time.monotonic() + duration

    async def loop(i: int) -> None:
        nonlocal done
        port = ports[i % len(ports)]
        conn = hm.Connection(port, send_request(port, f"t{i}"))
        await conn.open()
        while time.monotonic() < deadline:
            status, _ = await conn.send()
            assert status == 200
            done += 1
        await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(writers)))
    return done / (time.monotonic() - started)


async def latency(ports: list[int], writes: int) -> dict[str, float]:
    writer = hm.Connection(ports[-1], send_request(ports[-1], "lat"))
    await writer.open()
    samples: list[int] = []
    async with Client(f"http://127.0.0.1:{ports[0]}") as client:
        sub = client.subscribe("messages:count", {"channel": "lat"})
        count = await sub.__anext__()
        for _ in range(writes):
            started = time.perf_counter_ns()
            status, _ = await writer.send()
            assert status == 200
            while True:
                value = await asyncio.wait_for(sub.__anext__(), 10)
                if value > count:
                    count = value
                    break
            samples.append(time.perf_counter_ns() - started)
            await asyncio.sleep(0.02)
    await writer.close()
    return hm.latency_summary(samples)


def run_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    backend, _, count = name.partition("-")
    tmp = Path(tempfile.mkdtemp(prefix=f"livebase-nodes-{name}-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    db = f"{args.pg}?schema={schema}" if backend == "postgres" else None
    nodes = start_nodes(int(count), db, tmp)
    try:
        ports = [port for _, port in nodes]
        rate = asyncio.run(throughput(ports, args.writers, args.duration))
        lat = asyncio.run(latency(ports, args.latency_writes))
        return {"config": name, "mutations_per_s": round(rate), **lat}
    finally:
        for process, _ in nodes:
            process.terminate()
            process.wait(10)
        if db:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="sqlite-1,postgres-1,postgres-3")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--writers", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--latency-writes", type=int, default=300)
    args = p.parse_args()
    facts = hm.machine_facts("uvloop (server) / asyncio (client)", None)
    print(f"{facts['cpu_model']}, {facts['nproc']} CPUs, Python {facts['python']}, "
          f"{facts['date_utc']}")  # fmt: skip
    print(f"{'config':<12} {'mutations/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for name in args.configs.split(","):
        r = run_config(name, args)
        print(f"{name:<12} {r['mutations_per_s']:>12,} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")


if __name__ == "__main__":
    main()
