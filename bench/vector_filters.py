"""How a filtered vector search should use sqlite-vec: measured on one ``vec0`` table.

Builds ``--count`` random unit vectors of ``--dims`` dimensions, each with one of ``--kinds``
kinds, in a ``vec0`` table shaped as Livebase's (``storage.sqlite_vectors``: a text primary key
and the kind's hash in an integer metadata column), then times ``--queries`` searches for the 26
nearest of one kind (Livebase asks for limit 10 plus a margin of 16) three ways:

- ``metadata``: the kind as a metadata constraint inside the k-nearest-neighbour query (what
  Livebase does);
- ``partition``: the same with the kind as a ``partition key`` column instead;
- ``post-filter``: the nearest ``26 * kinds`` without a filter, then keep that kind (over-sample
  and filter afterwards), which also counts how often fewer than 26 come back.

    .venv/bin/python bench/vector_filters.py
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import struct
import time

from livebase.storage import sqlite_vec_loader
from livebase.storage.vector_types import filter_hash


def unit(rng: random.Random, dims: int) -> list[float]:
    x = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    n = math.sqrt(sum(a * a for a in x))
    return [a / n for a in x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--kinds", type=int, default=16)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    sqlite_vec_loader.prepare()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    if not sqlite_vec_loader.load(conn):
        raise SystemExit("sqlite-vec could not be loaded")
    dims, k = args.dims, 26
    conn.execute(
        f"CREATE VIRTUAL TABLE meta USING vec0(doc_id text primary key, "
        f"embedding float[{dims}] distance_metric=cosine, f0 integer)"
    )
    conn.execute(
        f"CREATE VIRTUAL TABLE part USING vec0(doc_id text primary key, "
        f"embedding float[{dims}] distance_metric=cosine, f0 integer partition key)"
    )
    rng = random.Random(1)
    kinds = [filter_hash(f"k{i}") for i in range(args.kinds)]
    conn.execute("BEGIN")
    for i in range(args.count):
        row = (f"d{i}", struct.pack(f"{dims}f", *unit(rng, dims)), kinds[i % args.kinds])
        conn.execute("INSERT INTO meta (doc_id, embedding, f0) VALUES (?, ?, ?)", row)
        conn.execute("INSERT INTO part (doc_id, embedding, f0) VALUES (?, ?, ?)", row)
    conn.execute("COMMIT")
    knn = "SELECT doc_id, f0 FROM {t} WHERE embedding MATCH ? AND k = ?"
    results: dict[str, object] = {"count": args.count, "dims": dims, "kinds": args.kinds}
    short = 0
    for name in ("metadata", "partition", "post-filter"):
        times = []
        for _ in range(args.queries):
            q = struct.pack(f"{dims}f", *unit(rng, dims))
            kind = rng.choice(kinds)
            t = time.perf_counter()
            if name == "metadata":
                rows = conn.execute(knn.format(t="meta") + " AND f0 = ?", (q, k, kind)).fetchall()
            elif name == "partition":
                rows = conn.execute(knn.format(t="part") + " AND f0 = ?", (q, k, kind)).fetchall()
            else:
                wide = conn.execute(knn.format(t="meta"), (q, k * args.kinds)).fetchall()
                rows = [r for r in wide if r[1] == kind][:k]
                short += len(rows) < k
            times.append((time.perf_counter() - t) * 1000)
            assert name == "post-filter" or len(rows) == k
        times.sort()
        results[name] = {"p50_ms": round(times[len(times) // 2], 1), "max_ms": round(times[-1], 1)}
    results["post-filter short of 26"] = f"{short} of {args.queries}"
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
