"""Mutations that run before the commit clock is taken (``engine.optimistic``), on two engines
sharing one PostgreSQL database: a batch that only inserts commits in one round trip; a commit
by the other node between a batch's run and its commit makes it run again under the clock, so
no update is lost, no idempotent call answers twice and no stale catalog is used."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
import pytest

from livebase import define_schema, define_table, v
from livebase.engine import Commit, Engine, Transaction
from livebase.engine.batch import Pending
from livebase.engine.catalog import CATALOG_KEY
from livebase.schema.definition import SchemaDefinition
from livebase.storage.postgres import PostgresStorage
from tests.engine.conftest import EngineFactory, run
from tests.support.calls import wait_until_async

SCHEMA = define_schema({"counters": define_table({"n": v.number()})})


@pytest.fixture
def nodes(tmp_path: Any) -> Iterator[tuple[Engine, Engine]]:
    with ExitStack() as stack:
        factory = EngineFactory(tmp_path, "postgres", stack)
        try:
            url = factory.path()
            yield factory(SCHEMA, path=url), factory(SCHEMA, path=url)
        finally:
            factory.close_all()


def storage_of(engine: Engine) -> PostgresStorage:
    assert isinstance(engine.storage, PostgresStorage)
    return engine.storage


def seen_by(engine: Engine) -> list[int]:
    seen: list[int] = []

    def listener(commits: list[Commit]) -> None:
        seen.extend(c.ts for c in commits)

    engine.add_commit_listener(listener)
    return seen


def commit_log(engine: Engine) -> list[int]:
    with engine.storage.reader() as r:
        return [ts for ts, _ in r.commits_after(0, 10_000)]


def mutate_all(engine: Engine, fns: list[Callable[[Transaction], Any]], **kw: Any) -> list[Any]:
    async def main() -> list[Any]:
        return list(await asyncio.gather(*(engine.mutate(fn, optimistic=True, **kw) for fn in fns)))

    return run(main())


def others_seen(a: Engine, b: Engine) -> None:
    """``b`` commits and ``a`` sees it: ``a`` now runs batches that read ahead of the clock."""
    mutate_all(b, [lambda tx: tx.insert("counters", {"n": -1})])
    assert a.catch_up() == 1


def on_other_node(other: Engine, fn: Callable[[Transaction], Any]) -> None:
    """Commit ``fn`` on ``other`` right now (from inside a mutation running on the first)."""
    future = asyncio.get_running_loop().create_future()
    batch = other._commit_batch([Pending(fn, future, None, None, None)])
    outcome = batch.results[0][1]
    assert not isinstance(outcome, BaseException), outcome
    other.catalog, other.latest_ts = batch.catalog, batch.last_ts
    other._deliver(batch.commits)


def test_a_batch_that_only_inserts_commits_in_one_round_trip(nodes: tuple[Engine, Engine]) -> None:
    a, b = nodes
    seen_a, seen_b = seen_by(a), seen_by(b)
    mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])  # learns the stored catalog
    trips = storage_of(a).write_round_trips
    outcomes = mutate_all(a, [lambda tx, i=i: tx.insert("counters", {"n": i}) for i in range(20)])
    assert storage_of(a).write_round_trips - trips == 1
    assert (a.optimistic_batches, a.optimistic_reruns) == (1, 0)
    stamps = [o.ts for o in outcomes]
    assert stamps == sorted(set(stamps))  # one commit each, strictly increasing
    mutate_all(b, [lambda tx: tx.insert("counters", {"n": -1})])
    b.catch_up()
    a.catch_up()
    log = commit_log(a)
    assert stamps == log[1:21]
    assert seen_a == log and seen_b == log  # every commit once, in order, on both nodes


def test_a_commit_between_run_and_commit_makes_the_batch_run_again(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    counter = mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])[0].value
    others_seen(a, b)
    runs = []

    def increment(tx: Transaction) -> float:
        n = tx.get(counter)["n"]
        runs.append(n)
        if len(runs) == 1:  # the other node increments after this run read the counter
            on_other_node(b, lambda t: t.patch(counter, {"n": t.get(counter)["n"] + 1}))
        tx.patch(counter, {"n": n + 1})
        return n + 1

    outcome = mutate_all(a, [increment])[0]
    assert runs == [0, 1]  # ran ahead at 0, then again under the clock at 1
    assert outcome.value == 2 and a.optimistic_reruns == 1
    assert a.read(lambda tx: tx.get(counter)["n"])[0] == 2  # no update lost


def test_a_batch_whose_reads_still_hold_commits_as_it_ran(nodes: tuple[Engine, Engine]) -> None:
    a, b = nodes
    first, second = (o.value for o in mutate_all(a, [
        lambda tx: tx.insert("counters", {"n": 0}), lambda tx: tx.insert("counters", {"n": 0})
    ]))  # fmt: skip
    others_seen(a, b)
    runs = []

    def increment(tx: Transaction) -> None:
        runs.append(1)
        if len(runs) == 1:  # the other node writes a document this mutation does not read
            on_other_node(b, lambda t: t.patch(second, {"n": 5}))
        tx.patch(first, {"n": tx.get(first)["n"] + 1})

    trips = storage_of(a).write_round_trips
    mutate_all(a, [increment])
    # Two round trips: the clock with the commits since the snapshot, then writes and COMMIT.
    assert storage_of(a).write_round_trips - trips == 2
    assert len(runs) == 1 and (a.optimistic_batches, a.optimistic_reruns) == (1, 0)
    assert a.read(lambda tx: (tx.get(first)["n"], tx.get(second)["n"]))[0] == (1, 5)


def test_alone_a_batch_that_reads_runs_under_the_clock_from_the_start(
    nodes: tuple[Engine, Engine],
) -> None:
    """No other node has committed: a snapshot would only add round trips, so the batch stops
    at its first read and runs under the clock, with no snapshot opened (four round trips: the
    clock with the commits since, ``get``, ``patch``'s read of the document, the writes with
    COMMIT)."""
    a, _ = nodes
    counter = mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])[0].value
    runs: list[int] = []

    def increment(tx: Transaction) -> None:
        runs.append(1)
        tx.patch(counter, {"n": tx.get(counter)["n"] + 1})

    trips = storage_of(a).write_round_trips
    mutate_all(a, [increment])
    assert storage_of(a).write_round_trips - trips == 4
    assert (len(runs), a.optimistic_batches, a.optimistic_reruns) == (2, 0, 0)
    assert a.read(lambda tx: tx.get(counter)["n"])[0] == 1


def test_a_catalog_changed_by_another_node_sends_a_blind_batch_under_the_clock(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])
    runs = []

    def insert(tx: Transaction) -> None:
        runs.append(1)
        if len(runs) == 1:
            wider = SchemaDefinition({**SCHEMA.tables, "more": define_table({"x": v.number()})})
            b.set_schema(wider)
        tx.insert("counters", {"n": 1})

    mutate_all(a, [insert])
    assert len(runs) == 2 and a.optimistic_reruns == 1
    assert "more" in a.catalog.tables  # the run under the clock used the new catalog


def test_an_idempotent_call_answered_meanwhile_by_another_node_is_replayed(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])
    key, runs = "request:http:same-call", []

    def insert(tx: Transaction) -> str:
        runs.append(1)
        if len(runs) == 1:  # a retry of this very call reached the other node and committed
            other = asyncio.get_running_loop().create_future()
            pending = Pending(lambda t: "from b", other, key, None, None, "fp")
            batch = b._commit_batch([pending])
            b.latest_ts = batch.last_ts
        return "from a"

    outcome = mutate_all(a, [insert], record_key=key, fingerprint="fp")[0]
    assert (outcome.value, outcome.replayed, len(runs)) == ("from b", True, 1)
    assert a.optimistic_reruns == 1


def test_a_retried_call_is_answered_from_its_record_and_writes_nothing_again(
    nodes: tuple[Engine, Engine],
) -> None:
    a, _ = nodes
    mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])

    def insert(tx: Transaction) -> str:
        return tx.insert("counters", {"n": 1})

    first = mutate_all(a, [insert], record_key="request:http:k1", fingerprint="fp")[0]
    again = mutate_all(a, [insert], record_key="request:http:k1", fingerprint="fp")[0]
    assert (again.value, again.ts, again.replayed) == (first.value, first.ts, True)
    count = a.read(lambda tx: len(tx.query("counters").collect()))[0]
    assert count == 2  # the first document and the first call's: the retry added none


def test_a_mutation_that_only_reads_adds_no_commit(nodes: tuple[Engine, Engine]) -> None:
    a, b = nodes
    counter = mutate_all(a, [lambda tx: tx.insert("counters", {"n": 0})])[0].value
    others_seen(a, b)
    log = commit_log(a)
    outcome = mutate_all(a, [lambda tx: tx.get(counter)["n"]])[0]
    assert (outcome.value, a.optimistic_batches) == (0, 1)  # ran ahead, committed as it ran
    assert commit_log(a) == log and outcome.ts == log[-1]


def test_another_nodes_commits_are_decoded_only_when_asked_for(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    delivered: list[Commit] = []
    b.add_commit_listener(delivered.extend)
    mine = mutate_all(a, [lambda tx, i=i: tx.insert("counters", {"n": i}) for i in range(3)])
    assert b.catch_up() == 3
    # Following costs no decoding while nothing looks at the writes (nothing is subscribed).
    assert all(c._writes is None for c in delivered)
    assert all(c.may_write("counters") and not c.may_write("count") for c in delivered)
    assert [c.ts for c in delivered] == [m.ts for m in mine]
    written = [(w.table, w.document) for c in delivered for w in c.writes]
    assert [(t, d["n"] if d else None) for t, d in written] == [("counters", i) for i in range(3)]
    assert all(c.may_write("counters") and not c.may_write("count") for c in delivered)


@contextmanager
def clock_held(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """Another session holds the commit clock (as another node's transaction would) until
    the block ends or it commits."""
    storage = storage_of(engine)
    with psycopg.connect(storage._conninfo, options=storage._pg_options) as conn:
        conn.execute("SELECT ts FROM lb_clock WHERE id = 1 FOR UPDATE")
        yield conn


def waiting_for_the_clock(engine: Engine) -> None:
    """Learn the catalog and open the connection blind batches go out on, which then waits
    for a held clock as long as it takes (not ``lock_timeout``, 100 ms, after which the batch
    would be retried): what these tests check must not depend on how fast they run."""
    mutate_all(engine, [lambda tx: tx.insert("counters", {"n": 0})])  # learns the catalog
    mutate_all(engine, [lambda tx: tx.insert("counters", {"n": 0})])  # blind: opens the sender
    sender = storage_of(engine)._sender
    assert sender is not None
    sender.execute("SET lock_timeout = 0")


async def behind_a_held_clock(
    engine: Engine, first: int, then: list[int], ran: list[int], meanwhile: Callable[[Any], None]
) -> list[int]:
    """Insert ``first`` while another session holds the clock, then ``then`` once it is in
    flight; when they have all run (``ran`` records each run), ``meanwhile(holder)`` and the
    clock is let go: the commit timestamps, in the order the calls were made."""

    def insert(n: int) -> Callable[[Transaction], Any]:
        return lambda tx: ran.append(n) or tx.insert("counters", {"n": n})

    with clock_held(engine) as holder:
        calls = [asyncio.ensure_future(engine.mutate(insert(first), optimistic=True))]
        await wait_until_async(lambda: engine._in_flight is not None, timeout=10)
        calls += [asyncio.ensure_future(engine.mutate(insert(n), optimistic=True)) for n in then]
        await wait_until_async(lambda: ran == [first, *then], timeout=10)
        assert not any(call.done() for call in calls)  # nothing committed yet
        meanwhile(holder)
        holder.commit()  # the clock is free: the first batch commits, then the next
        return [(await call).ts for call in calls]


def counters(engine: Engine) -> list[float]:
    return engine.read(lambda tx: sorted(d["n"] for d in tx.query("counters").collect()))[0]


def test_the_next_batch_runs_while_a_batch_that_read_nothing_commits(
    nodes: tuple[Engine, Engine],
) -> None:
    """The loop does not wait for PostgreSQL: while a blind batch waits for the clock, the
    next mutations run (ahead), and then commit after it, in order, each once."""
    a, _ = nodes
    waiting_for_the_clock(a)
    seen = seen_by(a)
    ran: list[int] = []
    stamps = run(behind_a_held_clock(a, 1, [2, 3], ran, lambda holder: None))
    assert ran == [1, 2, 3]  # each ran once: the first committed as it ran
    assert stamps == sorted(set(stamps)) and seen == stamps == commit_log(a)[2:]
    assert counters(a) == [0, 0, 1, 2, 3]


def test_a_batch_run_behind_one_that_must_run_again_runs_again_too(
    nodes: tuple[Engine, Engine],
) -> None:
    """The batch in flight finds the catalog changed (rewritten by another session while it
    waited): it runs again under the clock, and the batch that ran behind it runs again
    too, after it, so nothing commits against a catalog it did not see, and nothing twice."""
    a, _ = nodes
    waiting_for_the_clock(a)
    ran: list[int] = []

    def rewrite_the_catalog(holder: psycopg.Connection[Any]) -> None:
        # The same catalog, written out differently: the text the batches ran with is gone.
        holder.execute("UPDATE lb_globals SET value = value || ' ' WHERE key = %s", (CATALOG_KEY,))

    stamps = run(behind_a_held_clock(a, 1, [2], ran, rewrite_the_catalog))
    assert ran == [1, 2, 1, 2]  # both ran again, in order
    assert a.optimistic_reruns >= 1 and stamps[0] < stamps[1]
    assert counters(a) == [0, 0, 1, 2]


def test_a_connection_lost_in_flight_fails_that_batch_and_the_next_gets_a_new_one(
    nodes: tuple[Engine, Engine],
) -> None:
    a, _ = nodes
    waiting_for_the_clock(a)
    sender = storage_of(a)._sender
    assert sender is not None
    pid = sender.info.backend_pid

    async def main() -> None:
        with clock_held(a) as holder:
            lost = asyncio.ensure_future(
                a.mutate(lambda tx: tx.insert("counters", {"n": 1}), optimistic=True)
            )
            await wait_until_async(lambda: a._in_flight is not None, timeout=10)
            holder.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(psycopg.OperationalError):
                await lost
            assert a._in_flight is None
        again = await a.mutate(lambda tx: tx.insert("counters", {"n": 2}), optimistic=True)
        assert again.ts > 0

    run(main())
    assert counters(a) == [0, 0, 2]  # the lost batch never committed
    assert storage_of(a)._sender is not None and storage_of(a)._sender.info.backend_pid != pid
