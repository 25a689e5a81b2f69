"""``livebase dev``: reloads on file changes, survives a broken edit, keeps connections."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from .conftest import Servers, base_env, write_app

V1 = """
from livebase import query


@query
def ping(ctx) -> str:
    return "v1"
"""

WITH_PONG = (
    V1
    + """

@query
def pong(ctx, name: str) -> str:
    return "pong " + name
"""
)

BROKEN = (
    WITH_PONG
    + """

@query
def broken(ctx) -> str:
    return (
"""
)

V2 = WITH_PONG.replace('"v1"', '"v2"')

# Generous: a reload on a loaded 2-core machine can take seconds.
RELOAD_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0


def _call(client: httpx.Client, path: str, args: dict[str, Any]) -> httpx.Response:
    return client.post("/api/query", json={"path": path, "args": args, "format": "json"})


def _client_port(response: httpx.Response) -> Any:
    stream = response.extensions["network_stream"]
    return stream.get_extra_info("client_addr")


def _poll(client: httpx.Client, path: str, args: dict[str, Any], want: Any) -> httpx.Response:
    """Call ``path`` every 50 ms (keeping the connection busy) until it returns ``want``."""
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while True:
        r = _call(client, path, args)
        if r.status_code == 200 and r.json().get("value") == want:
            return r
        if time.monotonic() >= deadline:
            raise AssertionError(f"{path} never returned {want!r}; last: {r.status_code} {r.text}")
        time.sleep(0.05)


def test_dev_hot_reload(servers: Servers, tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", {"messages.py": V1})
    server = servers.start("dev", app, tmp_path / "data")
    module = app / "messages.py"
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client:
        first = _call(client, "messages:ping", {})
        assert first.json()["value"] == "v1", first.text
        connection = _client_port(first)
        assert _call(client, "messages:pong", {"name": "a"}).status_code == 404

        # A new function becomes callable within a few seconds.
        mark = len(server.output())
        module.write_text(WITH_PONG)
        r = _poll(client, "messages:pong", {"name": "a"}, "pong a")
        assert _client_port(r) == connection
        assert server.wait_for_output("reloaded", start=mark), server.output()

        # A syntax error: the previous version keeps serving and the error is printed.
        mark = len(server.output())
        module.write_text(BROKEN)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while "reload failed" not in server.output()[mark:]:
            assert time.monotonic() < deadline, server.output()
            assert _call(client, "messages:pong", {"name": "b"}).json()["value"] == "pong b"
            time.sleep(0.05)
        failure = server.output()[mark:]
        assert "messages.py" in failure, failure
        assert "Traceback" not in failure
        assert server.process.poll() is None
        r = _call(client, "messages:ping", {})
        assert r.json()["value"] == "v1"
        assert _call(client, "messages:broken", {}).status_code == 404
        assert _client_port(r) == connection

        # Fixed: the server reloads again.
        module.write_text(V2)
        r = _poll(client, "messages:ping", {}, "v2")
        assert _call(client, "messages:pong", {"name": "c"}).json()["value"] == "pong c"
        assert _client_port(r) == connection, "the keep-alive connection was not kept"


def test_dev_reload_of_a_same_size_edit_with_bytecode_caching(
    servers: Servers, tmp_path: Path
) -> None:
    """With Python's default bytecode caching on, a one-character edit saved in the same second
    as the version the server loaded must still be picked up (not the cached bytecode)."""
    app = write_app(tmp_path / "app", {"messages.py": V1})
    module = app / "messages.py"
    second_start = (int(time.time()) - 10) * 1_000_000_000
    os.utime(module, ns=(second_start, second_start + 100_000_000))
    env = base_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = servers.start("dev", app, tmp_path / "data", env=env)
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client:
        assert _call(client, "messages:ping", {}).json()["value"] == "v1"
        mark = len(server.output())
        # Saved the way many editors save: write a temporary file, then rename it over.
        temporary = app / ".messages.py.swp"
        temporary.write_text(module.read_text().replace('"v1"', '"v2"'))
        os.utime(temporary, ns=(second_start, second_start + 700_000_000))
        os.replace(temporary, module)
        assert server.wait_for_output("reloaded", start=mark), server.output()
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            value = _call(client, "messages:ping", {}).json()["value"]
            if value == "v2" or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        assert value == "v2", f"served stale code after reload:\n{server.output()}"


SCHEMA_V1 = """
from livebase import define_schema, define_table, v

schema = define_schema({"notes": define_table({"title": v.string()})})
"""

SCHEMA_INDEXED = """
from livebase import define_schema, define_table, v

schema = define_schema({"notes": define_table({"title": v.string()}).index("by_title", ["title"])})
"""

SCHEMA_STRICTER = """
from livebase import define_schema, define_table, v

schema = define_schema({"notes": define_table({"title": v.string(), "n": v.number()})})
"""

NOTES = """
from livebase import mutation, query


@mutation
def add(ctx, title: str) -> str:
    return ctx.db.insert("notes", {"title": title})


@query
def by_title(ctx, title: str) -> list:
    q = ctx.db.query("notes").with_index("by_title", lambda q: q.eq("title", title))
    return [d["title"] for d in q.collect()]
"""


def test_dev_reloads_schema_changes(servers: Servers, tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", {"schema.py": SCHEMA_V1, "notes.py": NOTES})
    server = servers.start("dev", app, tmp_path / "data")
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client:
        r = client.post("/api/mutation", json={"path": "notes:add", "args": {"title": "a"}})
        assert r.json()["status"] == "success", r.text
        note_id = r.json()["value"]
        # The index does not exist yet.
        assert _call(client, "notes:by_title", {"title": "a"}).json()["status"] == "error"

        # A new index is backfilled on reload.
        (app / "schema.py").write_text(SCHEMA_INDEXED)
        _poll(client, "notes:by_title", {"title": "a"}, ["a"])

        # A schema the data does not fit is refused; the previous version keeps serving.
        mark = len(server.output())
        (app / "schema.py").write_text(SCHEMA_STRICTER)
        assert server.wait_for_output("reload failed", start=mark, timeout=RELOAD_TIMEOUT), (
            server.output()
        )
        assert server.wait_for_output(note_id, start=mark), server.output()
        assert "Traceback" not in server.output()[mark:]
        assert _call(client, "notes:by_title", {"title": "a"}).json()["value"] == ["a"]
        r = client.post("/api/mutation", json={"path": "notes:add", "args": {"title": "b"}})
        assert r.json()["status"] == "success", r.text

        # The watcher is still alive: a valid edit reloads again.
        mark = len(server.output())
        (app / "schema.py").write_text(SCHEMA_INDEXED)
        (app / "notes.py").write_text(NOTES.replace('"title": title}', '"title": title + "!"}'))
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            r = client.post("/api/mutation", json={"path": "notes:add", "args": {"title": "c"}})
            if _call(client, "notes:by_title", {"title": "c!"}).json()["value"]:
                break
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
