"""File storage on a real ``livebase serve``, on SQLite and PostgreSQL: Convex's upload flow
(a mutation's upload URL, a raw POST, ``{"storageId"}``), ``v.id("_storage")``, file URLs with
``ETag``/``Range``, ``ctx.storage`` in queries, mutations and actions, the ``_storage`` system
table, and every kind of bad input answered clearly with nothing half-written."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.files.app import FILES_APP
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LIMIT = 4 << 20


class Files:
    def __init__(self, server: LivebaseServer, backend: str) -> None:
        self.server = server
        self.backend = backend
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def call(self, kind: str, path: str, **args: Any) -> Any:
        response = self.http.post(f"/api/{kind}", json={"path": path, "args": args})
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(body)
        return body["value"]

    def error(self, kind: str, path: str, **args: Any) -> str:
        body = self.http.post(f"/api/{kind}", json={"path": path, "args": args}).json()
        assert body.get("status") != "success", body
        return str(body.get("errorMessage") or body["message"])

    def upload(self, data: bytes, content_type: str | None = "text/plain") -> str:
        url = self.call("mutation", "files:upload_url")
        headers = {} if content_type is None else {"content-type": content_type}
        response = httpx.post(url, content=data, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.json()["storageId"])

    @property
    def files_dir(self) -> Path:
        return self.server.data_dir / "files"

    def temp_files(self) -> list[Path]:
        return list((self.files_dir / "tmp").iterdir())


@pytest.fixture(scope="module", params=["sqlite", "postgres", "sqlite+s3"])
def files(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Files]:
    """A server per backend; ``sqlite+s3`` keeps the bytes in an S3 bucket (moto's server)."""
    base = tmp_path_factory.mktemp(f"files-{request.param}")
    app = write_app(base / "app", FILES_APP)
    with ExitStack() as stack:
        db = None if request.param != "postgres" else stack.enter_context(fresh_database_url("f"))
        env = base_env(LIVEBASE_MAX_UPLOAD_BYTES=str(LIMIT))
        if request.param == "sqlite+s3":
            s3 = request.getfixturevalue("s3_server")
            env.update(s3.env, LIVEBASE_FILES=f"s3://{s3.bucket('livebase-e2e')}/app")
        server = stack.enter_context(LivebaseServer.launch(base / "srv", app=app, db=db, env=env))
        client = Files(server, request.param)
        yield client
        client.http.close()


def test_the_convex_upload_flow_stores_and_serves_a_file(files: Files) -> None:
    data = b"hello, files " * 1000
    storage_id = files.upload(data, "text/plain; charset=utf-8")
    files.call("mutation", "files:save", name="greeting", file=storage_id)
    docs = files.call("query", "files:docs")
    url = next(d["url"] for d in docs if d["name"] == "greeting")
    assert url == files.call("query", "files:url", id=storage_id)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == data
    sha = hashlib.sha256(data).hexdigest()
    assert response.headers["etag"] == f'"{sha}"'
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(data))
    meta = files.call("query", "files:meta", id=storage_id)
    assert meta["sha256"] == sha and meta["size"] == len(data)
    assert meta["contentType"] == "text/plain; charset=utf-8"
    rows = {row["_id"]: row for row in files.call("query", "files:stored")}
    assert rows[storage_id]["sha256"] == sha
    assert set(rows[storage_id]) == {"_id", "_creationTime", "sha256", "size", "contentType"}
    # The blob is content-addressed under the data folder (or the bucket); nothing is left in tmp.
    if files.backend != "sqlite+s3":
        assert (files.files_dir / "blobs" / sha[:2] / sha).read_bytes() == data
    assert files.temp_files() == []


def test_etag_and_ranges(files: Files) -> None:
    data = bytes(range(256)) * 4
    url = files.call("query", "files:url", id=files.upload(data, "application/octet-stream"))
    etag = httpx.get(url).headers["etag"]
    assert httpx.get(url, headers={"if-none-match": etag}).status_code == 304
    part = httpx.get(url, headers={"range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert part.headers["content-length"] == "10"
    tail = httpx.get(url, headers={"range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    open_end = httpx.get(url, headers={"range": "bytes=1000-"})
    assert open_end.content == data[1000:]
    past = httpx.get(url, headers={"range": "bytes=5000-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(data)}"
    several = httpx.get(url, headers={"range": "bytes=0-1,5-6"})
    assert several.status_code == 206
    assert byteranges(several) == [("bytes 0-1/1024", data[0:2]), ("bytes 5-6/1024", data[5:7])]
    # unsorted, overlapping and adjacent ranges merge; ranges past the end are dropped
    merged = httpx.get(url, headers={"range": "bytes=900-, 10-19, 15-29, -10, 30-31, 5000-"})
    assert merged.status_code == 206
    assert byteranges(merged) == [
        ("bytes 10-31/1024", data[10:32]),
        ("bytes 900-1023/1024", data[900:]),
    ]
    one = httpx.get(url, headers={"range": "bytes=10-19,12-14"})  # merged into one: no multipart
    assert one.status_code == 206 and one.content == data[10:20]
    assert one.headers["content-range"] == "bytes 10-19/1024"
    none_within = httpx.get(url, headers={"range": "bytes=5000-5001,6000-"})
    assert none_within.status_code == 416
    many = ",".join(f"{i}-{i}" for i in range(0, 40, 2))  # more than 16: the whole file
    assert httpx.get(url, headers={"range": f"bytes={many}"}).content == data
    garbled = httpx.get(url, headers={"range": "bytes=0-1,x-2"})
    assert garbled.status_code == 200 and garbled.content == data
    stale = httpx.get(url, headers={"range": "bytes=0-1,5-6", "if-range": '"other"'})
    assert stale.status_code == 200 and stale.content == data  # If-Range: the file changed


def byteranges(response: httpx.Response) -> list[tuple[str, bytes]]:
    """The parts of a ``multipart/byteranges`` body: (Content-Range, bytes) each, read with the
    standard library's MIME parser; checks the declared length too."""
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(response.headers["content-length"]) == len(response.content)
    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + response.content)
    assert message.is_multipart()
    return [(part["content-range"], part.get_payload(decode=True)) for part in message.iter_parts()]


def test_actions_store_get_and_delete(files: Files) -> None:
    out = files.call("action", "files:store_text", text="stored by an action")
    assert httpx.get(out["url"]).text == "stored by an action"
    assert files.call("action", "files:read_text", id=out["id"]) == "stored by an action"
    async_out = files.call("action", "files:store_async", text="async")
    assert async_out == {"data": "async", "size": 5, "gone": True}


def test_delete_revokes_the_url(files: Files) -> None:
    storage_id = files.upload(b"short-lived")
    url = files.call("query", "files:url", id=storage_id)
    files.call("mutation", "files:remove", id=storage_id)
    assert httpx.get(url).status_code == 404
    assert files.call("query", "files:url", id=storage_id) is None
    assert files.call("action", "files:read_text", id=storage_id) is None
    assert "no stored file" in files.error("mutation", "files:remove", id=storage_id)


def test_an_upload_url_is_single_use(files: Files) -> None:
    url = files.call("mutation", "files:upload_url")
    assert httpx.post(url, content=b"first").status_code == 200
    again = httpx.post(url, content=b"second")
    assert again.status_code == 401
    assert again.json()["code"] == "UploadUrlUsed"
    assert "single-use" in again.json()["message"]


def test_a_forged_or_malformed_upload_url_is_refused(files: Files) -> None:
    url = files.call("mutation", "files:upload_url")
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    response = httpx.post(forged, content=b"x")
    assert response.status_code == 401
    assert "signature" in response.json()["message"]
    response = httpx.post(files.server.url + "/api/storage/upload?token=nope", content=b"x")
    assert response.status_code == 401 and "malformed" in response.json()["message"]
    response = httpx.post(files.server.url + "/api/storage/upload", content=b"x")
    assert response.status_code == 401
    assert files.temp_files() == []


def test_an_oversize_upload_is_a_clear_413_and_leaves_nothing(files: Files) -> None:
    before = files.call("query", "files:stored")
    url = files.call("mutation", "files:upload_url")
    declared = httpx.post(url, content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    assert f"larger than {LIMIT} bytes" in declared.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the bytes pass the limit
        for _ in range(LIMIT // 65536 + 2):
            yield b"y" * 65536

    url = files.call("mutation", "files:upload_url")
    try:
        streamed = httpx.post(url, content=chunks())
        assert streamed.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending
    assert files.call("query", "files:stored") == before
    assert files.temp_files() == []


def test_a_bad_content_type_is_refused(files: Files) -> None:
    url = files.call("mutation", "files:upload_url")
    response = httpx.post(url, content=b"x", headers={"content-type": "not a type"})
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidContentType"
    # The URL was not used up by a refused request.
    storage_id = httpx.post(url, content=b"x", headers={"content-type": "image/png"}).json()
    meta = files.call("query", "files:meta", id=storage_id["storageId"])
    assert meta["contentType"] == "image/png"


def test_no_content_type_is_stored_as_none(files: Files) -> None:
    storage_id = files.upload(b"raw", content_type=None)
    assert files.call("query", "files:meta", id=storage_id)["contentType"] is None
    url = files.call("query", "files:url", id=storage_id)
    assert httpx.get(url).headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "path",
    [
        "/api/storage/..%2f..%2fdata.sqlite3",
        "/api/storage/../../admin_key",
        "/api/storage/%2e%2e/%2e%2e/etc/passwd",
        "/api/storage/..",
        "/api/storage/blobs",
        "/api/storage/" + "a" * 300,
    ],
)
def test_path_traversal_never_reads_outside_the_store(files: Files, path: str) -> None:
    response = files.http.get(path)
    assert response.status_code in (400, 404)
    assert "lb_admin" not in response.text and "root:" not in response.text


def test_a_file_url_without_its_token_is_not_found(files: Files) -> None:
    storage_id = files.upload(b"secret")
    url = files.call("query", "files:url", id=storage_id)
    bare = url.split("?")[0]
    assert httpx.get(bare).status_code == 404
    assert httpx.get(bare + "?token=" + "0" * 40).status_code == 404


def test_storage_ids_are_validated(files: Files) -> None:
    message = files.error("mutation", "files:save", name="x", file="not-an-id")
    assert "_storage" in message
    doc_id = files.call("mutation", "files:save", name="y", file=files.upload(b"y"))
    message = files.error("query", "files:url", id=doc_id)
    assert "_storage" in message


def test_app_code_cannot_write_the_storage_table(files: Files) -> None:
    storage_id = files.upload(b"keep")
    message = files.error("mutation", "files:write_system", name="x", file=storage_id)
    assert "system table" in message
    assert files.call("query", "files:meta", id=storage_id) is not None


def test_a_subscription_to_storage_follows_uploads_and_deletes(files: Files) -> None:
    from livebase.client import Client

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        async with Client(files.server.url) as client:
            updates = client.subscribe("files:stored", {})
            first = await anext(updates)
            storage_id = await asyncio.to_thread(files.upload, b"watched")
            added = await asyncio.wait_for(anext(updates), 10)
            await client.mutation("files:remove", {"id": storage_id})
            removed = await asyncio.wait_for(anext(updates), 10)
            return first, added, removed

    first, added, removed = asyncio.run(scenario())
    (new,) = [row for row in added if row not in first]
    assert new["size"] == len(b"watched")
    assert removed == first
