"""``bench/commit_cost.py`` measures a real SQLite file: a keyed mutation's commit writes its
idempotency record (the ``globals`` table) and an unkeyed one's does not, and every commit
writes the document, its index entries and its commit-log row."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^(no key|key) +([0-9.]+) +([0-9.]+) +([0-9.]+)  (.*)$")


def pages_by_table(split: str) -> dict[str, float]:
    return {name: float(n) for name, n in (part.rsplit(" ", 1) for part in split.split(", "))}


def test_a_keyed_commit_writes_its_record_and_an_unkeyed_one_does_not() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "commit_cost.py"), "--mutations", "60",
         "--rounds", "1", "--durability", "normal"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m[1]: m for m in map(ROW.match, done.stdout.splitlines()) if m}
    assert set(rows) == {"no key", "key"}, done.stdout
    for kind, row in rows.items():
        cpu, wall, pages = float(row[2]), float(row[3]), float(row[4])
        assert 0 < cpu and 0 < wall and pages >= 5, (kind, row[0])
        tables = pages_by_table(row[5])
        assert min(tables["documents"], tables["commits"]) >= 1, (kind, tables)
        assert tables["indexes"] >= 3, (kind, tables)  # by id, by creation time, by channel
    assert "globals" not in pages_by_table(rows["no key"][5])
    assert pages_by_table(rows["key"][5])["globals"] >= 1  # the record
    assert re.search(r"the key's cost: [+-][0-9.]+ us", done.stdout)
