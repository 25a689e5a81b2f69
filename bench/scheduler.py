#!/usr/bin/env python3
"""Scheduler benchmark: how fast due jobs drain, and how long a ``run_after(0)`` job waits.

Runs an in-process ``Deployment`` (embedded SQLite in a temporary folder, durability ``normal``,
the real worker on a uvloop event loop):

* ``drain``: N mutation jobs scheduled due at once (1,000 per scheduling mutation), then the
  worker started; jobs/s from start until every job is ``success``.
* ``lag``: K times, one after another, a mutation schedules ``run_after(0, job)``; the time from
  that mutation's commit to the job's own commit (seen by a commit listener). p50/p99.

    .venv/bin/python bench/scheduler.py [--jobs 10000] [--lag 300]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import uvloop

from livebase.engine.database import Commit
from livebase.server import Deployment

APP = {
    "jobs.py": """
        from livebase import internal_mutation, mutation


        @internal_mutation
        def record(ctx, n: int) -> None:
            ctx.db.insert("runs", {"n": n})


        @mutation
        def schedule(ctx, start: int, count: int) -> None:
            for n in range(start, start + count):
                ctx.scheduler.run_after(0, record, {"n": n})
    """,
}


def write_app(root: Path) -> Path:
    for name, source in APP.items():
        (root / name).write_text(textwrap.dedent(source))
    return root


async def call(deployment: Deployment, path: str, args: dict[str, int]) -> None:
    result = await deployment.runner.run_mutation(path, args, admin=True)
    if result.error is not None:
        raise result.error


async def drain(base: Path, jobs: int) -> dict[str, float]:
    app = write_app((base / "drain").resolve())
    deployment = Deployment(app, base / "drain-data", durability="normal")
    deployment.open()
    for start in range(0, jobs, 1000):
        await call(deployment, "jobs:schedule", {"start": start, "count": min(1000, jobs - start)})
    done = asyncio.Event()
    seen = 0

    def on_commit(commits: list[Commit]) -> None:
        nonlocal seen
        seen += sum(1 for c in commits for w in c.writes if w.table == "runs")
        if seen >= jobs:
            done.set()

    deployment.engine.add_commit_listener(on_commit)
    started = time.perf_counter()
    await deployment.start()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    await deployment.stop()
    deployment.close()
    return {"jobs": jobs, "seconds": elapsed, "jobs_per_second": jobs / elapsed}


async def lag(base: Path, rounds: int) -> dict[str, float]:
    app = write_app((base / "lag").resolve())
    deployment = Deployment(app, base / "lag-data", durability="normal")
    deployment.open()
    await deployment.start()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    def on_commit(commits: list[Commit]) -> None:
        for c in commits:
            for w in c.writes:
                if w.table == "runs":
                    arrived.put_nowait(time.perf_counter())

    deployment.engine.add_commit_listener(on_commit)
    samples = []
    for n in range(rounds):
        await call(deployment, "jobs:schedule", {"start": n, "count": 1})
        committed = time.perf_counter()
        samples.append((await asyncio.wait_for(arrived.get(), 10) - committed) * 1000)
    await deployment.stop()
    deployment.close()
    samples.sort()
    return {
        "rounds": rounds,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[int(len(samples) * 0.99) - 1],
    }


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "drain").mkdir()
        (base / "lag").mkdir()
        d = await drain(base, args.jobs)
        lat = await lag(base, args.lag)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(
        f"drain: {d['jobs']} mutation jobs in {d['seconds']:.2f} s = "
        f"{d['jobs_per_second']:,.0f} jobs/s"
    )
    print(
        f"lag (run_after(0), commit to job commit): p50 {lat['p50_ms']:.2f} ms, "
        f"p99 {lat['p99_ms']:.2f} ms over {lat['rounds']} rounds"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--lag", type=int, default=300)
    uvloop.run(main(parser.parse_args()))
