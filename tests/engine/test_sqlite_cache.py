"""``LIVEBASE_SQLITE_CACHE_MIB`` sizes SQLite's page cache on both of the embedded database's
connections, for a deployment started the usual way; a value below 1 is refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livebase.functions.loader import unload
from livebase.server import Deployment
from tests.support.apps import write_app

APP = {"schema.py": "from livebase import define_schema\n\nschema = define_schema({})\n"}


def open_deployment(tmp_path: Path) -> Deployment:
    return Deployment(write_app(tmp_path / "app", APP), tmp_path / "data", durability="normal")


def test_the_page_cache_follows_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEBASE_SQLITE_CACHE_MIB", "3")
    deployment = open_deployment(tmp_path)
    try:
        storage: Any = deployment.engine.storage
        for conn in (storage._write_conn, storage._read_conn):
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -3 * 1024
    finally:
        deployment.close()
        unload(deployment.app)


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_bad_cache_size_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LIVEBASE_SQLITE_CACHE_MIB", value)
    with pytest.raises(ValueError, match="LIVEBASE_SQLITE_CACHE_MIB"):
        open_deployment(tmp_path)
