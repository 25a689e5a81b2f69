#!/usr/bin/env python3
"""What one mutation costs on SQLite, and what its commit writes: the benchmark app's
``messages:send`` run in this process, with and without an idempotency key.

A mutation over the sync socket carries an idempotency key (``ws:<session>:<request id>``, so a
call resent after a reconnect is answered from its record); one over HTTP carries none unless
the caller sends ``Idempotency-Key``. For each durability and each kind, alternating for
``--rounds`` rounds (progress on stderr), this prints the event loop thread's CPU and the wall
time per mutation (``Runner.run_mutation``, as the sync session and the HTTP API call it), and
the pages each commit appends to the write-ahead log, by table: read from the log's frame
headers and named with SQLite's ``dbstat``. A page changed by a commit is written to the log
whole, however little of it changed, and B-tree splits take neighbouring pages with them. The
database is a fresh file in a temporary folder for each durability.

    .venv/bin/python bench/commit_cost.py [--mutations 3000] [--rounds 4] [--durability normal]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import uvloop

from livebase.functions.runner import Runner
from livebase.server import Deployment

APP = Path(__file__).resolve().parent / "side_by_side" / "app"
KINDS = ("no key", "key")
SAMPLED_COMMITS = 40
"""Commits of one kind whose log pages are counted, from the log's current cycle."""
MAX_SAMPLING_COMMITS = 1000
"""Commits made at most while waiting for a cycle of the log that holds that many."""


async def send(runner: Runner, kind: str, session: str, n: int) -> None:
    key = f"ws:{session}:{n}" if kind == "key" else None
    args = {"channel": "bench", "body": f"{session}-{n}"}
    await runner.run_mutation("messages:send", args, idempotency_key=key)


def log_commits(wal: Path) -> list[list[int]]:
    """The page numbers of each commit in the log's current cycle (frames whose salts match
    the header's; a cycle starts over at the top of the file, leaving older frames after it)."""
    data = wal.read_bytes()
    if len(data) < 32:
        return []
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    commits, frames, at = [], [], 32
    while at + 24 + page_size <= len(data) and data[at + 8 : at + 16] == salts:
        page, size_after = struct.unpack(">II", data[at : at + 8])
        frames.append(page)
        if size_after:  # the frame that commits a transaction records the database's size
            commits.append(frames)
            frames = []
        at += 24 + page_size
    return commits


def pages_by_table(db: Path, commits: list[list[int]]) -> Counter[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    counted: Counter[str] = Counter()
    for pages in commits:
        counted.update(names.get(page, "(free or new)") for page in pages)
    return counted


async def sample_pages(
    deployment: Deployment, kind: str, session: str, start: int
) -> tuple[float, Counter[str]]:
    """Commit mutations of ``kind`` until the log's cycle holds ``SAMPLED_COMMITS`` of them;
    pages a commit, and by table."""
    db = deployment.data_dir / "data.sqlite3"
    wal = db.with_name(db.name + "-wal")
    for made in range(1, MAX_SAMPLING_COMMITS + 1):
        await send(deployment.runner, kind, session, start + made)
        commits = log_commits(wal)
        if made >= SAMPLED_COMMITS and len(commits) >= SAMPLED_COMMITS:
            sample = commits[-SAMPLED_COMMITS:]
            by_table = pages_by_table(db, sample)
            return sum(map(len, sample)) / len(sample), by_table
    raise SystemExit(
        f"the write-ahead log never held {SAMPLED_COMMITS} commits in one cycle in "
        f"{MAX_SAMPLING_COMMITS} commits: is {wal} checkpointed after every few commits?"
    )


async def measure(durability: str, mutations: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        shutil.copytree(APP, app)
        deployment = Deployment(app, Path(tmp) / "data", durability=durability)
        deployment.open()
        try:
            runner = deployment.runner
            for n in range(500):  # warm: modules, caches, the first pages of every tree
                await send(runner, "key", "warm", n)
            cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
            wall: dict[str, list[float]] = {kind: [] for kind in KINDS}
            pages: dict[str, list[float]] = {kind: [] for kind in KINDS}
            tables: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
            for r in range(rounds):
                for kind in KINDS:
                    session = f"{durability}-{kind}-{r}".replace(" ", "")
                    cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
                    for n in range(mutations):
                        await send(runner, kind, session, n)
                    cpu[kind].append((time.thread_time_ns() - cpu0) / mutations / 1e3)
                    wall[kind].append((time.perf_counter_ns() - wall0) / mutations / 1e3)
                    per_commit, by_table = await sample_pages(deployment, kind, session, mutations)
                    pages[kind].append(per_commit)
                    tables[kind].update(by_table)
                print(f"{durability}: round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
        finally:
            deployment.close()
    print(f"\n{durability}, {mutations} mutations a round, medians of {rounds} rounds:")
    print(f"{'kind':8} {'CPU us':>8} {'wall us':>8} {'pages':>6}  of which, by table (mean)")
    for kind in KINDS:
        split = ", ".join(
            f"{name} {count / SAMPLED_COMMITS / rounds:.2f}"
            for name, count in tables[kind].most_common()
        )
        print(
            f"{kind:8} {statistics.median(cpu[kind]):8.1f} {statistics.median(wall[kind]):8.1f} "
            f"{statistics.median(pages[kind]):6.2f}  {split}"
        )
    extra = statistics.median(k - u for k, u in zip(cpu["key"], cpu["no key"], strict=True))
    print(f"the key's cost: {extra:+.1f} us of CPU a mutation (median of the rounds' differences)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutations", type=int, default=3000, help="timed per round and kind")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--durability",
        default="normal,fsync-per-commit",
        help="comma-separated: normal, fsync-per-commit",
    )
    args = parser.parse_args()
    for durability in args.durability.split(","):
        uvloop.run(measure(durability, args.mutations, args.rounds))


if __name__ == "__main__":
    main()
