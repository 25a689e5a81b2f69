#!/usr/bin/env python3
"""What one re-run of a live query costs: ``messages:list`` over N rows of ``examples/chat``,
run and encoded for the sync protocol as a subscription's re-run is, in this process.

Runs the query the way the subscription manager does (``Runner.run_query``, then the result
encoded to wire JSON), with the document cache (``livebase.engine.document_cache``) on and off,
alternating, and prints the median and best time per re-run of each. The database is a fresh
SQLite file in a temporary folder. ``--rows`` sets N (default 200, the W3 list of issue 17).

    .venv/bin/python bench/query_rerun.py [--rows 200] [--runs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from livebase.testing.harness import AppHarness
from livebase.values.wire import dumps, to_wire

try:
    from livebase.engine import document_cache
except ImportError:  # a Livebase from before the cache: measure it as it is
    document_cache = None  # type: ignore[assignment]

APP = Path(__file__).resolve().parent.parent / "examples" / "chat"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200, help="re-runs timed per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        harness = AppHarness(APP, data)
        try:
            for i in range(args.rows):
                harness.mutation("messages:send", {"channel": "c", "body": f"message {i:05d} " * 3})
            runner = harness.deployment.runner

            def rerun() -> int:
                result = runner.run_query("messages:list", {"channel": "c"}, admin=True)
                return len(dumps(to_wire(result.value)))

            modes = [("cache on", 32 << 20), ("cache off", 0)] if document_cache else [("as is", 0)]
            times: dict[str, list[float]] = {mode: [] for mode, _ in modes}
            for _ in range(args.rounds):
                for mode, chars in modes:
                    if document_cache is not None:
                        document_cache.DOCUMENTS.clear()
                        document_cache.DOCUMENTS.max_chars = chars
                    for _ in range(5):
                        rerun()  # warm: the second read of a document keeps it
                    for _ in range(args.runs):
                        start = time.perf_counter()
                        rerun()
                        times[mode].append((time.perf_counter() - start) * 1000)
            size = rerun()
        finally:
            harness.close()
    load = os.getloadavg()[0]
    print(f"messages:list over {args.rows} rows ({size} bytes encoded), load average {load:.2f}")
    for mode, values in times.items():
        median, best = statistics.median(values), min(values)
        print(f"  {mode:9}  median {median:.3f} ms  best {best:.3f} ms  ({len(values)} re-runs)")


if __name__ == "__main__":
    main()
