"""File storage (issue 14): the ``_storage`` system table, upload URLs, file URLs and the sweep.

A stored file is a ``_storage`` row ``{sha256, size, contentType}`` (plus ``_id`` and
``_creationTime``) whose bytes are the blob of that sha256 (``livebase.files.blobs``). The row is
written only after the bytes are in place, so there is never a row without bytes.

An upload URL (``ctx.storage.generate_upload_url()`` in a mutation) names a row of the
``_upload_urls`` system table, written in that mutation, and is signed with the deployment's files
key (kept in the database, so every node accepts it). Using it deletes that row in the same
transaction as the new ``_storage`` row, which makes it single-use; it expires after an hour.
A file URL (``ctx.storage.get_url``) is ``/api/storage/<id>?token=<signature of the id>``: a bearer
URL, valid for as long as the file exists.

What the sweep (every ``SWEEP_SECONDS``) removes: upload URLs that expired unused, partial
uploads nothing has written to for ``PARTIAL_UPLOAD_SECONDS`` (a client that went away), and blobs
no ``_storage`` row names for ``BLOB_GRACE_SECONDS`` (deleted files, failed uploads). Stored
files themselves stay until ``ctx.storage.delete``, as in Convex.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livebase.engine.database import Engine
from livebase.engine.transaction import Document, Transaction
from livebase.errors import LivebaseError
from livebase.files.blobs import BlobStore
from livebase.files.s3 import open_blob_store
from livebase.schema.definition import TableDefinition

log = logging.getLogger("livebase.files")

STORAGE = "_storage"
UPLOAD_URLS = "_upload_urls"
BY_SHA256 = "by_sha256"
BY_EXPIRY = "by_expiry"
KEY_GLOBAL = "files_key"
UPLOAD_URL_SECONDS = 3600.0
"""How long an upload URL is valid (Convex: one hour)."""
SWEEP_SECONDS = 600.0
PARTIAL_UPLOAD_SECONDS = 3600.0
BLOB_GRACE_SECONDS = 3600.0
DEFAULT_MAX_UPLOAD = 8 << 30
UPLOAD_PATH = "/api/storage/upload"
FILE_PREFIX = "/api/storage/"


class FileError(LivebaseError):
    code = "FileError"
    http_status = 400


class UploadUrlError(FileError):
    code = "InvalidUploadUrl"
    http_status = 401


class FileNotFoundError_(FileError):
    code = "FileNotFound"
    http_status = 404


def system_tables() -> dict[str, TableDefinition]:
    storage = TableDefinition(None)
    storage.indexes[BY_SHA256] = ("sha256",)
    uploads = TableDefinition(None)
    uploads.indexes[BY_EXPIRY] = ("expiresAt",)
    return {STORAGE: storage, UPLOAD_URLS: uploads}


def max_upload_from_env() -> int:
    text = os.environ.get("LIVEBASE_MAX_UPLOAD_BYTES")
    if not text:
        return DEFAULT_MAX_UPLOAD
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"LIVEBASE_MAX_UPLOAD_BYTES must be a whole number of bytes: {text!r}"
        ) from None
    if value <= 0:
        raise ValueError("LIVEBASE_MAX_UPLOAD_BYTES must be positive")
    return value


def load_key(engine: Engine) -> bytes:
    """The files key: ``LIVEBASE_FILES_KEY``, else kept in the database (made on first use)."""
    env = os.environ.get("LIVEBASE_FILES_KEY")
    if env:
        return env.encode()
    with engine.storage.reader() as r:
        key = r.get_global(KEY_GLOBAL)
    if not key:
        with engine.storage.writer() as w:
            key = w.get_global(KEY_GLOBAL)
            if not key:
                key = secrets.token_hex(32)
                w.set_global(KEY_GLOBAL, key)
    return key.encode()


def public_metadata(row: Document) -> dict[str, Any]:
    """A ``_storage`` row as ``get_metadata`` gives it (Convex's shape: ``storageId`` too)."""
    meta = {
        "_id": row["_id"],
        "_creationTime": row["_creationTime"],
        "storageId": row["_id"],
        "sha256": row["sha256"],
        "size": row["size"],
        "contentType": row.get("contentType"),
    }
    return meta


class FileService:
    """One deployment's files: its blob store, its key and its base URL."""

    def __init__(
        self,
        engine: Engine,
        root: Path,
        *,
        base_url: Callable[[], str],
        max_upload: int | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs or open_blob_store(root)
        self.base_url = base_url
        self.max_upload = max_upload_from_env() if max_upload is None else max_upload
        self.key = load_key(engine)  # now: inside a transaction the storage is not free

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()[:40]

    # -- inside transactions --------------------------------------------------------------------

    def upload_url(self, tx: Transaction) -> str:
        expires = tx.now_ms + UPLOAD_URL_SECONDS * 1000
        row = tx.insert(UPLOAD_URLS, {"expiresAt": expires})
        exp = int(expires)
        token = f"{row}.{exp}.{self._sign(f'upload:{row}:{exp}')}"
        return f"{self.base_url()}{UPLOAD_PATH}?token={token}"

    def row(self, tx: Transaction, storage_id: Any) -> Document | None:
        if not isinstance(storage_id, str) or tx.normalize_id(STORAGE, storage_id) is None:
            raise FileError(
                f"{str(storage_id)[:100]!r} is not a storage id (an Id<'_storage'>)",
                code="InvalidStorageId",
            )
        return tx.get(storage_id)

    def file_url(self, storage_id: str) -> str:
        token = self._sign("file:" + storage_id)
        return f"{self.base_url()}{FILE_PREFIX}{storage_id}?token={token}"

    def get_url(self, tx: Transaction, storage_id: Any) -> str | None:
        row = self.row(tx, storage_id)
        return None if row is None else self.file_url(row["_id"])

    def delete(self, tx: Transaction, storage_id: Any) -> None:
        row = self.row(tx, storage_id)
        if row is None:
            raise FileNotFoundError_(f"no stored file {storage_id!r} (deleted already?)")
        tx.delete(row["_id"])  # its blob goes with the sweep, once nothing names it

    # -- tokens ---------------------------------------------------------------------------------

    def check_upload_token(self, token: str, now_ms: float) -> str:
        """The upload URL row a token names; raises ``UploadUrlError`` saying what is wrong."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise UploadUrlError("this upload URL is malformed: use one from generate_upload_url()")
        row, exp, sig = parts
        if not hmac.compare_digest(sig, self._sign(f"upload:{row}:{exp}")):
            raise UploadUrlError("this upload URL's signature is not valid for this deployment")
        if int(exp) < now_ms:
            raise UploadUrlError(
                "this upload URL has expired (they last one hour): generate a new one",
                code="UploadUrlExpired",
            )
        return row

    def check_file_token(self, storage_id: str, token: str) -> bool:
        return hmac.compare_digest(token, self._sign("file:" + storage_id))

    # -- writes ---------------------------------------------------------------------------------

    async def add_file(
        self, sha: str, size: int, content_type: str | None, upload_row: str | None = None
    ) -> str:
        """Write the ``_storage`` row of bytes already in the blob store; with ``upload_row``,
        use up that upload URL in the same transaction."""

        def write(tx: Transaction) -> str:
            if upload_row is not None:
                if tx.normalize_id(UPLOAD_URLS, upload_row) is None:
                    raise UploadUrlError("this upload URL names no upload")
                row = tx.get(upload_row)
                if row is None:
                    raise UploadUrlError(
                        "this upload URL was used already (each is single-use) or has expired",
                        code="UploadUrlUsed",
                    )
                if row["expiresAt"] < tx.now_ms:
                    raise UploadUrlError(
                        "this upload URL has expired (they last one hour): generate a new one",
                        code="UploadUrlExpired",
                    )
                tx.delete(upload_row)
            doc: dict[str, Any] = {"sha256": sha, "size": size}
            if content_type:
                doc["contentType"] = content_type
            return tx.insert(STORAGE, doc)

        outcome = await self.engine.mutate(write)
        return str(outcome.value)

    def lookup(self, storage_id: str) -> Document | None:
        """The ``_storage`` row (latest commit; on the event loop's thread), or None."""

        def read(tx: Transaction) -> Document | None:
            if tx.normalize_id(STORAGE, storage_id) is None:
                return None
            return tx.get(storage_id)

        return self.engine.read(read)[0]

    # -- the sweep ------------------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Remove expired upload URLs, stale partial uploads and blobs nothing names."""
        now_ms = self.engine.runtime.time_ns() / 1e6

        def expired(tx: Transaction) -> int:
            rows = (
                tx.query(UPLOAD_URLS)
                .with_index(BY_EXPIRY, lambda q: q.lt("expiresAt", now_ms))
                .take(1000)
            )
            for row in rows:
                tx.delete(row["_id"])
            return len(rows)

        urls = int((await self.engine.mutate(expired)).value)
        partial = await asyncio.to_thread(self.blobs.sweep_temp, PARTIAL_UPLOAD_SECONDS)
        before = time.time() - BLOB_GRACE_SECONDS
        listed = await asyncio.to_thread(lambda: list(self.blobs.list_blobs()))
        old = [sha for sha, mtime in listed if mtime < before]
        blobs = 0
        for sha in old:

            def named_by(tx: Transaction, sha: str = sha) -> Document | None:
                index = tx.query(STORAGE).with_index(BY_SHA256, lambda q: q.eq("sha256", sha))
                return index.first()

            named = self.engine.read(named_by)[0]
            if named is None and await asyncio.to_thread(self.blobs.delete_if_older, sha, before):
                blobs += 1
        return {"upload_urls": urls, "partial_uploads": partial, "blobs": blobs}

    async def sweep_forever(self) -> None:
        while True:
            try:
                removed = await self.sweep()
                if any(removed.values()):
                    log.info("files sweep removed %s", removed)
            except LivebaseError as exc:
                log.warning("files sweep failed: %s", exc.message)
            await asyncio.sleep(SWEEP_SECONDS)
