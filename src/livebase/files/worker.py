"""``ctx.storage`` of an action running in a worker process: every call goes to the server
(``ActionStorage.perform``), bytes in chunks of 1 MiB each way, so a large file never crosses the
pipe whole. As elsewhere, a plain ``def`` action gets values, an ``async def`` one awaits them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from livebase.files.blobs import CHUNK
from livebase.values.wire import to_wire


class _Ctx(Protocol):
    def _call_blocking(self, method: str, payload: Any) -> Any: ...


def _give(value: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return value

    async def done() -> Any:
        return value

    return done()


class WorkerStorage:
    def __init__(self, ctx: _Ctx) -> None:
        self._ctx = ctx

    def _ask(self, op: str, *args: Any) -> Any:
        return self._ctx._call_blocking("storage", (op, to_wire(list(args))))

    def get_url(self, storage_id: str) -> Any:
        return _give(self._ask("get_url", storage_id))

    def get_metadata(self, storage_id: str) -> Any:
        return _give(self._ask("get_metadata", storage_id))

    def delete(self, storage_id: str) -> Any:
        return _give(self._ask("delete", storage_id))

    def store(self, data: bytes | Iterable[bytes], content_type: str | None = None) -> Any:
        handle = self._ask("open")
        try:
            for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                for start in range(0, len(chunk), CHUNK):
                    self._ask("write", handle, bytes(chunk[start : start + CHUNK]))
        except BaseException:
            self._ask("abort", handle)
            raise
        return _give(self._ask("commit", handle, content_type))

    def get(self, storage_id: str) -> Any:
        parts: list[bytes] = []
        offset = 0
        while True:
            chunk = self._ask("read", storage_id, offset)
            if chunk is None:
                return _give(None)
            if not chunk:
                return _give(b"".join(parts))
            parts.append(chunk)
            offset += len(chunk)
