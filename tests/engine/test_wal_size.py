"""The SQLite write-ahead log stays bounded under steady writes (it once grew by ~40 MB/s when
checkpoints could not reset it)."""

from __future__ import annotations

import asyncio
import os

import pytest

from livebase.engine import Engine

from .conftest import EngineFactory


@pytest.fixture
def backend() -> str:
    """The write-ahead log file is SQLite's; PostgreSQL manages its own WAL."""
    return "sqlite"


@pytest.mark.parametrize("durability", ["normal", "fsync-per-commit"])
def test_wal_file_stays_bounded_under_steady_writes(
    make_engine: EngineFactory, durability: str
) -> None:
    engine: Engine = make_engine(durability=durability)
    wal = f"{engine.storage.path}-wal"  # type: ignore[attr-defined]

    async def write_many() -> None:
        for i in range(4000):
            await engine.mutate(
                lambda tx, i=i: tx.insert("messages", {"n": float(i), "pad": "x" * 200})
            )

    asyncio.run(write_many())
    # SQLite checkpoints at 1000 pages (4 MiB with 4 KiB pages) and then reuses the log.
    assert os.path.getsize(wal) < 8 << 20
    assert len(engine.read(lambda tx: tx.query("messages").collect())[0]) == 4000
