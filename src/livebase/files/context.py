"""``ctx.storage``: what each kind of function may do with stored files.

- queries: ``get_url(id)``, ``get_metadata(id)`` (reads of ``_storage``: reactive);
- mutations: also ``generate_upload_url()`` and ``delete(id)`` (they commit with the mutation);
- actions and HTTP routes: ``get_url``, ``get_metadata``, ``store(data, content_type=None)``,
  ``get(id)`` (the bytes, or None), ``delete(id)``. As with ``ctx.run_query``, each returns the
  value in a plain ``def`` action and must be awaited in an ``async def`` one. In an HTTP route,
  which runs on the server's event loop, the reading and writing of the bytes happens in a
  thread, so a large file stalls no other client.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from livebase.engine.transaction import Transaction
from livebase.errors import ReadOnlyError
from livebase.files.blobs import CHUNK, BlobWriter
from livebase.files.service import STORAGE, FileError, FileService, public_metadata
from livebase.values.wire import from_wire


def _service(service: FileService | None) -> FileService:
    if service is None:
        raise FileError(
            "file storage is not available here (no data folder)", code="StorageUnavailable"
        )
    return service


class QueryStorage:
    """``ctx.storage`` in a query."""

    def __init__(self, tx: Transaction, service: FileService | None) -> None:
        self._tx = tx
        self._service = service

    def get_url(self, storage_id: str) -> str | None:
        """A URL anyone holding it can download the file from (until it is deleted), or None
        if there is no such file."""
        return _service(self._service).get_url(self._tx, storage_id)

    def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        """``{storageId, sha256, size, contentType, ...}`` or None (``ctx.db.system.get(id)``
        gives the ``_storage`` document itself)."""
        row = _service(self._service).row(self._tx, storage_id)
        return None if row is None else public_metadata(row)

    def generate_upload_url(self) -> str:
        raise ReadOnlyError("a query cannot generate an upload URL; do it in a mutation")

    def delete(self, storage_id: str) -> None:
        raise ReadOnlyError("a query cannot delete a file; do it in a mutation or an action")


class MutationStorage(QueryStorage):
    """``ctx.storage`` in a mutation."""

    def generate_upload_url(self) -> str:
        """A single-use URL, valid one hour, to POST a file's bytes to; it answers
        ``{"storageId": ...}``."""
        return _service(self._service).upload_url(self._tx)

    def delete(self, storage_id: str) -> None:
        """Delete the file (its URLs stop working when this mutation commits)."""
        _service(self._service).delete(self._tx, storage_id)


def for_call(tx: Transaction, service: FileService | None, kind: str) -> QueryStorage:
    return MutationStorage(tx, service) if kind == "mutation" else QueryStorage(tx, service)


Commit = Callable[[Callable[[Transaction], Any]], Any]
"""``ActionCtx._commit``: runs a transaction body on the server's loop; gives the value, or an
awaitable of it in an ``async def`` action."""


def _then(result: Any, fn: Callable[[Any], Any]) -> Any:
    if inspect.isawaitable(result):

        async def chained() -> Any:
            return fn(await result)

        return chained()
    return fn(result)


class ActionStorage:
    """``ctx.storage`` in an action or an HTTP route."""

    def __init__(
        self,
        service: FileService | None,
        commit: Commit,
        on_loop: Callable[[], bool] = lambda: False,
    ) -> None:
        """``on_loop``: whether the caller runs on the server's event loop (an HTTP route),
        where the file I/O of ``store`` and ``get`` goes to a thread so it holds up no one."""
        self._service = service
        self._commit = commit
        self._on_loop = on_loop
        self._writers: dict[int, BlobWriter] = {}

    def get_url(self, storage_id: str) -> Any:
        service = _service(self._service)
        return self._commit(lambda tx: service.get_url(tx, storage_id))

    def get_metadata(self, storage_id: str) -> Any:
        service = _service(self._service)

        def read(tx: Transaction) -> dict[str, Any] | None:
            row = service.row(tx, storage_id)
            return None if row is None else public_metadata(row)

        return self._commit(read)

    def delete(self, storage_id: str) -> Any:
        service = _service(self._service)
        return self._commit(lambda tx: service.delete(tx, storage_id))

    def store(self, data: bytes | Iterable[bytes], content_type: str | None = None) -> Any:
        """Store bytes (or an iterable of byte chunks, written as they come); gives the new
        storage id."""
        service = _service(self._service)
        chunks = iter([data]) if isinstance(data, bytes | bytearray) else iter(data)
        if self._on_loop():

            async def stored() -> Any:
                sha, size = await asyncio.to_thread(service.blobs.put, chunks, service.max_upload)
                return await self._commit(lambda tx: _insert(tx, sha, size, content_type))

            return stored()
        sha, size = service.blobs.put(chunks, service.max_upload)
        return self._commit(lambda tx: _insert(tx, sha, size, content_type))

    def get(self, storage_id: str) -> Any:
        """The file's bytes, or None if there is no such file."""
        service = _service(self._service)

        def read(tx: Transaction) -> str | None:
            row = service.row(tx, storage_id)
            return None if row is None else str(row["sha256"])

        def load(sha: str | None) -> bytes | None:
            if sha is None or not service.blobs.exists(sha):
                return None
            return service.blobs.read_all(sha)

        if self._on_loop():

            async def loaded() -> bytes | None:
                return await asyncio.to_thread(load, await self._commit(read))

            return loaded()
        return _then(self._commit(read), load)

    async def perform(self, op: str, wire_args: Any) -> Any:
        """One ``ctx.storage`` call of an action in a worker process (``files.worker``), on the
        server's loop; bytes cross the pipe in chunks of at most ``CHUNK``."""
        service = _service(self._service)
        args: Any = from_wire(wire_args)
        if op in ("get_url", "get_metadata", "delete"):
            return await getattr(self, op)(*args)
        if op == "open":
            writer = service.blobs.writer(service.max_upload)
            handle = len(self._writers) + 1
            self._writers[handle] = writer
            return handle
        if op in ("write", "commit", "abort"):
            writer = self._writers[args[0]]
            if op == "write":
                writer.write(args[1])
                if writer.size > writer.limit:
                    self._writers.pop(args[0]).abort()
                    raise FileError(
                        f"the file is larger than {writer.limit} bytes", code="FileTooLarge"
                    )
                return None
            del self._writers[args[0]]
            if op == "abort":
                writer.abort()
                return None
            size, sha = writer.size, await asyncio.to_thread(writer.commit)
            return await self._commit(lambda tx: _insert(tx, sha, size, args[1]))
        if op == "read":
            storage_id, offset = args
            row = await self._commit(lambda tx: service.row(tx, storage_id))
            if row is None:
                return None
            return await asyncio.to_thread(_read_chunk, service, row["sha256"], offset)
        raise FileError(f"unknown storage call {op!r}")

    def close(self) -> None:
        """The action ended: drop what a worker left half-written."""
        for writer in self._writers.values():
            writer.abort()
        self._writers.clear()


def _insert(tx: Transaction, sha: str, size: int, content_type: str | None) -> str:
    doc: dict[str, Any] = {"sha256": sha, "size": size}
    if content_type:
        doc["contentType"] = content_type
    return tx.insert(STORAGE, doc)


def _read_chunk(service: FileService, sha: str, offset: int) -> bytes | None:
    if not service.blobs.exists(sha):
        return None
    return next(service.blobs.read(sha, offset, offset + CHUNK), b"")


__all__ = ["ActionStorage", "MutationStorage", "QueryStorage", "for_call"]
