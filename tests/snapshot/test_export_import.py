"""``livebase export`` / ``livebase import FILE.zip`` against real servers and real ZIP files:
a round trip keeps every document (ids, ``_creationTime``, int64, bytes, references), a Convex
snapshot ZIP imports with nothing lost, a bad line changes nothing and is named."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.values.ids import id_table_number, with_table_number
from tests.support.apps import write_app
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "users": define_table({"name": v.string(), "score": v.int64(),
                                   "avatar": v.optional(v.bytes())}),
            "posts": define_table({"author": v.id("users"), "title": v.string(),
                                   "views": v.int64(), "ratio": v.float64()}),
        })
    """,
    "data.py": """
        from livebase import mutation, query


        @mutation
        def seed(ctx, posts: float) -> None:
            ids = [ctx.db.insert("users", {"name": f"u{i}", "score": 2**40 + i,
                                           "avatar": bytes([i, 0, 255])}) for i in range(3)]
            for i in range(int(posts)):
                ctx.db.insert("posts", {"author": ids[i % 3], "title": f"p{i}",
                                        "views": -(2**62) + i,
                                        "ratio": float("inf") if i == 7 else i / 4})


        @query
        def everything(ctx) -> dict:
            return {t: ctx.db.query(t).collect() for t in ("users", "posts", "notes")}


        @query
        def files(ctx) -> list:
            return ctx.db.system.query("_storage").collect()


        @query
        def authors(ctx) -> list:
            posts = ctx.db.query("posts").collect()
            return sorted({ctx.db.get(p["author"])["name"] for p in posts})
    """,
}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebase", *args],
        capture_output=True,
        text=True,
        env=base_env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def call(server: LivebaseServer, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    body = httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": path, "args": args or {}, "format": "convex_encoded_json"},
        headers={"authorization": f"Convex {server.admin_key}"},
        timeout=60,
    ).json()
    assert body["status"] == "success", body
    return body["value"]


def target(server: LivebaseServer) -> list[str]:
    return ["--url", server.url, "--admin-key", server.admin_key]


def test_export_then_import_keeps_every_document(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    out = tmp_path / "snap.zip"
    with LivebaseServer.launch(tmp_path / "a", app=app) as source:
        call(source, "mutation", "data:seed", {"posts": 2500.0})
        before = call(source, "query", "data:everything")
        exported = cli("export", "-o", str(out), *target(source))
    assert exported.returncode == 0, exported.stderr
    assert "exported 2 tables, 2503 documents" in exported.stdout
    # stderr is a pipe here: plain progress lines, one per table
    assert "tables 1/2: users (3 documents; 3 written)" in exported.stderr
    assert "tables 2/2: posts (2500 documents; 2503 written)" in exported.stderr

    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {
            "_tables/documents.jsonl",
            "users/documents.jsonl",
            "posts/documents.jsonl",
        } <= names
        assert "_schema.json" in names
        tables = [json.loads(x) for x in archive.read("_tables/documents.jsonl").splitlines()]
        assert [t["name"] for t in tables] == ["users", "posts"]
        user = json.loads(archive.read("users/documents.jsonl").splitlines()[0])
        assert user["score"] == 2**40 and user["avatar"] == {"$bytes": "AAD/"}  # int64 bare
        assert json.loads(archive.read("_schema.json"))["tables"].keys() == {"users", "posts"}

    with LivebaseServer.launch(tmp_path / "b", app=app) as fresh:
        imported = cli("import", str(out), *target(fresh))
        assert imported.returncode == 0, imported.stderr
        assert "imported 2503 documents into 2 tables" in imported.stdout
        assert call(fresh, "query", "data:everything") == before  # ids, times, int64, bytes
        assert call(fresh, "query", "data:authors") == ["u0", "u1", "u2"]
        again = cli("import", str(out), *target(fresh))
        assert again.returncode == 1 and "already has documents" in again.stderr
        assert "nothing was imported" in again.stderr
        replaced = cli("import", str(out), "--replace", *target(fresh))
        assert replaced.returncode == 0, replaced.stderr
        assert call(fresh, "query", "data:everything") == before


def convex_id(table_number: int) -> str:
    """An id as Convex makes one: base32 of varint(table) + 16 random bytes + Fletcher-16."""
    body = bytearray()
    n = table_number
    while True:
        body.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            break
    body += os.urandom(16)
    a = b = 0
    for byte in body:
        a, b = (a + byte) % 255, (b + (a + byte) % 255) % 255
    raw = bytes(body) + bytes((b, a))
    text = base64.b32encode(raw).decode().rstrip("=")
    table = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")
    return text.translate(table).lower()


def int64(n: int) -> dict[str, str]:
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(x) + "\n" for x in items)


def test_convex_snapshot_zip_imports_with_nothing_lost(tmp_path: Path) -> None:
    # Convex numbered users 10002 and posts 10001 (here: users 10001, posts 10002); notes is
    # new here and keeps its number, so its ids stay verbatim.
    users = [convex_id(10002) for _ in range(2)]
    posts = [convex_id(10001) for _ in range(3)]
    note = convex_id(10050)
    stored = convex_id(7)  # a Convex _storage id: its table number is Convex's, not ours
    abc = hashlib.sha256(b"abc").hexdigest()
    zpath = tmp_path / "snapshot_1700000000000000000.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("README.md", "Convex export")
        z.writestr(
            "_tables/documents.jsonl",
            jsonl([{"name": "posts", "id": 10001}, {"name": "users", "id": 10002},
                   {"name": "notes", "id": 10050}]),
        )  # fmt: skip
        z.writestr(
            "users/documents.jsonl",
            jsonl([
                {"_id": users[0], "_creationTime": 1700000000000.5, "name": "ada",
                 "score": int64(2**53 + 1), "avatar": {"$bytes": "AQID"}},
                {"_id": users[1], "_creationTime": 1700000000001.25, "name": "bob",
                 "score": 7},
            ]),
        )  # fmt: skip
        z.writestr("users/generated_schema.jsonl", '"uniform"\n')
        z.writestr(
            "posts/documents.jsonl",
            jsonl([
                {"_id": posts[i], "_creationTime": 1700000000100.0 + i, "author": users[i % 2],
                 "title": f"t{i}", "views": int64(-(2**63)), "ratio": 0.5}
                for i in range(3)
            ]),
        )  # fmt: skip
        z.writestr(
            "notes/documents.jsonl",
            jsonl([{"_id": note, "_creationTime": 1700000000200.0, "about": posts[2],
                    "tags": ["a", 1.5], "file": stored}]),
        )  # fmt: skip
        z.writestr(
            "_storage/documents.jsonl",
            jsonl([{"_id": stored, "_creationTime": 1700000000300.0, "sha256": abc,
                    "size": 3.0, "contentType": "text/plain", "internalId": "kg2abc"}]),
        )  # fmt: skip
        z.writestr(f"_storage/{stored}", b"abc")

    app = write_app(tmp_path / "app", APP)
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        result = cli("import", str(zpath), *target(server))
        assert result.returncode == 0, result.stderr
        assert "imported 6 documents into 3 tables" in result.stdout
        assert "table number 10002 here is 10001" in result.stdout
        assert "_storage: 1 files (3 bytes copied)" in result.stdout
        data = call(server, "query", "data:everything")
        (row,) = call(server, "query", "data:files")
        assert row["sha256"] == abc and row["size"] == 3 and row["contentType"] == "text/plain"
        assert row["_creationTime"] == 1700000000300.0 and "internalId" not in row
        assert id_table_number(row["_id"]) != 7 and row["_id"] == with_table_number(
            stored, id_table_number(row["_id"])
        )  # carried over to this deployment's _storage number, random part kept
        blob = httpx.get(
            f"{server.url}/api/export/blob?sha={abc}",
            headers={"authorization": f"Convex {server.admin_key}"},
        )
        assert blob.content == b"abc"
        mapped = {old: with_table_number(old, 10001) for old in users}
        mapped |= {old: with_table_number(old, 10002) for old in posts}
        ada, bob = data["users"]
        assert ada == {
            "_id": mapped[users[0]], "_creationTime": 1700000000000.5, "name": "ada",
            "score": int64(2**53 + 1), "avatar": {"$bytes": "AQID"},
        }  # fmt: skip
        assert bob["score"] == int64(7) and bob["_creationTime"] == 1700000000001.25
        assert [p["_id"] for p in data["posts"]] == [mapped[p] for p in posts]
        assert [p["author"] for p in data["posts"]] == [mapped[users[i % 2]] for i in range(3)]
        assert data["posts"][0]["views"] == int64(-(2**63))
        assert data["notes"] == [
            {"_id": note, "_creationTime": 1700000000200.0, "about": mapped[posts[2]],
             "tags": ["a", 1.5], "file": row["_id"]}
        ]  # fmt: skip
        assert id_table_number(note) == 10050
        assert call(server, "query", "data:authors") == ["ada", "bob"]


def test_bad_document_changes_nothing_and_is_named(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    user = convex_id(10001)
    zpath = tmp_path / "bad.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("_tables/documents.jsonl", jsonl([{"name": "users", "id": 10001}]))
        z.writestr(
            "users/documents.jsonl",
            jsonl([{"_id": user, "_creationTime": 1.0, "name": "ok", "score": 1}])
            + "\n"
            + jsonl([{"_id": convex_id(10001), "_creationTime": 2.0, "name": "bad",
                      "score": "high"}]),
        )  # fmt: skip
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        result = cli("import", str(zpath), *target(server))
        assert result.returncode == 1
        assert "users/documents.jsonl line 3" in result.stderr
        assert "'score'" in result.stderr and "nothing was imported" in result.stderr
        assert call(server, "query", "data:everything") == {"users": [], "posts": [], "notes": []}

        # The same ZIP POSTed whole to /api/import answers the same error.
        auth = {"authorization": f"Convex {server.admin_key}"}
        posted = httpx.post(f"{server.url}/api/import", content=zpath.read_bytes(), headers=auth)
        assert posted.status_code == 400 and "line 3" in posted.json()["message"]

        # JSON Lines with _id (an id of this table) into one table: ids and times kept.
        line = {"_id": user, "_creationTime": 5.0, "name": "kept", "score": int64(3)}
        ok = httpx.post(
            f"{server.url}/api/import?table=users", content=json.dumps(line), headers=auth
        )
        assert ok.status_code == 200, ok.text
        assert call(server, "query", "data:everything")["users"] == [line]
        wrong = {**line, "_id": convex_id(10002)}
        refused = httpx.post(
            f"{server.url}/api/import?table=users", content=json.dumps(wrong), headers=auth
        )
        assert refused.status_code == 400 and "_tables" in refused.json()["message"]
