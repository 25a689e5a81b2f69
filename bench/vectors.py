"""Vector search latency, in-process (engine + storage): the storage's vector index against the
exact scan, on SQLite (sqlite-vec) or PostgreSQL (pgvector, cube or arrays, whichever the server
has).

Loads ``--count`` documents with a ``--dims``-dimension random unit vector and one of 16 kinds
through ordinary mutations (each document goes into two vector indexes, cosine and dot product),
then runs ``--queries`` searches of limit 10 per row of the table: through each index over the
whole table and with ``filter=q.eq("kind", k)`` (a 1/16 slice), and by exact scan (what the first
version did; the scan reads every candidate, so the read limits are raised for the run; see
docs/vector-search.md). ``--skip-scan`` leaves the slow exact scan out.

    .venv/bin/python bench/vectors.py                           # SQLite, 100k x 384
    .venv/bin/python bench/vectors.py --backend postgres
    .venv/bin/python bench/vectors.py --count 10000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from typing import Any

from livebase import define_schema, define_table, v
from livebase.config import Limits, Settings
from livebase.engine import Engine, Transaction
from livebase.engine.vector_search import vector_search
from livebase.storage import open_storage

KINDS = [f"k{i}" for i in range(16)]


def schema(dims: int) -> Any:
    return define_schema(
        {
            "items": define_table({"kind": v.string(), "embedding": v.array(v.float64())})
            .index("by_kind", ["kind"])
            .vector_index(
                "by_embedding", vector_field="embedding", dimensions=dims, filter_fields=["kind"]
            )
            .vector_index(
                "by_embedding_dot",
                vector_field="embedding",
                dimensions=dims,
                filter_fields=["kind"],
                metric="dot",
            )
        }
    )


def unit(rng: random.Random, dims: int) -> list[float]:
    x = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    n = math.sqrt(sum(a * a for a in x))
    return [a / n for a in x]


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def _clean_up(args: argparse.Namespace, tmp: str) -> None:
    """Remove the run's database: the SQLite folder, or the PostgreSQL schema."""
    shutil.rmtree(tmp, ignore_errors=True)
    if args.backend == "postgres":
        import psycopg

        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS bench_vectors_{os.getpid()} CASCADE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-scan", action="store_true", help="leave the exact scan out")
    args = ap.parse_args()
    rng = random.Random(1)
    settings = Settings(
        limits=Limits(
            max_function_seconds=3600.0,
            max_documents_scanned=10_000_000,
            max_bytes_read=1 << 40,
        )
    )
    tmp = tempfile.mkdtemp(prefix="lb-vec-")
    target = (
        f"{args.postgres_url}{'&' if '?' in args.postgres_url else '?'}"
        f"schema=bench_vectors_{os.getpid()}"
        if args.backend == "postgres"
        else os.path.join(tmp, "db.sqlite3")
    )
    engine = Engine(open_storage(target, "normal"), schema(args.dims), settings=settings)
    engine.open()
    t0 = time.perf_counter()
    for start in range(0, args.count, args.batch):
        n = min(args.batch, args.count - start)
        docs = [{"kind": rng.choice(KINDS), "embedding": unit(rng, args.dims)} for _ in range(n)]

        def insert(tx: Transaction, docs: list[dict[str, Any]] = docs) -> None:
            for d in docs:
                tx.insert("items", d)

        asyncio.run(engine.mutate(insert))
    load_s = time.perf_counter() - t0
    if not args.json:
        print(f"loaded {args.count} in {load_s:.0f} s", file=sys.stderr, flush=True)
    results: dict[str, Any] = {
        "backend": args.backend,
        "count": args.count,
        "dims": args.dims,
        "load_s": round(load_s, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    rows = [
        ("cosine index", "by_embedding", False),
        ("dot index", "by_embedding_dot", False),
    ]
    if not args.skip_scan:
        rows.append(("exact scan", "by_embedding", True))
    for name, index, exact in rows:
        for flt in (False, True):
            label = f"{name}, {'kind filter' if flt else 'all'}"
            times = []
            for _ in range(args.queries):
                q = unit(rng, args.dims)
                kind = rng.choice(KINDS)

                def run(
                    tx: Transaction,
                    q: list[float] = q,
                    kind: str = kind,
                    flt: bool = flt,
                    index: str = index,
                    exact: bool = exact,
                ) -> int:
                    f = (lambda b: b.eq("kind", kind)) if flt else None
                    return len(vector_search(tx, "items", index, q, 10, f, exact=exact))

                t = time.perf_counter()
                assert engine.read(run)[0] == 10
                times.append((time.perf_counter() - t) * 1000)
            p50, worst = round(percentile(times, 0.5), 1), round(max(times), 1)
            results[label] = {"p50_ms": p50, "max_ms": worst}
            if not args.json:
                print(f"{label}: p50 {p50} ms (max {worst} ms)", file=sys.stderr, flush=True)
    engine.close()
    _clean_up(args, tmp)
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
