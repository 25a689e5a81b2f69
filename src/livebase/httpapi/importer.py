"""``POST /api/import?table=T``: add documents to a table, admin only, all or nothing.

The body is JSON Lines (one document per line) or one JSON array, in Convex's encoded JSON
(``{"$integer": ...}`` for int64, ``{"$bytes": ...}`` for bytes). A document may carry its
``_id`` (an id of this table) and ``_creationTime``, which are kept. Every document is checked
against the schema and every trigger on the table runs, in one transaction: either all of them are
written or none, and the error names the line that was wrong. ``livebase import`` sends big files
in batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from livebase.errors import (
    BadRequestError,
    InvalidJsonError,
    LivebaseError,
    UnauthenticatedError,
)
from livebase.httpapi.api import error_response, is_admin, json_response
from livebase.httpserver import Request, Response
from livebase.values.wire import from_wire, loads

Importer = Callable[[str, list[dict[str, Any]]], Awaitable[int]]


def parse_documents(body: bytes) -> list[dict[str, Any]]:
    if body.startswith(b"PK\x03\x04"):
        raise BadRequestError(
            "this is a ZIP file: import a snapshot ZIP with `livebase import FILE.zip` or POST "
            "it to /api/import without ?table="
        )
    text = body.strip()
    if text.startswith(b"["):
        try:
            items = loads(text)
        except ValueError as exc:
            raise InvalidJsonError(f"the body is not a JSON array: {exc}") from None
        lines = list(enumerate(items, 1))
    else:
        lines = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append((number, loads(line)))
            except ValueError as exc:
                raise InvalidJsonError(f"line {number} is not JSON: {exc}") from None
    documents: list[dict[str, Any]] = []
    for number, item in lines:
        if not isinstance(item, dict):
            raise BadRequestError(f"document {number} is not a JSON object")
        try:
            doc = from_wire(item)
        except LivebaseError as exc:
            raise BadRequestError(f"document {number}: {exc.message}") from None
        assert isinstance(doc, dict)
        documents.append(doc)
    return documents


async def handle_import(request: Request, admin_key: str, importer: Importer) -> Response:
    try:
        if not is_admin(request.headers.get("authorization"), admin_key):
            raise UnauthenticatedError(
                "importing needs the admin key: Authorization: Convex <admin key>"
            )
        table = (parse_qs(request.query).get("table") or [""])[0]
        if not table:
            raise BadRequestError("say which table to import into: /api/import?table=NAME")
        documents = parse_documents(request.body)
        imported = await importer(table, documents)
    except LivebaseError as exc:
        return error_response(exc)
    return json_response(200, {"table": table, "imported": imported})
