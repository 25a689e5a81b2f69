"""Durability settings: ``fsync-per-commit`` is synchronous=FULL, ``normal`` is NORMAL."""

from __future__ import annotations

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
    storage = engine.storage
    for conn in (storage._write_conn, storage._read_conn):  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    engine = make_engine.reopen(engine, durability=durability)
    assert read(engine, lambda tx: tx.get(doc_id))["d"] == durability  # type: ignore[index]


def test_unknown_durability_is_refused(make_engine: EngineFactory) -> None:
    with pytest.raises(ValueError):
        make_engine(durability="sometimes")
