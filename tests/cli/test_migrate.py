"""``livebase migrate --from URL --to URL [--force]``: an app built on SQLite, copied by the real
command (a child process) to PostgreSQL and back, then opened and served from the copy."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from livebase.cli.main import main
from livebase.client import Client
from livebase.functions.loader import unload
from livebase.migrate import MigrationError, copy_database, pages, verify
from livebase.scheduler.jobs import SCHEDULED_FUNCTIONS
from livebase.server import DB_FILE, Deployment
from livebase.storage import Storage, open_storage
from livebase.storage.base import BULK_TABLES
from livebase.storage.postgres import split_url
from livebase.storage.sqlite import SqliteStorage
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer, base_env

from .conftest import livebase_cli

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "messages": define_table(
                    {"channel": v.string(), "body": v.string(), "n": v.int64()}
                ).index("by_channel", ["channel"]),
                "users": define_table({"name": v.string(), "tags": v.array(v.string())}).index(
                    "by_name", ["name"]
                ),
            }
        )
    """,
    "messages.py": """
        from livebase import mutation, query, v


        @mutation(args={"channel": v.string(), "body": v.string(), "n": v.int64()})
        def send(ctx, channel, body, n):
            return ctx.db.insert("messages", {"channel": channel, "body": body, "n": n})


        @mutation(args={"name": v.string()})
        def join(ctx, name):
            return ctx.db.insert("users", {"name": name, "tags": [name[:1], "user"]})


        @mutation(args={"body": v.string()})
        def later(ctx, body):
            return ctx.scheduler.run_after(
                3600, "messages:send", {"channel": "later", "body": body, "n": 0}
            )


        @query(args={"channel": v.string()})
        def list(ctx, channel):
            return (
                ctx.db.query("messages")
                .with_index("by_channel", lambda q: q.eq("channel", channel))
                .collect()
            )


        @query
        def users(ctx) -> list:
            return ctx.db.query("users").with_index("by_name").collect()


        @query
        def jobs(ctx) -> list:
            return ctx.db.system.query("_scheduled_functions").collect()
    """,
}
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("messages:list", {"channel": "a"}),
    ("messages:list", {"channel": "b"}),
    ("messages:users", {}),
    ("messages:jobs", {}),
]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def sqlite_url(data: Path) -> str:
    return f"sqlite://{data / DB_FILE}"


class Apps:
    """Deployments of the test app, on SQLite data folders or database URLs, closed at the end."""

    def __init__(self, root: Path) -> None:
        self.app = write_app(root / "app", APP)
        self.root = root
        self._open: list[Deployment] = []

    def open(self, data: str, db: str | None = None) -> Deployment:
        deployment = Deployment(self.app, self.root / data, durability="normal", db=db)
        deployment.open()
        self._open.append(deployment)
        return deployment

    def close(self, deployment: Deployment) -> None:
        self._open.remove(deployment)
        deployment.close()
        unload(deployment.app)

    def close_all(self) -> None:
        while self._open:
            self.close(self._open[-1])


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    a = Apps(tmp_path)
    try:
        yield a
    finally:
        a.close_all()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database_url("migrate") as url:
        yield url


def call(deployment: Deployment, path: str, args: dict[str, Any]) -> Any:
    result = run(deployment.runner.run_mutation(path, args, admin=True))
    assert result.error is None, result.error
    return result.value


def query(deployment: Deployment, path: str, args: dict[str, Any]) -> Any:
    result = deployment.runner.run_query(path, args, admin=True)
    assert result.error is None, result.error
    return result.value


def build_source(apps: Apps) -> tuple[dict[str, Any], Any, int]:
    """A SQLite app with data in two tables, a pending scheduled job and several commits;
    returns its query results, catalog and latest timestamp (it is closed afterwards)."""
    deployment = apps.open("source")
    for i in range(30):
        call(deployment, "messages:send", {"channel": "ab"[i % 2], "body": f"m{i}", "n": i})
    for name in ("zoe", "ada", "bob"):
        call(deployment, "messages:join", {"name": name})
    job = call(deployment, "messages:later", {"body": "from the past"})
    results = {f"{p} {a}": query(deployment, p, a) for p, a in QUERIES}
    assert [j["_id"] for j in results["messages:jobs {}"]] == [job]
    catalog, latest = deployment.engine.catalog, deployment.engine.latest_ts
    apps.close(deployment)
    return results, catalog, latest


def migrate_cli(source: str, target: str, *extra: str, cwd: Path) -> Any:
    return livebase_cli("migrate", "--from", source, "--to", target, *extra, cwd=cwd, timeout=120)


def test_sqlite_to_postgres_round_trip(apps: Apps, pg_url: str, tmp_path: Path) -> None:
    results, catalog, latest = build_source(apps)
    done = migrate_cli(sqlite_url(tmp_path / "source"), pg_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and "documents" in done.stdout
    assert "copying documents" in done.stderr  # progress bars

    copy = apps.open("unused", db=pg_url)
    assert not copy.data_dir.exists() or not (copy.data_dir / DB_FILE).exists()
    assert {f"{p} {a}": query(copy, p, a) for p, a in QUERIES} == results
    assert copy.engine.catalog == catalog
    assert copy.engine.latest_ts == latest
    (job,) = copy.engine.read(lambda tx: tx.query(SCHEDULED_FUNCTIONS).collect())[0]
    assert job["state"]["kind"] == "pending" and job["args"][0]["body"] == "from the past"

    call(copy, "messages:send", {"channel": "a", "body": "after", "n": 99})
    assert copy.engine.latest_ts > latest
    assert query(copy, "messages:list", {"channel": "a"})[-1]["body"] == "after"
    # The copy's SQL views are made on first start.
    conninfo, schema = split_url(pg_url)
    with psycopg.connect(conninfo, options=f"-c search_path={schema}") as pg:
        rows = pg.execute("SELECT n FROM messages WHERE channel = 'a' ORDER BY n").fetchall()
    assert [n for (n,) in rows] == [*range(0, 30, 2), 99]


def test_postgres_to_sqlite_and_sqlite_to_sqlite(apps: Apps, pg_url: str, tmp_path: Path) -> None:
    results, catalog, latest = build_source(apps)
    assert migrate_cli(sqlite_url(tmp_path / "source"), pg_url, cwd=tmp_path).returncode == 0
    back = migrate_cli(pg_url, sqlite_url(tmp_path / "back"), cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    again = migrate_cli(sqlite_url(tmp_path / "back"), f"{tmp_path}/again/{DB_FILE}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for data in ("back", "again"):
        copy = apps.open(data)
        assert {f"{p} {a}": query(copy, p, a) for p, a in QUERIES} == results
        assert copy.engine.catalog == catalog and copy.engine.latest_ts == latest
        apps.close(copy)


def test_refuses_a_non_empty_target_unless_forced(apps: Apps, pg_url: str, tmp_path: Path) -> None:
    build_source(apps)
    source = sqlite_url(tmp_path / "source")
    other = apps.open("other", db=pg_url)
    call(other, "messages:send", {"channel": "x", "body": "keep me?", "n": 1})
    apps.close(other)

    refused = migrate_cli(source, pg_url, cwd=tmp_path)
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr and "--force" in refused.stderr
    kept = apps.open("other", db=pg_url)
    assert [m["body"] for m in query(kept, "messages:list", {"channel": "x"})] == ["keep me?"]
    apps.close(kept)

    forced = migrate_cli(source, pg_url, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    copy = apps.open("other", db=pg_url)
    assert query(copy, "messages:list", {"channel": "x"}) == []
    assert len(query(copy, "messages:list", {"channel": "a"})) == 15


def test_source_problems_are_explained(apps: Apps, tmp_path: Path) -> None:
    missing = migrate_cli(f"sqlite://{tmp_path}/nope.db", f"{tmp_path}/t.db", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "nope.db").exists() and not (tmp_path / "t.db").exists()

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE x (y)")
    conn.close()
    not_ours = migrate_cli(str(foreign), f"{tmp_path}/t.db", cwd=tmp_path)
    assert not_ours.returncode == 1 and "not a Livebase database" in not_ours.stderr
    with sqlite3.connect(foreign) as conn:  # and it was not written
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("x",)]
    conn.close()

    build_source(apps)
    source = tmp_path / "source" / DB_FILE
    same = migrate_cli(str(source), f"sqlite://{source}", cwd=tmp_path)
    assert same.returncode == 1 and "same database" in same.stderr

    running = SqliteStorage(source)  # what a running server holds
    try:
        locked = migrate_cli(str(source), f"{tmp_path}/t.db", cwd=tmp_path)
    finally:
        running.close()
    assert locked.returncode == 1 and "stop the server first" in locked.stderr, locked.stderr

    empty = SqliteStorage(tmp_path / "empty.db")
    empty.close()
    nothing = migrate_cli(str(tmp_path / "empty.db"), f"{tmp_path}/t.db", cwd=tmp_path)
    assert nothing.returncode == 1 and "empty" in nothing.stderr


def test_a_corrupted_copy_is_detected_and_rolled_back(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    build_source(apps)
    from livebase.storage import sqlite as sqlite_module

    load = sqlite_module._SqliteWriter.load

    def corrupting_load(self: Any, table: Any, rows: list[Any]) -> None:
        if table == "documents":
            rows = [(*rows[0][:2], rows[0][2] + " "), *rows[1:]]
        load(self, table, rows)

    monkeypatch.setattr(sqlite_module._SqliteWriter, "load", corrupting_load)
    target = tmp_path / "target.db"
    code = main(["migrate", "--from", str(tmp_path / "source" / DB_FILE), "--to", str(target)])
    err = capsys.readouterr().err
    assert code == 1
    assert "verification failed" in err and "documents:" in err and "differs" in err, err
    monkeypatch.undo()
    storage = open_storage(target)
    try:
        with storage.reader() as r:
            assert r.is_empty()  # the whole copy was rolled back
    finally:
        storage.close()


def _two(tmp_path: Path, apps: Apps) -> tuple[Storage, Storage]:
    build_source(apps)
    source = open_storage(tmp_path / "source" / DB_FILE)
    target = open_storage(tmp_path / "copy.db")
    copy_database(source, target)
    return source, target


def test_verify_names_each_difference(apps: Apps, tmp_path: Path) -> None:
    source, target = _two(tmp_path, apps)
    try:
        with source.reader() as r, target.reader() as t:
            digests = verify(r, t)
            assert set(digests) == set(BULK_TABLES)
        with source.reader() as r:
            first_doc = r.dump("documents", None, 1)[0]
            index_rows = [row for rows in pages(r, "indexes") for row in rows]
        assert isinstance(target, SqliteStorage)
        conn = target._write_conn
        conn.execute("UPDATE documents SET value = value || ' ' WHERE id = ?", (first_doc[0],))
        conn.execute("DELETE FROM indexes WHERE index_id = ? AND key = ?", index_rows[3][:2])
        conn.execute("INSERT INTO globals (key, value) VALUES ('zzz', 'extra')")
        conn.execute("INSERT INTO commits (ts, entry) VALUES (9223372036854775000, '{}')")
        with source.reader() as r, target.reader() as t, pytest.raises(MigrationError) as caught:
            verify(r, t)
        message = caught.value.message
        assert f"the row with key ({first_doc[0]!r},) differs" in message
        assert f"key {index_rows[3][:2]!r} is missing from the target" in message
        assert "key ('zzz',) is only in the target" in message
        assert "commits: source has" in message
        assert "latest commit timestamp: source" in message
    finally:
        source.close()
        target.close()


@pytest.mark.e2e
def test_subscriptions_on_the_migrated_app_return_the_same_results(
    apps: Apps, pg_url: str, tmp_path: Path
) -> None:
    """The issue's proof: a subscription served from SQLite, then from the PostgreSQL copy."""

    async def first_result(url: str, path: str, args: dict[str, Any]) -> Any:
        async with Client(url) as client:
            async for value in client.subscribe(path, args):
                return value
        raise AssertionError("no result")

    async def live_update(url: str) -> tuple[Any, Any]:
        async with Client(url) as client:
            updates = client.subscribe("messages:list", {"channel": "b"})
            first = await anext(updates)
            await client.mutation("messages:send", {"channel": "b", "body": "live", "n": 7})
            return first, await anext(updates)

    build_source(apps)
    data = tmp_path / "source"
    key = "test-admin-key"
    served = LivebaseServer(apps.app, data=data, admin_key=key, log_path=tmp_path / "a.log")
    with served.start():
        expected = {
            f"{p} {a}": run(first_result(served.url, p, a)) for p, a in QUERIES if "jobs" not in p
        }
    assert expected["messages:list {'channel': 'a'}"]

    done = migrate_cli(sqlite_url(data), pg_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    migrated = LivebaseServer(
        apps.app,
        data=tmp_path / "pg-node",
        admin_key=key,
        env=base_env(LIVEBASE_DB=pg_url),
        log_path=tmp_path / "b.log",
    )
    with migrated.start():
        assert "postgresql://" in migrated.log_text()
        got = {
            f"{p} {a}": run(first_result(migrated.url, p, a)) for p, a in QUERIES if "jobs" not in p
        }
        assert got == expected
        first, second = run(live_update(migrated.url))
        assert first == expected["messages:list {'channel': 'b'}"]
        assert [m["body"] for m in second] == [*(m["body"] for m in first), "live"]
