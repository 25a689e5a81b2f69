"""``ctx.storage`` in the test kit (``livebase.testing``): an app's file functions run there as on
a server, and ``t.run`` gets a mutation's ``ctx.storage``."""

from __future__ import annotations

from pathlib import Path

from livebase.testing.harness import AppHarness
from tests.files.app import FILES_APP
from tests.support.apps import write_app


def test_file_functions_in_the_test_kit(tmp_path: Path) -> None:
    t = AppHarness(write_app(tmp_path / "app", FILES_APP), tmp_path / "data")
    try:
        stored = t.action("files:store_text", {"text": "from the kit"})
        assert t.action("files:read_text", {"id": stored["id"]}) == "from the kit"
        meta = t.query("files:meta", {"id": stored["id"]})
        assert meta["size"] == len("from the kit") and meta["contentType"] == "text/plain"
        assert "/api/storage/upload?token=" in t.mutation("files:upload_url")
        url = t.run(lambda ctx: ctx.storage.get_url(stored["id"]))
        assert url == t.query("files:url", {"id": stored["id"]})
        t.run(lambda ctx: ctx.storage.delete(stored["id"]))
        assert t.query("files:meta", {"id": stored["id"]}) is None
    finally:
        t.close()
