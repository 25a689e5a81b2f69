"""Several Livebase nodes on one PostgreSQL database: subscribers on one node see every commit
made through the others, in order and without gaps; serializable mutations across nodes; a node
killed with ``kill -9`` loses nothing, its orphaned action is failed and its due jobs run
elsewhere, each once."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.support.apps import write_app
from tests.support.calls import call as call_url
from tests.support.calls import wait_until
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ADMIN_KEY = "lb_admin_multi_node_test_key"

APP = {
    "crons.py": """
        from livebase import Crons

        crons = Crons()
        crons.interval("tick", "items:tick", {}, seconds=1)
    """,
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "items": define_table({
                "writer": v.string(), "seq": v.float64(), "part": v.optional(v.float64()),
            }),
            "counters": define_table({"name": v.string(), "value": v.float64()}).index(
                "by_name", ["name"]),
        })
    """,
    "items.py": """
        import asyncio

        from livebase import action, internal_mutation, mutation, query


        @mutation
        def add(ctx, writer: str, seq: float) -> str:
            return ctx.db.insert("items", {"writer": writer, "seq": seq})


        @mutation
        def add_many(ctx, writer: str, seq: float, parts: float) -> list:
            return [
                ctx.db.insert("items", {"writer": writer, "seq": seq, "part": float(p)})
                for p in range(int(parts))
            ]


        @mutation
        def renumber(ctx, id: str, seq: float) -> None:
            ctx.db.patch(id, {"seq": seq})


        @query
        def all(ctx) -> list:
            return [[d["writer"], d["seq"]] for d in ctx.db.query("items").collect()]


        @mutation
        def increment(ctx, name: str) -> float:
            q = ctx.db.query("counters").with_index("by_name", lambda r: r.eq("name", name))
            row = q.unique()
            if row is None:
                ctx.db.insert("counters", {"name": name, "value": 1.0})
                return 1.0
            ctx.db.patch(row["_id"], {"value": row["value"] + 1})
            return row["value"] + 1


        @query
        def counter(ctx, name: str) -> float:
            q = ctx.db.query("counters").with_index("by_name", lambda r: r.eq("name", name))
            row = q.unique()
            return 0.0 if row is None else row["value"]


        @internal_mutation
        def record(ctx, n: float) -> None:
            ctx.db.insert("items", {"writer": "job", "seq": n})


        @mutation
        def schedule_many(ctx, count: float) -> None:
            for n in range(int(count)):
                ctx.scheduler.run_after(0.5, record, {"n": float(n)})


        @action
        async def slow(ctx) -> None:
            await asyncio.sleep(120)


        @mutation
        def schedule_slow(ctx) -> str:
            return ctx.scheduler.run_after(0, slow, {})


        @query
        def job(ctx, id: str) -> dict | None:
            return ctx.db.system.get(id)


        @internal_mutation
        def tick(ctx) -> None:
            ctx.db.insert("ticks", {"at": ctx.now})


        @query
        def cron_runs(ctx) -> list:
            jobs = ctx.db.system.query("_scheduled_functions").collect()
            return [j for j in jobs if j.get("cron") == "tick"]


        @query
        def pending(ctx) -> float:
            jobs = ctx.db.system.query("_scheduled_functions").collect()
            return float(sum(1 for j in jobs if j["state"]["kind"] == "pending"))
    """,
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    app = write_app(tmp_path / "app", APP)
    with fresh_database_url("nodes") as url:
        nodes: list[LivebaseServer] = []

        def node(i: int, *, start: bool = True) -> LivebaseServer:
            server = LivebaseServer(
                app,
                data=tmp_path / f"node{i}",
                log_path=tmp_path / f"node{i}.log",
                admin_key=ADMIN_KEY,
                db=url,
            )
            nodes.append(server)
            return server.start() if start else server

        yield node
        for server in nodes:
            server.stop()


def test_subscribers_on_one_node_see_writes_through_the_others_in_order(cluster: Any) -> None:
    node1, node2, node3 = cluster(1), cluster(2), cluster(3)
    per_writer = 150
    writers = [(node2, "a"), (node2, "b"), (node3, "c"), (node3, "d")]
    total = per_writer * len(writers)

    async def watch(ready: threading.Event) -> list[list[list[Any]]]:
        results: list[list[list[Any]]] = []
        async with Client(node1.url) as client:
            async for value in client.subscribe("items:all", {}):
                results.append(value)
                ready.set()
                if len(value) >= total:
                    return results
        return results

    ready = threading.Event()
    seen: list[list[list[list[Any]]]] = []
    watcher = threading.Thread(target=lambda: seen.append(asyncio.run(watch(ready))))
    watcher.start()
    assert ready.wait(30)

    def write(server: LivebaseServer, name: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for seq in range(per_writer):
                body = {"path": "items:add", "args": {"writer": name, "seq": seq}}
                assert http.post("/api/mutation", json=body).json()["status"] == "success"

    threads = [threading.Thread(target=write, args=w) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    watcher.join(60)
    assert seen, "the subscription on node 1 never saw all writes"
    results = seen[0]
    assert len(results[-1]) == total
    previous: set[tuple[str, float]] = set()
    for result in results:
        items = {(w, s) for w, s in result}
        assert previous <= items, "a subscriber saw an item disappear"
        previous = items
        by_writer: dict[str, list[float]] = {}
        for w, s in result:
            by_writer.setdefault(w, []).append(s)
        for w, seqs in by_writer.items():
            # A writer sends seq k+1 only after k was acknowledged, so no state may hold k+1
            # without k: no gaps, in any result the subscriber was shown.
            assert sorted(seqs) == list(range(len(seqs))), f"gap in {w}: {sorted(seqs)[:10]}..."
    assert len(results) > 3  # it moved with the writes, not only at the end

    # The change stream on node 1 holds every commit of the other nodes, in commit order.
    listed = poll_changes(node1)
    ts = [int(c["ts"]) for c in listed]
    assert len(listed) == total and len({c["id"] for c in listed}) == total
    assert ts == sorted(ts)  # commit order, whichever node made the commit
    by_writer: dict[str, list[float]] = {}
    for c in listed:
        by_writer.setdefault(c["document"]["writer"], []).append(c["document"]["seq"])
    assert all(seqs == list(range(per_writer)) for seqs in by_writer.values())


def poll_changes(node: LivebaseServer, limit: int = 97) -> list[dict[str, Any]]:
    """Every retained change to ``items``, through ``format=json`` pages (``hasMore``)."""
    listed: list[dict[str, Any]] = []
    params = {"tables": "items", "format": "json", "limit": str(limit)}
    headers = {"authorization": f"Convex {ADMIN_KEY}"}
    while True:
        page = httpx.get(f"{node.url}/api/changes", params=params, headers=headers, timeout=30)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["changes"]) <= limit
        listed += body["changes"]
        if not body["hasMore"]:
            return listed
        assert body["changes"], "a page that says more follows must not come back empty here"
        params["cursor"] = body["cursor"]


SEED = int(os.environ.get("LIVEBASE_TEST_SEED") or 20261204)


def test_every_node_sees_every_commit_once_in_order_across_random_rounds(cluster: Any) -> None:
    """Rounds of concurrent writers, each sending every mutation to a random node (inserts of
    one to three documents per commit, and updates): every node's live change stream lists
    every write exactly once, in one and the same commit order, which is also the order of the
    log read back in small pages; every node's subscription ends at the full result and never
    shows a writer's later write without its earlier ones. Reproduce a failure with
    LIVEBASE_TEST_SEED=<the seed in the message>."""
    rng = random.Random(SEED)
    nodes = [cluster(1), cluster(2), cluster(3)]
    streams: list[list[Any]] = [[] for _ in nodes]
    results: list[list[list[list[Any]]]] = [[] for _ in nodes]
    subscribed = [threading.Event() for _ in nodes]
    stop = threading.Event()

    async def follow(i: int) -> None:
        # From the oldest retained change: the database is new, so that is all of them.
        async with Client(nodes[i].url, admin_key=ADMIN_KEY) as client:
            async with client.changes(tables=["items"]) as stream:
                async for change in stream:
                    streams[i].append(change)
                    if stop.is_set() and change.document and change.document["writer"] == "end":
                        return

    async def watch(i: int) -> None:
        async with Client(nodes[i].url) as client:
            async for value in client.subscribe("items:all", {}):
                results[i].append(value)
                subscribed[i].set()
                if stop.is_set() and any(w == "end" for w, _ in value):
                    return

    async def consume() -> None:
        tasks = [follow(i) for i in range(len(nodes))] + [watch(i) for i in range(len(nodes))]
        await asyncio.wait_for(asyncio.gather(*tasks), 170)

    errors: list[BaseException] = []

    def run_consumers() -> None:
        try:
            asyncio.run(consume())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    consumer = threading.Thread(target=run_consumers)
    consumer.start()
    wait_until(lambda: all(e.is_set() for e in subscribed) or errors, timeout=60)

    expected_inserts = 0
    expected_updates = 0
    mutations = 0
    writer_docs: dict[str, int] = {}
    for round_no in range(4):
        plans = []
        for w in range(rng.randint(2, 5)):
            name = f"r{round_no}w{w}"
            steps = []
            for seq in range(rng.randint(10, 35)):
                parts = rng.choice((1, 1, 1, 2, 3))
                steps.append((rng.randrange(len(nodes)), seq, parts, rng.random() < 0.25))
            plans.append((name, steps))

        def write(name: str, steps: list[tuple[int, int, int, bool]]) -> None:
            clients = [httpx.Client(base_url=n.url, timeout=30) for n in nodes]
            try:
                for node_index, seq, parts, renumber in steps:
                    args = {"writer": name, "seq": seq, "parts": parts}
                    reply = clients[node_index].post(
                        "/api/mutation", json={"path": "items:add_many", "args": args}
                    ).json()
                    assert reply["status"] == "success", reply
                    if renumber:  # an update of the first document, through another node
                        other = clients[(node_index + 1) % len(nodes)]
                        args = {"id": reply["value"][0], "seq": seq}
                        body = {"path": "items:renumber", "args": args}
                        assert other.post("/api/mutation", json=body).json()["status"] == "success"
            finally:
                for c in clients:
                    c.close()

        threads = [threading.Thread(target=write, args=plan) for plan in plans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, steps in plans:
            writer_docs[name] = sum(parts for _, _, parts, _ in steps)
            expected_inserts += writer_docs[name]
            expected_updates += sum(1 for *_, renumber in steps if renumber)
            mutations += len(steps) + sum(1 for *_, renumber in steps if renumber)
    stop.set()
    call(nodes[0], "mutation", "items:add", {"writer": "end", "seq": 0})
    consumer.join(180)
    context = f"seed {SEED} ({mutations} mutations on {len(nodes)} nodes)"
    assert not errors, f"{context}: consumers failed: {errors!r}"
    assert not consumer.is_alive(), f"{context}: a node's stream or subscription stalled"

    log = [c for c in poll_changes(nodes[0]) if not is_end(c["document"])]
    order = [(int(c["ts"]), c["cursor"], c["id"], c["operation"]) for c in log]
    assert len(log) == expected_inserts + expected_updates, context
    assert [op for *_, op in order].count("insert") == expected_inserts, context
    # "<ts>-<i>" is after write i of commit ts; "<ts>" after its last write.
    cursors = [(ts, int(c.partition("-")[2] or 1 << 30)) for ts, c, _, _ in order]
    assert cursors == sorted(set(cursors)), f"{context}: the log is not in commit order"
    for i, stream in enumerate(streams):
        seen = [(c.ts, c.cursor, c.id, c.operation) for c in stream if not is_end(c.document)]
        pairs = enumerate(zip(seen, order, strict=False))
        differ = next((k for k, (a, b) in pairs if a != b), None)
        assert seen == order, (
            f"{context}: node {i + 1}'s change stream listed {len(seen)} changes, the log "
            f"{len(order)}; first difference at position {differ}"
        )
    for i, values in enumerate(results):
        final = [x for x in values[-1] if x[0] != "end"]
        assert len(final) == expected_inserts, f"{context}: node {i + 1} ended at {len(final)}"
        previous = 0
        for value in values:
            assert len(value) >= previous, f"{context}: node {i + 1} saw documents disappear"
            previous = len(value)
            by_writer: dict[str, set[float]] = {}
            for w, seq in value:
                by_writer.setdefault(w, set()).add(seq)
            for w, seqs in by_writer.items():
                # seq k+1 is sent only after k was acknowledged: no state may hold it alone.
                assert seqs == set(range(len(seqs))), f"{context}: node {i + 1}: gap in {w}"


def is_end(document: Any) -> bool:
    return isinstance(document, dict) and document.get("writer") == "end"


def test_a_resent_mutation_on_another_node_applies_once(cluster: Any) -> None:
    node1, node2 = cluster(1), cluster(2)
    body = {"path": "items:add", "args": {"writer": "idem", "seq": 0}, "format": "json"}
    headers = {"idempotency-key": "reconnect-7f3a"}
    first = httpx.post(f"{node1.url}/api/mutation", json=body, headers=headers, timeout=30)
    again = httpx.post(f"{node2.url}/api/mutation", json=body, headers=headers, timeout=30)
    assert first.json()["status"] == again.json()["status"] == "success"
    assert first.json()["value"] == again.json()["value"]  # the same document id
    items = call(node2, "query", "items:all", {})
    assert [w for w, _ in items].count("idem") == 1


def test_a_cron_ticks_once_across_three_nodes(cluster: Any) -> None:
    started = time.monotonic()
    nodes = [cluster(1), cluster(2), cluster(3)]

    def ticks() -> list[dict[str, Any]]:
        jobs = call(nodes[0], "query", "items:cron_runs", {})
        return sorted(jobs, key=lambda j: j["scheduledTime"])

    wait_until(lambda: len(ticks()) >= 4, timeout=60)
    runs = ticks()
    elapsed = time.monotonic() - started
    # One run per second at most, whichever node ran it, since before the first node started.
    assert len(runs) <= elapsed + 2, (elapsed, runs)
    gaps = [b["scheduledTime"] - a["scheduledTime"] for a, b in itertools.pairwise(runs)]
    assert all(gap >= 900 for gap in gaps), gaps  # never two runs for one tick
    assert len({r["_id"] for r in runs}) == len(runs)


def test_eight_clients_on_three_nodes_increment_one_counter_exactly(cluster: Any) -> None:
    nodes = [cluster(1), cluster(2), cluster(3)]
    per_client = 250

    def client(i: int) -> None:
        server = nodes[i % 3]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(per_client):
                body = {"path": "items:increment", "args": {"name": "hits"}}
                assert http.post("/api/mutation", json=body).json()["status"] == "success"

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for server in nodes:
        assert call(server, "query", "items:counter", {"name": "hits"}) == 8 * per_client


def test_a_killed_node_loses_nothing_and_its_work_moves_on(cluster: Any) -> None:
    first = cluster(1)
    slow = call(first, "mutation", "items:schedule_slow", {})
    wait_until(
        lambda: call(first, "query", "items:job", {"id": slow})["state"]["kind"] == "inProgress"
    )
    second = cluster(2)
    acknowledged = [
        call(first, "mutation", "items:add", {"writer": "k", "seq": float(i)}) for i in range(50)
    ]
    call(first, "mutation", "items:schedule_many", {"count": 300})
    # Kill while the jobs are being worked on (both nodes take them).
    wait_until(lambda: any(w == "job" for w, _ in call(first, "query", "items:all", {})))
    first.kill9()

    # The survivor keeps serving, has every acknowledged write, finishes every due job once,
    # and fails the action that was running on the dead node (at most once).
    items = call(second, "query", "items:all", {})
    assert [s for w, s in items if w == "k"] == [float(i) for i in range(len(acknowledged))]
    wait_until(lambda: call(second, "query", "items:pending", {}) == 0)
    jobs = sorted(s for w, s in call(second, "query", "items:all", {}) if w == "job")
    assert jobs == [float(n) for n in range(300)]
    wait_until(
        lambda: call(second, "query", "items:job", {"id": slow})["state"]["kind"] == "failed",
        timeout=40,
    )
    assert (
        "stopped before it finished"
        in call(second, "query", "items:job", {"id": slow})["state"]["error"]
    )


def call(server: LivebaseServer, kind: str, path: str, args: dict[str, Any]) -> Any:
    return call_url(server.url, ADMIN_KEY, kind, path, args)
