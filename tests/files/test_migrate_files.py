"""``livebase migrate --files-from A --files-to B``: the ``_storage`` rows go with the database and
the bytes with them (sha256 checked), SQLite to PostgreSQL; a corrupt blob is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from livebase.server import DB_FILE, Deployment
from tests.cli.conftest import livebase_cli
from tests.files.app import FILES_APP
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url


def test_migrate_copies_stored_files(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", FILES_APP)
    source = Deployment(app, tmp_path / "a")
    source.open()
    sha, size = source.files.blobs.put(b"bytes that move", 1000)
    storage_id = asyncio.run(source.files.add_file(sha, size, "text/plain"))
    bad_sha, _ = source.files.blobs.put(b"will be corrupted", 1000)
    source.close()
    with fresh_database_url("mf") as pg_url:
        done = livebase_cli(
            "migrate", "--from", f"sqlite://{tmp_path / 'a' / DB_FILE}", "--to", pg_url,
            "--files-from", str(tmp_path / "a"), "--files-to", str(tmp_path / "b"),
            cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Files: 2 copied" in done.stdout
        copy = Deployment(app, tmp_path / "b", db=pg_url)
        copy.open()
        try:
            row = copy.files.lookup(storage_id)
            assert row is not None and row["sha256"] == sha
            assert copy.files.blobs.read_all(sha) == b"bytes that move"
        finally:
            copy.close()

    (tmp_path / "a" / "files" / "blobs" / bad_sha[:2] / bad_sha).write_bytes(b"tampered")
    with fresh_database_url("mf") as pg_url:
        done = livebase_cli(
            "migrate", "--from", f"sqlite://{tmp_path / 'a' / DB_FILE}", "--to", pg_url,
            "--files-from", str(tmp_path / "a"), "--files-to", str(tmp_path / "c"),
            cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1
        assert "do not match their sha256" in done.stderr and bad_sha in done.stderr
        assert not (tmp_path / "c" / "files" / "blobs" / bad_sha[:2] / bad_sha).exists()
