"""Stored files in snapshot ZIPs, against real servers: ``livebase export --include-file-storage``
writes ``_storage/documents.jsonl`` and each file's bytes as ``_storage/<id>``; ``livebase import``
puts the bytes back (sha256-checked) before the rows, keeps the ids so references still resolve,
and a damaged file changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.files.app import FILES_APP
from tests.snapshot.test_export_import import call, cli, target
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FILES = {
    "photo": (os.urandom(3 << 20), "image/jpeg"),
    "notes": (b"meeting notes\n" * 50, "text/plain"),
    "empty": (b"", "application/octet-stream"),
}


def upload(server: LivebaseServer, name: str, data: bytes, content_type: str) -> str:
    url = call(server, "mutation", "files:upload_url")
    answer = httpx.post(url, content=data, headers={"content-type": content_type}, timeout=60)
    assert answer.status_code == 200, answer.text
    storage_id: str = answer.json()["storageId"]
    call(server, "mutation", "files:save", {"name": name, "file": storage_id})
    return storage_id


def files_of(server: LivebaseServer) -> dict[str, dict[str, Any]]:
    """name: {meta, bytes} for every doc, read back through the app and the file URLs."""
    rows = {r["_id"]: r for r in call(server, "query", "files:stored")}
    out = {}
    for doc in call(server, "query", "files:docs"):
        assert doc["url"] is not None, doc
        body = httpx.get(doc["url"], timeout=60)
        assert body.status_code == 200
        storage_id = doc["url"].split("/api/storage/")[1].split("?")[0]
        out[doc["name"]] = {"row": rows[storage_id], "bytes": body.content}
    return out


def test_files_round_trip_through_a_snapshot(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", FILES_APP)
    full, rows_only = tmp_path / "full.zip", tmp_path / "rows.zip"
    with LivebaseServer.launch(tmp_path / "a", app=app) as source:
        ids = {name: upload(source, name, *FILES[name]) for name in FILES}
        before = files_of(source)
        exported = cli("export", "-o", str(full), "--include-file-storage", *target(source))
        assert exported.returncode == 0, exported.stderr
        assert "exported 1 tables, 3 documents, 3 files at ts" in exported.stdout
        assert cli("export", "-o", str(rows_only), *target(source)).returncode == 0

        # rows only, into the deployment that still has the bytes: the rows come back
        again = cli("import", str(rows_only), "--replace", *target(source))
        assert again.returncode == 0, again.stderr
        assert "_storage: 3 files (0 bytes copied)" in again.stdout
        assert files_of(source) == before

    with zipfile.ZipFile(full) as archive:
        lines = [json.loads(x) for x in archive.read("_storage/documents.jsonl").splitlines()]
        assert {line["_id"] for line in lines} == set(ids.values())
        for name, (data, content_type) in FILES.items():
            assert archive.read(f"_storage/{ids[name]}") == data
            line = next(x for x in lines if x["_id"] == ids[name])
            assert line["sha256"] == hashlib.sha256(data).hexdigest()
            assert line["size"] == len(data) and line["contentType"] == content_type
    with zipfile.ZipFile(rows_only) as archive:
        assert [n for n in archive.namelist() if n.startswith("_storage/")] == [
            "_storage/documents.jsonl"
        ]

    with LivebaseServer.launch(tmp_path / "b", app=app) as fresh:
        imported = cli("import", str(full), *target(fresh))
        assert imported.returncode == 0, imported.stderr
        size = sum(len(d) for d, _ in FILES.values())
        assert f"_storage: 3 files ({size} bytes copied)" in imported.stdout
        after = files_of(fresh)
        assert after == before  # same ids, times, sha256, sizes, types and bytes
        for name, (data, _) in FILES.items():
            assert after[name]["bytes"] == data

    with LivebaseServer.launch(tmp_path / "c", app=app) as bare:
        partial = cli("import", str(rows_only), *target(bare))
        assert partial.returncode == 0, partial.stderr
        assert "3 files whose bytes are not in the ZIP" in partial.stdout
        assert "--include-file-storage" in partial.stdout
        assert call(bare, "query", "files:stored") == []  # no row without its bytes


def test_a_damaged_file_in_the_zip_imports_nothing(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", FILES_APP)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with LivebaseServer.launch(tmp_path / "a", app=app) as source:
        ids = [upload(source, name, *FILES[name]) for name in ("notes", "photo")]
        exported = cli("export", "-o", str(good), "--include-file-storage", *target(source))
        assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == f"_storage/{ids[1]}":
                data = data[:100] + b"X" + data[101:]  # one byte changed
            dst.writestr(item.filename, data)

    with LivebaseServer.launch(tmp_path / "b", app=app) as fresh:
        result = cli("import", str(bad), *target(fresh))
        assert result.returncode == 1
        assert f"_storage/{ids[1]}: its bytes" in result.stderr
        assert "nothing was imported" in result.stderr
        assert call(fresh, "query", "files:stored") == []
        assert call(fresh, "query", "files:docs") == []
        # the good ZIP still imports afterwards
        assert cli("import", str(good), *target(fresh)).returncode == 0
        assert len(call(fresh, "query", "files:docs")) == 2


def test_export_blob_endpoint_needs_the_admin_key_and_a_sha256(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", FILES_APP)
    with LivebaseServer.launch(tmp_path / "a", app=app) as server:
        upload(server, "notes", *FILES["notes"])
        sha = hashlib.sha256(FILES["notes"][0]).hexdigest()
        admin = {"authorization": f"Convex {server.admin_key}"}
        url = f"{server.url}/api/export/blob"
        assert httpx.get(url, params={"sha": sha}).status_code == 401
        ok = httpx.get(url, params={"sha": sha}, headers=admin)
        assert ok.status_code == 200 and ok.content == FILES["notes"][0]
        traversal = httpx.get(url, params={"sha": "../../admin_key"}, headers=admin)
        assert traversal.status_code == 400 and "64 lowercase hex" in traversal.json()["message"]
        missing = httpx.get(url, params={"sha": "0" * 64}, headers=admin)
        assert missing.status_code == 404 and missing.json()["code"] == "FileNotFound"
