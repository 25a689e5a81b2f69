"""What the dashboard's Data panel costs per update: the old whole-table read against a window.

Starts ``livebase serve`` on a one-table app, inserts ``--documents`` documents, then calls over
HTTP with the admin key, ``--repeats`` times each, and reports the p50 time and the answer's size:

- ``documents`` (the first dashboard: up to 20,000 newest documents, re-sent on every change);
- ``_system/dashboard:page`` windows of 300 rows at the top, the middle and the end (read from
  the top, and from the other end as the page asks for it), with an index range, with a field
  filter and with a server-side sort.

A live subscription re-sends the same answer on each change, so the size is what every write to
the table costs each open dashboard. Only 127.0.0.1 is used.

    .venv/bin/python bench/dashboard_page.py --documents 10000 --repeats 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import httpx
from served import served_module

SCHEMA = """
from livebase import define_schema, define_table, v

schema = define_schema({
    "messages": define_table(
        {"channel": v.string(), "body": v.string(), "author": v.string()}
    ).index("by_channel", ["channel"]),
})
"""

APP = """
from livebase import mutation


@mutation
def seed(ctx, start: float, count: float) -> int:
    for i in range(int(start), int(start + count)):
        ctx.db.insert("messages", {
            "channel": "bulk" if i % 2 else "other",
            "body": f"message {i:06d} " + "lorem ipsum " * 4,
            "author": f"user{i % 7}",
        })
    return int(count)
"""

ADMIN_KEY = "bench-dashboard-admin-key"


def call(client: httpx.Client, kind: str, path: str, args: dict[str, Any]) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post(
        f"/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers={"Authorization": f"Convex {ADMIN_KEY}"},
    )
    elapsed = time.perf_counter() - started
    body = response.json()
    if body.get("status") != "success":
        raise SystemExit(f"{path} {args} failed: {body}")
    return elapsed, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    options = parser.parse_args()
    n = options.documents
    window = {"table": "messages", "limit": 300}
    bulk = [{"field": "channel", "op": "eq", "value": "bulk"}]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("documents (old: newest 20,000)", "documents", {"table": "messages", "limit": 20000}),
        ("page: top 300", "page", window),
        ("page: 300 in the middle", "page", {**window, "offset": n // 2}),
        ("page: last 300, read from the top", "page", {**window, "offset": max(0, n - 300)}),
        ("page: last 300, as the page asks", "page", {**window, "order": "asc"}),
        ("page: index range (half)", "page", {**window, "index": "by_channel", "range": bulk}),
        ("page: field filter", "page", {**window, "field": "author", "contains": "user3"}),
        ("page: sorted by body", "page", {**window, "sortField": "body", "sortOrder": "asc"}),
    ]
    os.environ["LIVEBASE_ADMIN_KEY"] = ADMIN_KEY
    with served_module(APP, more={"schema.py": SCHEMA}) as server:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for start in range(0, n, 2000):
                call(
                    client, "mutation", "work:seed", {"start": start, "count": min(2000, n - start)}
                )
            print(f"{n:,} documents; {options.repeats} calls each; p50 time, answer size")
            for label, name, args in cases:
                times, size = [], 0
                for _ in range(options.repeats):
                    elapsed, size = call(client, "query", f"_system/dashboard:{name}", args)
                    times.append(elapsed)
                p50 = statistics.median(times) * 1000
                print(f"  {label:34} {p50:8.1f} ms {size / 1024:10.1f} KiB")


if __name__ == "__main__":
    main()
