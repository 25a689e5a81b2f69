"""The function log on disk (``livebase.logs.journal``): bounded, read back in order after a
restart, a torn last line skipped, and a folder that cannot be written never failing a call."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from livebase.logs import LogStore
from livebase.logs.journal import CURRENT, PREVIOUS


def reopened(folder: Path, limit: int) -> LogStore:
    store = LogStore(limit)
    store.open_journal(folder)
    return store


def messages(store: LogStore) -> list[str]:
    return [e.message for e in store.after(0, limit=10_000)[0]]


def test_entries_come_back_after_a_restart_and_numbering_goes_on(tmp_path: Path) -> None:
    store = reopened(tmp_path, 100)
    store.record("m:f", "query", ["one", "[WARN] two"], "req-1")
    store.record("m:g", "mutation", [], "req-2", failure="Uncaught Error: boom")
    store.close()

    again = reopened(tmp_path, 100)
    [one, two, boom] = again.after(0)[0]
    assert (one.seq, one.message, one.level, one.path, one.request_id) == (1, "one", "LOG", "m:f",
                                                                             "req-1")  # fmt: skip
    assert (two.level, two.message) == ("WARN", "two")
    assert boom.failure and boom.level == "ERROR" and boom.kind == "mutation"
    again.record("m:f", "query", ["three"], "req-3")
    assert again.last == 4 and messages(again)[-1] == "three"
    again.close()


def test_the_folder_stays_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    limit = 5
    store = reopened(tmp_path, limit)
    for i in range(23):
        store.record("m:f", "query", [f"line {i}"], f"req-{i}")
    store.close()
    lines = sum(len((tmp_path / n).read_bytes().splitlines()) for n in (CURRENT, PREVIOUS))
    assert limit <= lines <= 2 * limit
    again = reopened(tmp_path, limit)
    assert messages(again) == [f"line {i}" for i in range(18, 23)]
    again.close()


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    store = reopened(tmp_path, 100)
    store.record("m:f", "query", ["whole"], "req-1")
    store.close()
    with (tmp_path / CURRENT).open("ab") as f:
        f.write(b'{"cursor": 2, "timestamp": 1.0, "pa')  # the crash
    again = reopened(tmp_path, 100)
    assert messages(again) == ["whole"]
    again.record("m:f", "query", ["next"], "req-2")  # appended after the torn line, still read
    again.close()
    last = reopened(tmp_path, 100)
    assert messages(last) == ["whole", "next"]
    last.close()


def test_an_unwritable_folder_leaves_the_log_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    store = reopened(blocker, 100)
    with caplog.at_level(logging.WARNING, logger="livebase.logs"):
        store.record("m:f", "query", ["kept in memory"], "req-1")
        store.record("m:f", "query", ["still"], "req-2")
    assert messages(store) == ["kept in memory", "still"]
    warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per call
    store.close()


def test_the_folder_and_file_are_private(tmp_path: Path) -> None:
    """Log lines hold whatever functions printed: only the server's user may read them."""
    folder = tmp_path / "logs"
    store = reopened(folder, 100)
    store.record("m:f", "query", ["a secret printed by mistake"], "req-1")
    store.close()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / CURRENT).stat().st_mode & 0o777) == "0o600"
