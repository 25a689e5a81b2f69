"""Where file bytes live: ``LocalBlobStore`` keeps them content-addressed under the data folder.

A blob is named by the sha256 of its bytes (``blobs/ab/abcdef...``). An upload is streamed into a
temporary file under ``tmp/`` while it is hashed, then renamed into place in one step, so a reader
never sees half a file; identical files share one blob. A blob no ``_storage`` row names any more
is removed by the periodic sweep (``FileService.sweep``), not at ``delete`` time: another upload of
the same bytes may be about to reference it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def is_sha256(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


class BlobWriter:
    """One blob being written: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._store = store
        self.temp = store.tmp / f"{secrets.token_hex(12)}.part"
        self._file = open(self.temp, "xb")
        self.done = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._hash.update(data)
        self._file.write(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> str:
        """Move the bytes into their content-addressed place; gives the sha256."""
        self.done = True
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha = self.sha256
        try:
            self._store.place(self.temp, sha)
        finally:
            self.temp.unlink(missing_ok=True)
        return sha

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self._file.close()
        self.temp.unlink(missing_ok=True)


class BlobStore(ABC):
    """What every blob store does; uploads are always hashed into a local temporary folder
    (``tmp``) first, then ``place``d. Subclasses: ``LocalBlobStore``, ``S3BlobStore``."""

    tmp: Path

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self, limit)

    @abstractmethod
    def place(self, temp: Path, sha: str) -> None:
        """Make the finished temporary file ``temp`` the blob ``sha`` (it may exist already:
        then only refresh its age, so the sweep leaves it alone)."""

    def put(self, chunks: Iterator[bytes] | bytes, limit: int) -> tuple[str, int]:
        """Store bytes (or an iterator of chunks); gives (sha256, size)."""
        writer = self.writer(limit)
        try:
            for chunk in [chunks] if isinstance(chunks, bytes | bytearray) else chunks:
                writer.write(bytes(chunk))
                if writer.size > limit:
                    raise ValueError(f"the file is larger than {limit} bytes")
            return writer.commit(), writer.size
        except BaseException:
            writer.abort()
            raise

    @abstractmethod
    def exists(self, sha: str) -> bool: ...

    @abstractmethod
    def read(
        self, sha: str, start: int = 0, end: int | None = None
    ) -> Generator[bytes, None, None]: ...

    def read_all(self, sha: str) -> bytes:
        return b"".join(self.read(sha))

    @abstractmethod
    def list_blobs(self) -> Iterator[tuple[str, float]]: ...

    @abstractmethod
    def delete_if_older(self, sha: str, before: float) -> bool: ...

    def sweep_temp(self, older_than_s: float) -> int:
        """Remove partial uploads nothing has written to for ``older_than_s`` seconds."""
        cutoff = time.time() - older_than_s
        removed = 0
        for part in self.tmp.iterdir():
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


async def stream_blob(
    store: BlobStore, sha: str, start: int = 0, end: int | None = None
) -> AsyncIterator[bytes]:
    """The bytes ``start:end`` of a blob, each chunk read in a thread (the loop never waits on
    the disk or the bucket)."""
    reader = store.read(sha, start, end)
    try:
        while chunk := await asyncio.to_thread(next, reader, b""):
            yield chunk
    finally:
        reader.close()


def check_sha256(sha: str) -> str:
    if not is_sha256(sha):  # never a path or key built from anything but 64 hex digits
        raise ValueError(f"not a sha256: {sha[:80]!r}")
    return sha


class LocalBlobStore(BlobStore):
    """Blobs in a folder (``<data>/files``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        return self.blobs / sha[:2] / check_sha256(sha)

    def place(self, temp: Path, sha: str) -> None:
        final = self.path(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.utime(final)
        else:
            os.replace(temp, final)

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def read(
        self, sha: str, start: int = 0, end: int | None = None
    ) -> Generator[bytes, None, None]:
        """Bytes ``start`` to ``end`` (exclusive; None: the end), in chunks of ``CHUNK``."""
        with open(self.path(sha), "rb") as f:
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                data = f.read(CHUNK if left is None else min(CHUNK, left))
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    def read_all(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        """Every blob as (sha256, modification time)."""
        for folder in self.blobs.iterdir():
            if folder.is_dir():
                for blob in folder.iterdir():
                    if is_sha256(blob.name):
                        yield blob.name, blob.stat().st_mtime

    def delete_if_older(self, sha: str, before: float) -> bool:
        path = self.path(sha)
        try:
            if path.stat().st_mtime >= before:
                return False
            path.unlink()
            return True
        except FileNotFoundError:
            return False
