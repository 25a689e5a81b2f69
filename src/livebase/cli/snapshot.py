"""``livebase export`` and ``livebase import FILE.zip``: snapshot ZIPs through the admin API.

Export asks ``/api/export/tables`` for the snapshot timestamp and the tables, then streams each
table from ``/api/export/documents`` into the ZIP, writing to a temporary file that is renamed
only when complete. Import checks the ZIP's layout locally, uploads it in chunks to
``/api/import/upload`` and applies it with ``/api/import/apply`` (one transaction on the server).
Progress goes to stderr: a live line on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import IO, Any

from livebase.errors import LivebaseError
from livebase.snapshot.layout import SCHEMA, STORAGE, TABLES, open_snapshot

CHUNK = 8 << 20  # bytes per upload request
ZIP64_LIMIT = 0x7FFFFFFF  # a member this big needs ZIP64 headers from the start
README = """This is a Livebase snapshot export, in the layout of `npx convex export`.

_tables/documents.jsonl      one line per table: {"name": <table>, "id": <table number>}
<table>/documents.jsonl      one document per line, with _id and _creationTime
_storage/documents.jsonl     stored files: _id, _creationTime, sha256 (hex), size, contentType
_storage/<storage id>        a file's bytes (exported with --include-file-storage)
_schema.json                 the app's schema when it was exported

Values: int64 is a bare JSON integer, float64 a number with a decimal point, bytes
{"$bytes": base64}, NaN/inf/-0 {"$float": base64}. Import it with `livebase import FILE.zip`.
"""


class CommandError(Exception):
    """A failure to report as one line, with the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Progress:
    """One live, rewritten line on a terminal; on a pipe, ``note`` lines only."""

    def __init__(self, stream: IO[str] = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0

    def live(self, text: str) -> None:
        now = time.monotonic()
        if self.tty and now - self._last > 0.1:
            self._last = now
            print(f"\r\x1b[K  {text}", end="", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        prefix = "\r\x1b[K" if self.tty else ""
        print(f"{prefix}  {text}", file=self.stream, flush=True)


class Admin:
    """The admin API of one server."""

    def __init__(self, url: str, key: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def open(
        self, method: str, route: str, body: bytes | None = None, timeout: float | None = None
    ) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/{route}",
            data=body,
            method=method,
            headers={"Authorization": f"Convex {self.key}"},
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                data = json.loads(exc.read() or b"{}")
            except ValueError:
                data = {}
            message = data.get("message", exc.reason)
            raise CommandError(f"{data.get('code', exc.code)}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(
                f"no Livebase server at {self.url} ({getattr(exc, 'reason', exc)})"
            ) from None

    def json(self, method: str, route: str, body: bytes | None = None, **kw: Any) -> Any:
        with self.open(method, route, body, **kw) as response:
            return json.loads(response.read())


def export(admin: Admin, out: str | None, progress: Progress, include_files: bool = False) -> str:
    """Write the snapshot to ``out`` (default ``snapshot_<ts>.zip``); returns the path.

    Stored files' rows always go in ``_storage/documents.jsonl``; their bytes only with
    ``include_files`` (``--include-file-storage``, as ``npx convex export``)."""
    head = admin.json("GET", "export/tables")
    ts, tables = head["ts"], head["tables"]
    path = Path(out or f"snapshot_{ts}.zip")
    partial = path.with_name(path.name + ".partial")
    total = 0
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.md", README)
            archive.writestr(TABLES, "".join(json.dumps(t) + "\n" for t in tables))
            archive.writestr(SCHEMA, json.dumps(head["schema"], indent=2) + "\n")
            for done, table in enumerate(tables, 1):
                count = _export_table(admin, ts, table["name"], archive, progress, total)
                total += count
                progress.note(
                    f"tables {done}/{len(tables)}: {table['name']} ({count} documents; "
                    f"{total} written)"
                )
            files: list[dict[str, Any]] = []
            _export_table(admin, ts, STORAGE, archive, progress, total, keep=files)
            if include_files:
                _export_files(admin, files, archive, progress)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    what = f"{len(files)} files" + ("" if include_files else " (rows only)")
    print(f"exported {len(tables)} tables, {total} documents, {what} at ts {ts} to {path}")
    return str(path)


def _export_files(
    admin: Admin, files: list[dict[str, Any]], archive: zipfile.ZipFile, progress: Progress
) -> None:
    """Each file's bytes as ``_storage/<id>``, stored uncompressed (most files are compressed
    already) and checked against the row's sha256 as they stream."""
    total = sum(int(f["size"]) for f in files)
    written = 0
    for done, row in enumerate(files, 1):
        info = zipfile.ZipInfo(f"{STORAGE}/{row['_id']}", time.localtime()[:6])
        info.compress_type = zipfile.ZIP_STORED
        digest = hashlib.sha256()
        route = f"export/blob?sha={row['sha256']}"
        with (
            admin.open("GET", route, timeout=max(admin.timeout, 600)) as stream,
            archive.open(info, "w", force_zip64=int(row["size"]) >= ZIP64_LIMIT) as member,
        ):
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                member.write(chunk)
                written += len(chunk)
                progress.live(f"files {done}/{len(files)}: {written}/{total} bytes")
        if digest.hexdigest() != row["sha256"]:
            raise CommandError(
                f"file {row['_id']}: the server sent bytes whose sha256 is {digest.hexdigest()}, "
                f"not {row['sha256']}; its blob store is damaged"
            )
    progress.note(f"files: {len(files)} ({written} bytes)")


def _export_table(
    admin: Admin,
    ts: str,
    name: str,
    archive: zipfile.ZipFile,
    progress: Progress,
    before: int,
    keep: list[dict[str, Any]] | None = None,
) -> int:
    """Stream ``name`` into ``<name>/documents.jsonl``; with ``keep``, also collect its rows."""
    query = urllib.parse.urlencode({"table": name, "ts": ts})
    count = 0
    with (
        admin.open("GET", f"export/documents?{query}", timeout=max(admin.timeout, 600)) as stream,
        archive.open(f"{name}/documents.jsonl", "w") as member,
    ):
        for line in stream:
            if line.startswith(b'{"$error"'):
                error = json.loads(line)["$error"]
                raise CommandError(f"exporting {name}: {error['code']}: {error['message']}")
            member.write(line)
            if keep is not None:
                keep.append(json.loads(line))
            count += 1
            if count % 1000 == 0:
                progress.live(f"{name}: {count} documents ({before + count} written)")
    return count


def import_zip(admin: Admin, file: Path, mode: str, progress: Progress) -> dict[str, Any]:
    """Check ``file`` locally, upload it and apply it; returns the server's report."""
    try:
        with zipfile.ZipFile(file) as archive:
            snapshot = open_snapshot(archive)
    except zipfile.BadZipFile as exc:
        raise CommandError(f"{file}: not a readable ZIP file ({exc})", 2) from None
    except LivebaseError as exc:
        raise CommandError(f"{file}: {exc.message}", 2) from None
    names = ", ".join(t.name for t in snapshot.tables) or "none"
    progress.note(f"{file}: tables {names}")
    size = file.stat().st_size
    upload = secrets.token_hex(16)
    sent = 0
    with file.open("rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk and sent:
                break
            admin.json("POST", f"import/upload?id={upload}&offset={sent}", chunk)
            sent += len(chunk)
            progress.live(f"uploading {sent}/{size} bytes")
            if not chunk:
                break
    progress.note(f"uploaded {size} bytes; importing (one transaction)...")
    report: dict[str, Any] = admin.json(
        "POST", f"import/apply?id={upload}&mode={mode}", b"", timeout=max(admin.timeout, 3600)
    )
    return report


def print_report(report: dict[str, Any]) -> None:
    for name, count in report["tables"].items():
        line = f"  {name}: {count} documents"
        if name in report.get("renumbered", {}):
            old, new = report["renumbered"][name]
            line += f" (table number {old} here is {new}: ids carried over, references kept)"
        print(line)
    if report.get("files"):
        print(f"  _storage: {report['files']} files ({report.get('fileBytes', 0)} bytes copied)")
    for note in report.get("skipped", []):
        print(f"  skipped {note}")
    if report.get("replaced"):
        print(f"  replaced {report['replaced']} existing documents")
    print(f"imported {report['imported']} documents into {len(report['tables'])} tables")
