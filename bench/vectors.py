"""Vector search latency (exact scan), in-process (engine + storage).

Loads ``--count`` documents with a ``--dims``-dimension random unit vector and one of 16 kinds
through ordinary mutations, then runs ``--queries`` searches of limit 10: over the whole table
(``ctx.vector_search`` without a filter) and with ``filter=q.eq("kind", k)`` (a 1/16 slice, read
through the ``by_kind`` index). The scan reads every candidate document, so the limits on
documents and bytes read are raised for the run (with the default 32,000-document limit a search
over a larger table fails; see docs/vector-search.md).

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
        }
    )


def unit(rng: random.Random, dims: int) -> list[float]:
    x = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    n = math.sqrt(sum(a * a for a in x))
    return [a / n for a in x]


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--json", action="store_true")
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
        f"{args.postgres_url}?schema=bench_vectors_{os.getpid()}"
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
    results: dict[str, Any] = {
        "backend": args.backend,
        "count": args.count,
        "dims": args.dims,
        "load_s": round(load_s, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    for label, flt in (("all", False), ("kind filter", True)):
        times = []
        for _ in range(args.queries):
            q = unit(rng, args.dims)
            kind = rng.choice(KINDS)

            def run(tx: Transaction, q: list[float] = q, kind: str = kind, flt: bool = flt) -> int:
                f = (lambda b: b.eq("kind", kind)) if flt else None
                return len(vector_search(tx, "items", "by_embedding", q, 10, f))

            t = time.perf_counter()
            assert engine.read(run)[0] == 10
            times.append((time.perf_counter() - t) * 1000)
        p50, worst = round(percentile(times, 0.5), 1), round(max(times), 1)
        results[label] = {"p50_ms": p50, "max_ms": worst}
        if not args.json:
            print(f"{label}: p50 {results[label]['p50_ms']} ms", file=sys.stderr)
    engine.close()
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
