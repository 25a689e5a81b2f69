"""Full-text search latency at 100k and 1M documents, in-process (engine + storage).

Loads a synthetic corpus (Zipf-distributed words, 5-30 per message, 100 channels) into a fresh
database through ordinary mutations of ``--batch`` documents each (the engine path, so every
document is indexed exactly as an app's insert would), then runs ``--queries`` searches of
``take(10)``: two-word searches (the second a prefix) over the whole index, and the same with
``.eq("channel", c)``. Reports load time and search p50/p95/p99 per corpus size.

    .venv/bin/python bench/search.py                          # SQLite, 100k and 1M
    .venv/bin/python bench/search.py --sizes 100000 --backend postgres
    .venv/bin/python bench/search.py --json
    .venv/bin/python bench/search.py --sizes 100000 --compare-pruning   # top-k pruning on/off
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
import zlib
from typing import Any

from livebase import define_schema, define_table, v
from livebase.config import Limits, Settings
from livebase.engine import Engine, Transaction
from livebase.storage import open_storage, search_prune

SCHEMA = define_schema(
    {
        "messages": define_table({"body": v.string(), "channel": v.string()}).search_index(
            "search_body", search_field="body", filter_fields=["channel"]
        )
    }
)
SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "ve", "zu", "an", "el", "or", "ix"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_cumulative(n: int) -> list[float]:
    """Cumulative Zipf weights (word of rank r drawn with probability ~ 1/r)."""
    out, total = [], 0.0
    for rank in range(n):
        total += 1.0 / (rank + 1)
        out.append(total)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load(engine: Engine, rng: random.Random, words: list[str], start: int, count: int,
         batch: int) -> None:  # fmt: skip
    cum = zipf_cumulative(len(words))
    done = 0
    while done < count:
        n = min(batch, count - done)
        bodies = [
            " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(5, 30))) for _ in range(n)
        ]
        channels = [f"c{rng.randrange(100)}" for _ in range(n)]

        def insert(tx: Transaction, bodies: list[str] = bodies, ch: list[str] = channels) -> None:
            tx.lift_limits()
            for body, channel in zip(bodies, ch, strict=True):
                tx.insert("messages", {"body": body, "channel": channel})

        asyncio.run(engine.mutate(insert))
        done += n
        if done % (batch * 20) == 0 or done == count:
            print(f"  loaded {start + done:,}", file=sys.stderr)


def measure(engine: Engine, rng: random.Random, words: list[str], queries: int,
            filtered: bool, kind: str = "zipf") -> dict[str, float]:  # fmt: skip
    """Two-word searches; words drawn as the corpus draws them (``zipf``: most searches hold a
    very common word, which matches most documents), uniformly from the vocabulary
    (``uniform``: rarer words, as a person types them), or one of each (``mixed``: a common
    word with a specific one, the specific one typed whole)."""
    cum = zipf_cumulative(len(words))
    times: list[float] = []
    found = 0
    for _ in range(queries):
        if kind == "mixed":
            common, specific = rng.choices(words, cum_weights=cum)[0], rng.choice(words)
            text = f"{common} {specific}"
        else:
            a, b = (
                rng.choices(words, k=2)
                if kind == "uniform"
                else rng.choices(words, cum_weights=cum, k=2)
            )
            text = f"{a} {b[: max(2, len(b) - 2)]}"
        channel = f"c{rng.randrange(100)}"

        def run(tx: Transaction, text: str = text, channel: str = channel) -> int:
            def build(q: Any) -> Any:
                q = q.search("body", text)
                return q.eq("channel", channel) if filtered else q

            return len(tx.query("messages").with_search_index("search_body", build).take(10))

        t0 = time.perf_counter()
        found += engine.read(run)[0]
        times.append(time.perf_counter() - t0)
    return {
        "p50_ms": percentile(times, 50) * 1e3,
        "p95_ms": percentile(times, 95) * 1e3,
        "p99_ms": percentile(times, 99) * 1e3,
        "mean_results": found / queries,
    }


SETS = [
    ("search", False, "zipf"),
    ("search_with_filter", True, "zipf"),
    ("mixed_words", False, "mixed"),
    ("uncommon_words", False, "uniform"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--vocabulary", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--compare-pruning",
        action="store_true",
        help="run every query set again with top-k pruning off, in the same run",
    )
    args = parser.parse_args()
    rng = random.Random(1204)
    words = vocabulary(rng, args.vocabulary)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    settings = Settings(limits=Limits(max_function_seconds=600.0))
    budget = search_prune.CANDIDATE_BUDGET
    report: dict[str, Any] = {
        "backend": args.backend,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "results": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            target: str = os.path.join(tmp, "search.sqlite3")
        else:
            schema = f"bench_search_{os.getpid()}"
            target = f"{args.postgres_url}?schema={schema}"
        engine = Engine(open_storage(target, "normal"), SCHEMA, settings=settings)
        engine.open()
        try:
            loaded = 0
            for size in sizes:
                t0 = time.perf_counter()
                load(engine, rng, words, loaded, size - loaded, args.batch)
                load_s = time.perf_counter() - t0
                rate = (size - loaded) / load_s
                loaded = size
                row: dict[str, Any] = {
                    "documents": size,
                    "load_seconds": round(load_s, 1),
                    "docs_per_second": round(rate),
                }
                print(
                    f"{args.backend} {size:>9,} docs: load {load_s:7.1f} s ({rate:,.0f}/s)",
                    flush=True,
                )
                for pruning in (True, False) if args.compare_pruning else (True,):
                    search_prune.CANDIDATE_BUDGET = budget if pruning else 0
                    label = "" if pruning else "_no_pruning"
                    for name, filtered, kind in SETS:
                        seed = zlib.crc32(f"{size}{name}".encode())  # the same searches either way
                        result = measure(
                            engine, random.Random(seed), words, args.queries, filtered, kind
                        )
                        row[name + label] = result
                        print(
                            f"  {name}{label}: p50 {result['p50_ms']:.2f} ms, p95 "
                            f"{result['p95_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms "
                            f"(mean results {result['mean_results']:.1f})",
                            flush=True,
                        )
                search_prune.CANDIDATE_BUDGET = budget
                report["results"].append(row)
        finally:
            engine.close()
            if args.backend == "postgres":
                import psycopg

                with psycopg.connect(args.postgres_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
