"""The change stream's read side: every committed write, in commit order, after a cursor.

The commit log already lists each commit's writes in order, with the new document (``doc``), so
a change is one write of one commit and its position is (commit timestamp, index of the write in
that commit). A cursor names the position *after* a change:

- ``"<ts>"``: after every write of commit ``ts`` (and of every earlier commit);
- ``"<ts>-<i>"``: after write ``i`` of commit ``ts``; writes ``i+1...`` of it come next.

A change's own cursor uses the short form for the last write of its commit. Resuming from a
cursor therefore yields exactly the changes after it: none twice, none skipped.

Old commits are pruned (see ``livebase.engine.retention``), which records a watermark: the
newest pruned timestamp ``W``. A cursor that needs a pruned commit (``"<ts>"`` with ``ts < W``,
``"<ts>-<i>"`` with ``ts <= W``) fails with ``CursorExpiredError`` instead of silently skipping.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from livebase.engine.history import MAX_COMMITS_BACK
from livebase.errors import CursorExpiredError, InvalidCursorError
from livebase.storage.base import StorageReader
from livebase.values.types import Value
from livebase.values.wire import dumps, from_wire, loads

RETAINED_KEY = "changes_retained_after"
"""Global holding ``{"ts": W, "retentionSeconds": R}``: commits with ``ts <= W`` were pruned."""

Operation = Literal["insert", "update", "delete"]

_MAX_TS = (1 << 64) - 1
SCAN_BUDGET = 10_000
"""Commits one page may scan looking for matching changes before it ends early."""


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the change stream: after write ``index`` of commit ``ts``, or after the
    whole commit when ``index`` is None."""

    ts: int
    index: int | None = None

    def __str__(self) -> str:
        return str(self.ts) if self.index is None else f"{self.ts}-{self.index}"


def parse_cursor(text: str) -> Cursor:
    """``"<ts>"`` or ``"<ts>-<i>"``; anything else is an ``InvalidCursorError``."""
    ts_text, dash, index_text = text.partition("-")
    if _is_number(ts_text) and (not dash or _is_number(index_text)):
        ts = int(ts_text)
        if ts <= _MAX_TS:
            return Cursor(ts, int(index_text) if dash else None)
    raise InvalidCursorError(
        f"invalid change-stream cursor {text[:100]!r}: use the cursor of a change, 'now', or "
        "no cursor (the oldest retained change)"
    )


def _is_number(text: str) -> bool:
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Change:
    """One write of one commit. ``wire_document`` is the new document in Convex wire JSON
    (None for a delete); ``document`` decodes it."""

    table: str
    id: str
    operation: Operation
    wire_document: Any
    ts: int
    cursor: Cursor

    @property
    def document(self) -> Value:
        return None if self.wire_document is None else from_wire(self.wire_document)

    def to_json(self) -> dict[str, Any]:
        """The JSON form the HTTP stream sends (``document`` in wire JSON)."""
        return {
            "table": self.table,
            "id": self.id,
            "operation": self.operation,
            "document": self.wire_document,
            "ts": self.ts,
            "cursor": str(self.cursor),
        }


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    position: Cursor
    """Where reading stopped: after the last change, or further on when the writes after it
    were filtered out. Resuming from here is exact, and skips what was already scanned."""
    more: bool
    """Whether more changes may follow right away (the page filled up)."""


@dataclass(frozen=True)
class Retention:
    """The pruning watermark: commits with ``ts <= after_ts`` are gone."""

    after_ts: int = 0
    seconds: float = 0.0

    def to_json(self) -> str:
        return dumps({"ts": self.after_ts, "retentionSeconds": self.seconds})

    @classmethod
    def read(cls, reader: StorageReader) -> Retention:
        text = reader.get_global(RETAINED_KEY)
        if text is None:
            return cls()
        data = loads(text)
        return cls(int(data["ts"]), float(data["retentionSeconds"]))

    def check(self, cursor: Cursor) -> None:
        """Raise ``CursorExpiredError`` if resuming after ``cursor`` needs a pruned commit."""
        expired = cursor.ts < self.after_ts or (
            cursor.index is not None and cursor.ts == self.after_ts
        )
        if expired:
            raise CursorExpiredError(
                f"change-stream cursor {cursor} is older than the retained change log: changes "
                f"are kept for {describe_seconds(self.seconds)} (and at least the newest "
                f"{MAX_COMMITS_BACK + 1} commits), so some changes after this cursor are gone. "
                "Restart from the oldest retained change (no cursor) after reloading a snapshot "
                "of the data."
            )


def describe_seconds(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} s"


def read_changes(
    reader: StorageReader,
    after: Cursor | None,
    tables: Collection[str] | None,
    limit: int,
    *,
    scan_budget: int = SCAN_BUDGET,
) -> ChangePage:
    """Up to ``limit`` changes after ``after`` (None: from the oldest retained change), in commit
    order, from one snapshot. ``tables`` None means every table except system tables (names
    starting with ``_``); a name that has no table yet simply matches nothing.

    A page holds ``limit`` changes whenever that many exist after the cursor: commits whose
    writes are all filtered out (other tables, system tables) do not use up the page. Only after
    scanning ``scan_budget`` commits without filling it does a page end early, with ``more`` set
    and ``position`` past everything scanned, so a filter matching nothing stays cheap."""
    retention = Retention.read(reader)
    if after is None:
        after = Cursor(retention.after_ts)
    retention.check(after)
    latest = reader.latest_ts()
    if after.ts > latest:
        raise InvalidCursorError(
            f"change-stream cursor {after} is ahead of the newest commit ({latest}); it comes "
            "from another deployment or database"
        )
    mid_commit = after.index is not None
    chunk = max(1, min(max(limit, 64), scan_budget))
    commits = reader.commits_after(after.ts - 1 if mid_commit else after.ts, chunk)
    if mid_commit and (not commits or commits[0][0] != after.ts):
        raise InvalidCursorError(f"change-stream cursor {after}: there is no commit {after.ts}")
    changes: list[Change] = []
    position = after
    scanned = 0
    while commits:
        for ts, entry in commits:
            writes = loads(entry)["writes"]
            first = 0
            if ts == after.ts and after.index is not None:
                first = after.index + 1
                if first > len(writes):
                    raise InvalidCursorError(
                        f"change-stream cursor {after}: commit {ts} has only {len(writes)} writes"
                    )
            last = len(writes) - 1
            for i in range(first, len(writes)):
                write = writes[i]
                if _matches(write["table"], tables):
                    if len(changes) == limit:
                        return ChangePage(changes, position, more=True)
                    changes.append(_change(ts, i, last, write))
                position = Cursor(ts, None if i == last else i)
            position = Cursor(ts)
        scanned += len(commits)
        if len(commits) < chunk:
            return ChangePage(changes, position, more=False)
        if scanned >= scan_budget:
            return ChangePage(changes, position, more=True)
        commits = reader.commits_after(position.ts, chunk)
    return ChangePage(changes, position, more=False)


def _matches(table: str, tables: Collection[str] | None) -> bool:
    return not table.startswith("_") if tables is None else table in tables


def _change(ts: int, i: int, last: int, write: dict[str, Any]) -> Change:
    doc = write.get("doc")
    operation: Operation
    if doc is not None:
        operation = "update" if "prev" in write else "insert"
    elif not write["new"]:
        operation = "delete"
    else:  # written before commit-log entries carried the document
        operation = "update" if "prev" in write else "insert"
    cursor = Cursor(ts, None if i == last else i)
    return Change(write["table"], write["id"], operation, doc, ts, cursor)


__all__ = [
    "RETAINED_KEY",
    "SCAN_BUDGET",
    "Change",
    "ChangePage",
    "Cursor",
    "Operation",
    "Retention",
    "describe_seconds",
    "parse_cursor",
    "read_changes",
]
