"""The file endpoints: ``POST /api/storage/upload?token=...`` (Convex's upload flow: the raw bytes
in the body, ``Content-Type`` kept as the file's; answers ``{"storageId": ...}``) and
``GET /api/storage/<id>?token=...`` (the URL ``ctx.storage.get_url`` gives: ``ETag``,
``If-None-Match``, ``Range`` with one range or several (``multipart/byteranges``); streamed from
the blob store in 1 MiB chunks).

An upload's body never sits in memory: the HTTP server hands it, as it arrives, to the sink
``body_sink`` gives for the upload path (a ``BlobWriter``, which hashes it into a temporary file).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

from livebase.errors import LivebaseError
from livebase.files.blobs import BlobWriter, stream_blob
from livebase.files.service import (
    FILE_PREFIX,
    UPLOAD_PATH,
    FileError,
    FileNotFoundError_,
    FileService,
)
from livebase.httpapi.api import error_response
from livebase.httpserver import BodySink, Request, Response

_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_CONTENT_TYPE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_RANGES = 16
"""Ranges answered in one multipart response; a request for more gets the whole file."""


class _Refused:
    """The sink of an upload refused before its body: drops the bytes, keeps the reason."""

    def __init__(self, error: LivebaseError, limit: int) -> None:
        self.error = error
        self.limit = limit

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass


def _token(query: str) -> str:
    values = parse_qs(query).get("token")
    return values[0] if values else ""


def is_file_path(path: str) -> bool:
    return path.startswith(FILE_PREFIX)


class FileEndpoints:
    def __init__(self, service: FileService) -> None:
        self.service = service

    def body_sink(self, method: str, target: str, headers: dict[str, str]) -> BodySink | None:
        """The HTTP server's hook: an upload's body goes straight to a blob writer."""
        if method != "POST":
            return None
        parts = urlsplit(target)
        if parts.path.rstrip("/") != UPLOAD_PATH:
            return None
        service = self.service
        try:
            service.check_upload_token(_token(parts.query), service.engine.runtime.time_ns() / 1e6)
        except LivebaseError as exc:
            return _Refused(exc, service.max_upload)
        return service.blobs.writer(service.max_upload)

    async def __call__(self, request: Request, path: str) -> Response:
        try:
            if path.rstrip("/") == UPLOAD_PATH:
                if request.method != "POST":
                    raise FileError(
                        "upload with POST (the bytes as the body)", code="MethodNotAllowed"
                    )
                return await self._upload(request)
            if request.method not in ("GET", "HEAD"):
                raise FileError("files are read with GET", code="MethodNotAllowed")
            return await self._download(request, path[len(FILE_PREFIX) :])
        except LivebaseError as exc:
            if isinstance(request.sink, BlobWriter):
                request.sink.abort()
            return error_response(exc)

    async def _upload(self, request: Request) -> Response:
        service = self.service
        sink = request.sink
        if isinstance(sink, _Refused):
            raise sink.error
        content_type = request.headers.get("content-type", "").strip() or None
        if content_type is not None and (
            len(content_type) > 256 or not _CONTENT_TYPE.match(content_type)
        ):
            raise FileError(
                f"Content-Type {content_type[:100]!r} is not a media type (type/subtype)",
                code="InvalidContentType",
            )
        row = service.check_upload_token(
            _token(request.query), service.engine.runtime.time_ns() / 1e6
        )
        if not isinstance(sink, BlobWriter):  # not streamed here (an ASGI server buffered it)
            if len(request.body) > service.max_upload:
                raise FileError(
                    f"the upload is larger than {service.max_upload} bytes",
                    code="RequestTooLarge",
                )
            sink = service.blobs.writer(service.max_upload)
            sink.write(request.body)
        size = sink.size
        sha = await asyncio.to_thread(sink.commit)
        storage_id = await service.add_file(sha, size, content_type, upload_row=row)
        body = json.dumps({"storageId": storage_id}).encode()
        return Response(200, body)

    async def _download(self, request: Request, storage_id: str) -> Response:
        service = self.service
        not_found = FileNotFoundError_("no such file (deleted, or the URL is wrong)")
        if not _ID.match(storage_id):
            raise FileError("a file URL is /api/storage/<storage id>", code="InvalidFileUrl")
        if not service.check_file_token(storage_id, _token(request.query)):
            raise not_found
        row = service.lookup(storage_id)
        if row is None or not await asyncio.to_thread(service.blobs.exists, row["sha256"]):
            raise not_found
        sha, size = row["sha256"], int(row["size"])
        etag = f'"{sha}"'
        content_type = row.get("contentType") or "application/octet-stream"
        headers = [
            ("etag", etag),
            ("accept-ranges", "bytes"),
            ("cache-control", "private, max-age=2592000, immutable"),
            # A page on another origin may read these (fetch hides them otherwise).
            ("access-control-expose-headers", "etag, content-length, content-range, accept-ranges"),
        ]
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(304, b"", content_type, headers)
        start, end, status = 0, size, 200
        spec = request.headers.get("range")
        if spec is not None and request.headers.get("if-range", etag) == etag:
            wanted = parse_ranges(spec, size)
            if wanted == "unsatisfiable":
                headers.append(("content-range", f"bytes */{size}"))
                return Response(416, b"", content_type, headers)
            if isinstance(wanted, list) and len(wanted) > 1:
                return _multipart(request, service, sha, size, content_type, headers, wanted)
            if isinstance(wanted, list):
                (start, end), status = wanted[0], 206
                headers.append(("content-range", f"bytes {start}-{end - 1}/{size}"))
        if request.method == "HEAD" or end == start:
            return Response(status, b"", content_type, headers)
        stream = stream_blob(service.blobs, sha, start, end)
        return Response(status, b"", content_type, headers, stream=stream, length=end - start)


def parse_range(spec: str, size: int) -> tuple[int, int] | str | None:
    """One ``bytes=`` range as (start, end exclusive); None to send the whole file (a header
    this does not understand); ``"unsatisfiable"`` for a range past the end."""
    match = _RANGE.match(spec.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size if not last else min(size, int(last) + 1)
    if end <= start:
        return None
    return start, end


def parse_ranges(spec: str, size: int) -> list[tuple[int, int]] | str | None:
    """The ``bytes=`` ranges of a ``Range`` header (RFC 9110 §14.2), sorted, with overlapping
    and adjacent ones merged; None to send the whole file (a header this does not understand,
    or more than ``MAX_RANGES`` ranges, as §14.2 lets a server do); ``"unsatisfiable"`` when
    none of them is within the file."""
    unit, _, sets = spec.strip().partition("=")
    if unit.strip().lower() != "bytes" or not sets.strip():
        return None
    parts = [part.strip() for part in sets.split(",") if part.strip()]
    if not parts or len(parts) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for part in parts:
        wanted = parse_range(f"bytes={part}", size)
        if wanted is None:
            return None
        if isinstance(wanted, tuple):
            ranges.append(wanted)
    if not ranges:
        return "unsatisfiable"
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _multipart(
    request: Request,
    service: FileService,
    sha: str,
    size: int,
    content_type: str,
    headers: list[tuple[str, str]],
    ranges: list[tuple[int, int]],
) -> Response:
    """A ``206`` ``multipart/byteranges`` answer (RFC 9110 §14.6), one part per range, each
    streamed from the blob store; its exact length is known before the first byte."""
    boundary = secrets.token_hex(16)
    heads = [
        (
            f"\r\n--{boundary}\r\ncontent-type: {content_type}\r\n"
            f"content-range: bytes {start}-{end - 1}/{size}\r\n\r\n"
        ).encode()
        for start, end in ranges
    ]
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = sum(len(h) for h in heads) + sum(e - s for s, e in ranges) + len(tail)
    media = f"multipart/byteranges; boundary={boundary}"
    if request.method == "HEAD":
        return Response(206, b"", media, headers)

    async def parts() -> AsyncIterator[bytes]:
        for head, (start, end) in zip(heads, ranges, strict=True):
            yield head
            async for chunk in stream_blob(service.blobs, sha, start, end):
                yield chunk
        yield tail

    return Response(206, b"", media, headers, stream=parts(), length=length)
