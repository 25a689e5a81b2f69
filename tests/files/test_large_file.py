"""A 300 MB file goes up and comes back down through a real server while the server's peak RSS
stays bounded: uploads are streamed to disk as they arrive, downloads read in 1 MiB chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.files import peak_rss_mib, round_trip
from tests.files.app import FILES_APP
from tests.support.apps import write_app
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SIZE = 300_000_000
HEADROOM_MIB = 64


def test_a_large_file_never_sits_in_the_servers_memory(tmp_path: Path) -> None:
    base = tmp_path
    app = write_app(base / "app", FILES_APP)
    with LivebaseServer.launch(base / "srv", app=app, env=base_env()) as server:
        assert server.process is not None
        _, peak_before = peak_rss_mib(server.process.pid)
        result = round_trip(server.url, SIZE)  # checks the sha256 of what comes back
        _, peak_after = peak_rss_mib(server.process.pid)
        assert result["bytes"] == SIZE
        assert peak_after - peak_before < HEADROOM_MIB, (peak_before, peak_after)
        blobs = list((server.data_dir / "files" / "blobs").rglob("*"))
        assert sum(p.stat().st_size for p in blobs if p.is_file()) == SIZE
        assert list((server.data_dir / "files" / "tmp").iterdir()) == []
