"""Durability settings: ``fsync-per-commit`` is SQLite's synchronous=FULL and PostgreSQL's
synchronous_commit=on; ``normal`` is NORMAL and off."""

from __future__ import annotations

from typing import Any

import pytest

from livebase.storage import Durability

from .conftest import EngineFactory, mutate, read


@pytest.mark.parametrize(("durability", "synchronous"), [("fsync-per-commit", 2), ("normal", 1)])
def test_durability_opens_commits_and_sets_synchronous(
    make_engine: EngineFactory, durability: str, synchronous: int
) -> None:
    engine = make_engine(durability=durability)
    assert engine.storage.durability is Durability(durability)
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"d": durability})).value
    storage: Any = engine.storage
    if make_engine.backend == "postgres":
        expected = "on" if synchronous == 2 else "off"
        with storage._pool.connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == expected
        assert storage._write_conn.execute("SHOW synchronous_commit").fetchone()[0] == expected
    else:
        for conn in (storage._write_conn, storage._read_conn):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    engine = make_engine.reopen(engine, durability=durability)
    assert read(engine, lambda tx: tx.get(doc_id))["d"] == durability  # type: ignore[index]


def test_unknown_durability_is_refused(make_engine: EngineFactory) -> None:
    with pytest.raises(ValueError):
        make_engine(durability="sometimes")
