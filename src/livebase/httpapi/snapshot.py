"""Admin endpoints behind ``livebase export`` and ``livebase import FILE.zip``.

``GET /api/export/tables``
    ``{"ts", "tables": [{"name", "id"}], "schema"}``: pins the snapshot timestamp ``ts`` (the
    newest commit) and lists the user tables with their numbers, as ``_tables`` records them.
``GET /api/export/documents?table=T&ts=TS``
    The table as of ``ts``, streamed as JSON Lines in the snapshot encoding
    (``livebase.snapshot.values``), read page by page. A failure mid-stream (``ts`` too old)
    ends the stream with one line ``{"$error": {"code", "message"}}``, which no document can be.
``GET /api/export/blob?sha=SHA256``
    A stored file's bytes by their sha256 (from the ``_storage`` rows the export read),
    streamed; ``livebase export --include-file-storage`` writes them as ``_storage/<id>``.
``POST /api/import/upload?id=ID&offset=N``
    Appends the body to the staged upload ``ID`` (16-64 hex digits chosen by the client) at
    byte ``offset``; answers ``{"received": total bytes}``. Big ZIPs go up in chunks.
``POST /api/import/apply?id=ID&mode=fail|append|replace``
    Imports the staged ZIP in one transaction (``livebase.snapshot.restore``), deletes it and
    answers the report. Files in the ZIP go to the blob store first, checked by sha256.
    ``POST /api/import`` with a ZIP body (and no ``table``) does the same in one request.

All need ``Authorization: Convex <admin key>``. Staged uploads live in ``<data>/imports`` and
are deleted after a day if never applied.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import urllib.parse
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson

from livebase.engine.database import Engine
from livebase.engine.transaction import decode_document
from livebase.errors import BadRequestError, LivebaseError, UnauthenticatedError
from livebase.files.blobs import BlobStore, is_sha256, stream_blob
from livebase.httpapi.api import error_response, is_admin, json_response
from livebase.httpserver import Request, Response
from livebase.snapshot.dump import Page, read_page, schema_json, user_tables
from livebase.snapshot.layout import SnapshotError, open_snapshot
from livebase.snapshot.restore import MODES, Mode, restore
from livebase.snapshot.values import to_export

STALE_UPLOAD_SECONDS = 24 * 3600


class SnapshotEndpoints:
    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        admin_key: Callable[[], str],
        blobs: BlobStore | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.staging = data_dir / "imports"
        self._admin_key = admin_key

    async def __call__(self, request: Request, route: str) -> Response:
        try:
            if not is_admin(request.headers.get("authorization"), self._admin_key()):
                raise UnauthenticatedError(
                    "export and import need the admin key: Authorization: Convex <admin key>"
                )
            params = urllib.parse.parse_qs(request.query)
            if route == "export/tables" and request.method == "GET":
                return self._tables()
            if route == "export/documents" and request.method == "GET":
                return self._documents(_param(params, "table"), _ts(_param(params, "ts")))
            if route == "export/blob" and request.method == "GET":
                return await self._blob(_param(params, "sha"))
            if route == "import/upload" and request.method == "POST":
                return self._upload(_param(params, "id"), _param(params, "offset"), request.body)
            if route == "import/apply" and request.method == "POST":
                path = self._staged(_param(params, "id"))
                if not path.exists():
                    raise BadRequestError("no upload with that id (already applied, or expired)")
                try:
                    return await self._apply(path, _mode(params))
                finally:
                    path.unlink(missing_ok=True)
            if route == "import" and request.method == "POST":
                return await self._apply(io.BytesIO(request.body), _mode(params))
        except LivebaseError as exc:
            return error_response(exc)
        return json_response(404, {"code": "NotFound", "message": f"no endpoint /api/{route}"})

    def _tables(self) -> Response:
        ts = self.engine.latest_ts
        tables = [{"name": t.name, "id": t.number} for t in user_tables(self.engine)]
        return json_response(
            200, {"ts": str(ts), "tables": tables, "schema": schema_json(self.engine)}
        )

    def _documents(self, table: str, ts: int) -> Response:
        first = read_page(self.engine, ts, table, None)  # a bad ts is a plain error answer
        stream = self._pages(first, table, ts)
        return Response(200, content_type="application/x-ndjson", stream=stream)

    async def _pages(self, current: Page, table: str, ts: int) -> AsyncIterator[bytes]:
        while True:
            lines = [orjson.dumps(to_export(decode_document(t))) for t in current.documents]
            if lines:
                yield b"\n".join(lines) + b"\n"
            if current.after is None:
                return
            await asyncio.sleep(0)  # let other requests and commits run between pages
            try:
                current = read_page(self.engine, ts, table, current.after)
            except LivebaseError as exc:
                yield orjson.dumps({"$error": exc.to_json()}) + b"\n"
                return

    async def _blob(self, sha: str) -> Response:
        blobs = self.blobs
        if not is_sha256(sha):
            raise BadRequestError("'sha' must be a sha256 as 64 lowercase hex digits")
        if blobs is None or not await asyncio.to_thread(blobs.exists, sha):
            return json_response(
                404, {"code": "FileNotFound", "message": f"no stored file has sha256 {sha}"}
            )
        stream = stream_blob(blobs, sha)
        return Response(200, content_type="application/octet-stream", stream=stream)

    def _staged(self, upload_id: str) -> Path:
        if not 16 <= len(upload_id) <= 64 or any(c not in "0123456789abcdef" for c in upload_id):
            raise BadRequestError("'id' must be 16 to 64 lowercase hex digits")
        return self.staging / f"{upload_id}.zip"

    def _upload(self, upload_id: str, offset_text: str, body: bytes) -> Response:
        path = self._staged(upload_id)
        if not offset_text.isdigit():
            raise BadRequestError("'offset' must be a whole number")
        self.staging.mkdir(parents=True, exist_ok=True)
        if int(offset_text) == 0:
            _drop_stale(self.staging)
            path.write_bytes(b"")
        size = path.stat().st_size if path.exists() else -1
        if size != int(offset_text):
            raise BadRequestError(
                f"upload {upload_id} has {max(size, 0)} bytes, not {offset_text}; start again "
                "at offset 0"
            )
        with path.open("ab") as f:
            f.write(body)
        return json_response(200, {"received": size + len(body)})

    async def _apply(self, source: Path | io.BytesIO, mode: Mode) -> Response:
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SnapshotError(f"not a readable ZIP file: {exc}") from None
        with archive:
            try:
                report = await restore(self.engine, open_snapshot(archive), mode, self.blobs)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise SnapshotError(f"the ZIP is damaged: {exc}") from None
        return json_response(200, report.to_json())


def _param(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name)
    if not values or not values[0]:
        raise BadRequestError(f"query parameter {name!r} is required")
    return values[0]


def _ts(text: str) -> int:
    if not text.isdigit():
        raise BadRequestError("'ts' must be the timestamp /api/export/tables answered")
    return int(text)


def _mode(params: dict[str, list[str]]) -> Mode:
    mode = (params.get("mode") or ["fail"])[0]
    if mode not in MODES:
        raise BadRequestError(f"'mode' must be one of {', '.join(MODES)}")
    return mode


def _drop_stale(folder: Path) -> None:
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for entry in folder.glob("*.zip"):
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry)
        except OSError:
            pass
