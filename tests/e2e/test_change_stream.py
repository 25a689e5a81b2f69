"""The change stream against real server processes: ``GET /api/changes`` as Server-Sent Events
(spoken with httpx) and ``livebase.client.Client.changes()``.

The proof: 10,000 changes, a consumer that stops after 4,000, the server killed with ``kill -9``
and restarted on the same data, and the consumer resuming from its last cursor gets exactly the
rest, in commit order; and a stream that survives a server restart while it is live.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import (
    Change,
    ChangeStream,
    ChangeStreamError,
    Client,
    ClientError,
    CursorExpiredError,
    SyncClient,
)
from livebase.values.wire import from_wire, to_wire
from tests.support.apps import write_app
from tests.support.calls import wait_until_async
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer

# Generous: two tests write 10,000 commits, which takes minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ADMIN_KEY = "change-stream-admin-key-0123456789"
AUTH = {"Authorization": f"Convex {ADMIN_KEY}"}

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "items": define_table({"n": v.int64(), "tag": v.optional(v.string())}),
            "notes": define_table({"text": v.string()}),
        })
    """,
    "items.py": """
        from livebase import mutation, query

        @mutation
        def bulk(ctx, start: int, count: int) -> list:
            return [ctx.db.insert("items", {"n": start + i}) for i in range(count)]

        @mutation
        def add(ctx, n: int) -> str:
            return ctx.db.insert("items", {"n": n})

        @mutation
        def tag(ctx, id: str, tag: str) -> None:
            ctx.db.patch(id, {"tag": tag})

        @mutation
        def remove(ctx, id: str) -> None:
            ctx.db.delete(id)

        @query
        def ids(ctx) -> list:
            # By _creationTime, which increases in commit order (mutations run one at a time).
            return [doc["_id"] for doc in ctx.db.query("items").collect()]
    """,
    "notes.py": """
        from livebase import mutation

        @mutation
        def add(ctx, text: str) -> str:
            return ctx.db.insert("notes", {"text": text})
    """,
}


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_app(tmp_path_factory.mktemp("cdc-app") / "app", APP)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str | None]]:
    """Every test here runs on both backends. ``databases(folder)`` is the database of the
    server kept in ``folder`` (None: SQLite inside it), the same across restarts."""
    urls: dict[Path, str] = {}
    with ExitStack() as stack:

        def database(folder: Path) -> str | None:
            if request.param == "sqlite":
                return None
            if folder not in urls:
                urls[folder] = stack.enter_context(fresh_database_url("cdc"))
            return urls[folder]

        yield database


def launch(
    app_dir: Path, base: Path, databases: Callable[[Path], str | None], **env: str
) -> LivebaseServer:
    from tests.support.server import base_env

    return LivebaseServer.launch(
        base,
        app=app_dir,
        admin_key=ADMIN_KEY,
        durability="normal",
        env=base_env(**env),
        db=databases(base),
    )


@pytest.fixture(scope="module")
def server(
    app_dir: Path, tmp_path_factory: pytest.TempPathFactory, databases: Any
) -> Iterator[LivebaseServer]:
    """Shared by the tests that only read what they wrote after ``cursor=now``."""
    with launch(app_dir, tmp_path_factory.mktemp("cdc-shared"), databases) as s:
        yield s


@pytest.fixture
def own_server(app_dir: Path, tmp_path: Path, databases: Any) -> Iterator[LivebaseServer]:
    """A fresh server for one test, which may kill and restart it. Its time limit for a function
    is loose: ``items:ids`` reads 10,000 documents, more than 1 s of work on a loaded machine."""
    with launch(app_dir, tmp_path / "server", databases, LIVEBASE_MAX_FUNCTION_SECONDS="60") as s:
        yield s


def call(server: LivebaseServer, path: str, args: dict[str, Any], kind: str = "mutation") -> Any:
    r = httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": path, "args": to_wire(args), "format": "convex_encoded_json"},
        headers=AUTH,
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    return from_wire(r.json()["value"])


def run(coro: Any, timeout: float = 600.0) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def started(stream: ChangeStream) -> None:
    """Wait until a ``cursor="now"`` stream that is being consumed has heard from the server
    where "now" was; a commit before that point is not part of the stream."""
    await wait_until_async(lambda: stream.cursor != "now")


def sse(lines: Iterator[str], count: int, *, checkpoints: bool = False) -> list[dict[str, Any]]:
    """Read ``count`` events from ``response.iter_lines()`` as {"id", "event", "data"} dicts;
    checkpoints (events with only an ``id``) are counted and returned only if asked for."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current and (checkpoints or "event" in current):
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
            continue
        name, _, value = line.partition(": ")
        current[name] = json.loads(value) if name == "data" else value
    raise AssertionError(f"the stream ended after {events}")


def changes_now(server: LivebaseServer) -> str:
    """The cursor of the newest commit, via the JSON mode."""
    r = httpx.get(f"{server.url}/api/changes?format=json&cursor=now", headers=AUTH)
    assert r.status_code == 200, r.text
    return str(r.json()["cursor"])


# -- the HTTP endpoint ---------------------------------------------------------------------------


def test_the_change_stream_needs_the_admin_key(server: LivebaseServer) -> None:
    r = httpx.get(f"{server.url}/api/changes")
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthenticated" and "admin key" in r.json()["message"]
    r = httpx.get(f"{server.url}/api/changes", headers={"Authorization": "Convex wrong"})
    assert r.status_code == 401 and r.json()["code"] == "Unauthenticated"
    assert httpx.post(f"{server.url}/api/changes", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("cursor=garbage", 400, "InvalidCursor"),
        ("cursor=99999999999999999999", 400, "InvalidCursor"),  # from another deployment
        ("tables=a;drop", 400, "InvalidTable"),
        ("format=xml", 400, "BadRequest"),
        ("format=json&limit=0", 400, "BadRequest"),
    ],
)
def test_bad_requests_get_a_json_error(
    server: LivebaseServer, query: str, status: int, code: str
) -> None:
    r = httpx.get(f"{server.url}/api/changes?{query}", headers=AUTH)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


def test_sse_with_cursor_now_sees_only_new_changes_with_documents(server: LivebaseServer) -> None:
    call(server, "items:add", {"n": -1})  # before "now": never seen
    url = f"{server.url}/api/changes?cursor=now&tables=items"
    with httpx.stream("GET", url, headers=AUTH, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        lines = response.iter_lines()
        (checkpoint,) = sse(lines, 1, checkpoints=True)  # where "now" was, to resume from
        assert set(checkpoint) == {"id"}
        doc_id = call(server, "items:add", {"n": 7})
        call(server, "notes:add", {"text": "filtered out"})
        call(server, "items:tag", {"id": doc_id, "tag": "x"})
        call(server, "items:remove", {"id": doc_id})
        events = sse(lines, 3)
    assert [e["event"] for e in events] == ["change"] * 3
    assert [e["data"]["operation"] for e in events] == ["insert", "update", "delete"]
    assert all(e["id"] == e["data"]["cursor"] for e in events)
    first = events[0]["data"]
    assert first["table"] == "items" and first["id"] == doc_id
    assert from_wire(first["document"]) == {
        "_id": doc_id,
        "_creationTime": first["document"]["_creationTime"],
        "n": 7,
    }
    assert from_wire(events[1]["data"]["document"])["tag"] == "x"  # type: ignore[index]
    assert events[2]["data"]["document"] is None
    assert events[0]["data"]["ts"] < events[1]["data"]["ts"] < events[2]["data"]["ts"]
    assert int(checkpoint["id"]) < first["ts"]


def test_last_event_id_resumes_and_wins_over_the_cursor_parameter(
    server: LivebaseServer,
) -> None:
    start = changes_now(server)
    ids = call(server, "items:bulk", {"start": 0, "count": 3})
    r = httpx.get(f"{server.url}/api/changes?format=json&cursor={start}", headers=AUTH)
    changes = r.json()["changes"]
    assert [c["id"] for c in changes] == ids
    assert r.json()["hasMore"] is False and r.json()["cursor"] == changes[-1]["cursor"]
    # Inside one commit: the first two changes carry "<ts>-<i>" cursors, the last "<ts>".
    ts = changes[0]["ts"]
    assert [c["cursor"] for c in changes] == [f"{ts}-0", f"{ts}-1", str(ts)]
    headers = {**AUTH, "Last-Event-ID": changes[0]["cursor"]}
    url = f"{server.url}/api/changes?cursor={start}&tables=items"
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        events = sse(response.iter_lines(), 2)
    assert [e["data"]["id"] for e in events] == ids[1:]


def test_json_mode_pages_with_limit(server: LivebaseServer) -> None:
    start = changes_now(server)
    ids = call(server, "items:bulk", {"start": 0, "count": 5})
    seen: list[str] = []
    cursor = start
    while True:
        r = httpx.get(
            f"{server.url}/api/changes",
            params={"format": "json", "cursor": cursor, "limit": "2", "tables": "items"},
            headers=AUTH,
        )
        page = r.json()
        seen += [c["id"] for c in page["changes"]]
        cursor = page["cursor"]
        if not page["hasMore"]:
            break
    assert seen == ids


# -- the Python client --------------------------------------------------------------------------


def test_client_changes_needs_the_admin_key(server: LivebaseServer) -> None:
    async def scenario() -> None:
        async with Client(server.url) as client:
            with pytest.raises(ClientError, match="admin key"):
                client.changes()
        async with Client(server.url, admin_key="wrong") as client:
            with pytest.raises(ChangeStreamError) as info:
                await client.changes(cursor="now").__anext__()
            assert info.value.status == 401 and info.value.code == "Unauthenticated"

    run(scenario())


def test_client_changes_yields_decoded_changes_with_tables_filter(server: LivebaseServer) -> None:
    async def scenario() -> list[Change]:
        async with Client(server.url, admin_key=ADMIN_KEY) as client:
            stream = client.changes(tables=["notes"], cursor="now")
            got: list[Change] = []

            async def consume() -> None:
                async for change in stream:
                    got.append(change)
                    if len(got) == 2:
                        return

            task = asyncio.ensure_future(consume())
            await started(stream)
            await client.mutation("items:add", {"n": 1})
            await client.mutation("notes:add", {"text": "a"})
            await client.mutation("notes:add", {"text": "b"})
            await task
            assert stream.cursor == got[-1].cursor
            await stream.aclose()
            return got

    got = run(scenario())
    assert [(c.table, c.operation) for c in got] == [("notes", "insert")] * 2
    assert [c.document["text"] for c in got] == ["a", "b"]  # type: ignore[index]


def test_sync_client_changes_is_a_blocking_iterator_whose_timeouts_lose_nothing(
    server: LivebaseServer,
) -> None:
    with SyncClient(server.url, admin_key=ADMIN_KEY) as client:
        stream = client.changes(tables=["notes"], cursor="now")
        # Nothing to return yet: each next() times out, meanwhile taking in the checkpoint that
        # says where "now" was. Write only after that (an earlier commit is before "now").
        deadline = time.monotonic() + 30
        while True:
            with pytest.raises(TimeoutError):
                stream.next(timeout=0.3)
            if stream.cursor != "now":
                break
            assert time.monotonic() < deadline, "the stream never reported where 'now' was"
        client.mutation("notes:add", {"text": "one"})
        client.mutation("notes:add", {"text": "two"})
        texts = [stream.next(timeout=30).document["text"] for _ in range(2)]  # type: ignore[index]
        assert texts == ["one", "two"]
        stream.close()


# -- retention ----------------------------------------------------------------------------------


def test_an_expired_cursor_is_refused_with_410(
    app_dir: Path, tmp_path: Path, databases: Any
) -> None:
    # Pruning keeps at least the newest 10,001 commits, so make 10,003 of them, then restart
    # with a 1 s window: the start-up pass prunes the two oldest.
    server = launch(app_dir, tmp_path / "s", databases)
    with server:
        call(server, "items:add", {"n": 0})
        too_old = changes_now(server)
        call(server, "items:add", {"n": 1})
        newest_pruned = changes_now(server)

        run(add_one_by_one(server, 10_001))
        server.stop()
    time.sleep(1.1)  # the two oldest commits are now more than 1 s old
    server = launch(app_dir, tmp_path / "s", databases, LIVEBASE_CHANGE_RETENTION_SECONDS="1")
    with server:
        assert server.wait_for_log("pruned 2 change-log entries"), server.log_text()
        for cursor in ("0", too_old, f"{newest_pruned}-0"):
            r = httpx.get(f"{server.url}/api/changes?cursor={cursor}", headers=AUTH)
            assert r.status_code == 410 and r.json()["code"] == "CursorExpired", cursor
            assert "kept for 1 s" in r.json()["message"]
        # Right after the newest pruned commit nothing is missing, so that cursor still works,
        # and it is where a stream without a cursor starts.
        url = f"{server.url}/api/changes?format=json&limit=1"
        after_pruned = httpx.get(f"{url}&cursor={newest_pruned}", headers=AUTH).json()
        oldest = httpx.get(url, headers=AUTH).json()
        assert after_pruned["hasMore"] and after_pruned == oldest
        assert after_pruned["changes"][0]["ts"] > int(newest_pruned)

        async def expired() -> None:
            async with Client(server.url, admin_key=ADMIN_KEY) as client:
                with pytest.raises(CursorExpiredError, match="kept for 1 s"):
                    await client.changes(cursor=too_old).__anext__()

        run(expired())


# -- the proof: resume across a kill -9, and a live stream across a restart ----------------------


async def add_one_by_one(server: LivebaseServer, count: int, clients: int = 8) -> None:
    """``count`` single-insert commits, from several connections at once (group commit)."""

    async def one_client(k: int) -> None:
        async with Client(server.url, admin_key=ADMIN_KEY) as client:
            n = range(k, count, clients)
            await asyncio.gather(*(client.mutation("items:add", {"n": i}) for i in n))

    await asyncio.gather(*(one_client(k) for k in range(clients)))


def write_changes(server: LivebaseServer, total: int, per_call: int = 100) -> list[str]:
    """``total`` inserts: half in multi-write commits, half one commit each (concurrently, so
    group commit batches them); returns the ids in commit order."""

    half = total // 2

    async def scenario() -> None:
        async with Client(server.url, admin_key=ADMIN_KEY) as client:
            for start in range(0, half, per_call):
                await client.mutation("items:bulk", {"start": start, "count": per_call})
        await add_one_by_one(server, total - half)

    run(scenario())
    ids = call(server, "items:ids", {}, kind="query")
    assert len(ids) == total
    return list(ids)


def test_resume_from_a_cursor_across_a_kill_9_with_10000_changes(
    own_server: LivebaseServer,
) -> None:
    expected = write_changes(own_server, 10_000)

    async def read(cursor: str | None, count: int) -> tuple[list[str], str | None, float]:
        async with Client(own_server.url, admin_key=ADMIN_KEY) as client:
            started = time.perf_counter()
            got: list[str] = []
            async with client.changes(tables=["items"], cursor=cursor) as stream:
                async for change in stream:
                    assert change.operation == "insert" and change.table == "items"
                    got.append(change.id)
                    if len(got) == count:
                        break
                return got, stream.cursor, time.perf_counter() - started

    head, cursor, took_head = run(read(None, 4_000))
    assert cursor is not None
    own_server.kill9()
    own_server.restart()
    later = call(own_server, "items:add", {"n": -1})  # committed after the restart
    tail, _, took_tail = run(read(cursor, 6_001))
    print(f"\nstreamed 4,000 changes in {took_head:.2f} s, then 6,001 in {took_tail:.2f} s")

    assert head + tail == [*expected, later]
    assert len(set(head + tail)) == 10_001
    r = httpx.get(f"{own_server.url}/api/changes?format=json&cursor=now", headers=AUTH)
    nothing_after = httpx.get(
        f"{own_server.url}/api/changes?format=json&cursor={r.json()['cursor']}", headers=AUTH
    )
    assert nothing_after.json()["changes"] == []


def test_a_live_stream_reconnects_across_a_server_restart(own_server: LivebaseServer) -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        written: list[str] = []
        got: list[str] = []
        async with (
            Client(own_server.url, admin_key=ADMIN_KEY, backoff_max=0.5) as reader,
            Client(own_server.url, admin_key=ADMIN_KEY, backoff_max=0.5) as writer,
        ):
            stream = reader.changes(tables=["items"], cursor="now")

            async def consume() -> None:
                async for change in stream:
                    got.append(change.id)
                    if len(got) == 600:
                        return

            consumer = asyncio.ensure_future(consume())
            await started(stream)
            written += await writer.mutation("items:bulk", {"start": 0, "count": 200})
            await wait_until_async(lambda: len(got) >= 100)
            await asyncio.to_thread(own_server.kill9)
            await asyncio.to_thread(own_server.restart)
            written += await writer.mutation("items:bulk", {"start": 200, "count": 200})
            for n in range(200):
                written.append(await writer.mutation("items:add", {"n": n}))
            await asyncio.wait_for(consumer, 60)
            count = stream.connection_count
            await stream.aclose()
        return written, got, count

    written, got, connections = run(scenario())
    assert got == written
    assert connections >= 2
