"""What the files sweep removes (expired upload URLs, stale partial uploads, blobs no
``_storage`` row names) and what it keeps (every stored file), on SQLite and PostgreSQL; and the
upload URL's own checks (expiry, signature) without a server."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from livebase.files import service as files_service
from livebase.files.service import STORAGE, UPLOAD_URLS, UploadUrlError
from livebase.server import Deployment
from tests.files.app import FILES_APP
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    app = write_app(tmp_path / "app", FILES_APP)
    with ExitStack() as stack:
        db = None if request.param == "sqlite" else stack.enter_context(fresh_database_url("fs"))
        dep = Deployment(app, tmp_path / "data", db=db)
        dep.open()
        yield dep
        dep.close()


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_the_sweep_removes_orphans_and_keeps_stored_files(deployment: Deployment) -> None:
    files = deployment.files
    engine = deployment.engine
    kept_sha, _ = files.blobs.put(b"a stored file", 1000)
    orphan_sha, _ = files.blobs.put(b"nothing names this", 1000)
    stored = asyncio.run(files.add_file(kept_sha, 13, "text/plain"))
    for sha in (kept_sha, orphan_sha):
        _age(files.blobs.path(sha), files_service.BLOB_GRACE_SECONDS + 60)
    fresh_orphan, _ = files.blobs.put(b"uploaded a moment ago", 1000)
    stale = files.blobs.tmp / "stale.part"
    stale.write_bytes(b"half an upload")
    _age(stale, files_service.PARTIAL_UPLOAD_SECONDS + 60)
    active = files.blobs.tmp / "active.part"
    active.write_bytes(b"being written")

    def urls(tx):  # type: ignore[no-untyped-def]
        expired = tx.insert(UPLOAD_URLS, {"expiresAt": tx.now_ms - 1})
        valid = tx.insert(UPLOAD_URLS, {"expiresAt": tx.now_ms + 3_600_000})
        return expired, valid

    expired, valid = asyncio.run(engine.mutate(urls)).value
    removed = asyncio.run(files.sweep())
    assert removed == {"upload_urls": 1, "partial_uploads": 1, "blobs": 1}
    assert engine.read(lambda tx: tx.get(expired))[0] is None
    assert engine.read(lambda tx: tx.get(valid))[0] is not None
    assert engine.read(lambda tx: tx.get(stored))[0]["sha256"] == kept_sha
    assert files.blobs.exists(kept_sha) and files.blobs.exists(fresh_orphan)
    assert not files.blobs.exists(orphan_sha)
    assert not stale.exists() and active.exists()
    rows = engine.read(lambda tx: tx.query(STORAGE).collect())[0]
    assert [r["_id"] for r in rows] == [stored]


def test_an_upload_url_checks_its_signature_and_expiry(deployment: Deployment) -> None:
    files = deployment.files
    url = asyncio.run(deployment.engine.mutate(files.upload_url)).value
    token = url.split("token=")[1]
    row, exp, _ = token.split(".")
    assert files.check_upload_token(token, float(exp) - 1) == row
    with pytest.raises(UploadUrlError) as expired:
        files.check_upload_token(token, float(exp) + 1)
    assert expired.value.code == "UploadUrlExpired" and "expired" in expired.value.message
    longer = f"{row}.{int(exp) + 3_600_000}.{token.split('.')[2]}"
    with pytest.raises(UploadUrlError, match="signature"):
        files.check_upload_token(longer, float(exp))


def test_a_blob_path_is_only_ever_a_sha256(deployment: Deployment) -> None:
    for bad in ("../../data.sqlite3", "a" * 63, "G" * 64, "/etc/passwd"):
        with pytest.raises(ValueError):
            deployment.files.blobs.path(bad)
