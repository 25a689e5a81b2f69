"""The function log on disk, so ``livebase logs`` (and the dashboard) still show what ran before
a restart: JSON lines in ``<data folder>/logs/``, bounded like the ring in memory.

Entries are appended to ``functions.jsonl`` as they are recorded (written to the OS at once, not
fsynced: a log line is not worth a disk flush per call, and an OS crash may lose the last ones).
When that file holds ``limit`` entries it becomes ``functions.1.jsonl`` (replacing the previous
one) and a new file starts, so the folder holds between ``limit`` and ``2 * limit`` entries and
opening it reads at most that. A line cut short by a crash, or not JSON, is skipped. If the
folder cannot be written (a full disk, a read-only mount), the journal says so once in the
server's log and the deployment goes on with the ring in memory alone.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import IO, Any

import orjson

from livebase.logs.entry import LogEntry

CURRENT = "functions.jsonl"
PREVIOUS = "functions.1.jsonl"

log = logging.getLogger("livebase.logs")


class LogJournal:
    """Appends ``LogEntry`` lines to ``folder``; ``load`` gives back the newest ``limit``."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = max(1, limit)
        self._file: IO[bytes] | None = None
        self._count = 0
        self._broken = False
        self._torn = False
        """The file ends in a line cut short: the next append starts a new line first."""

    def load(self) -> list[LogEntry]:
        """The newest ``limit`` entries kept on disk, oldest first (and opens the journal for
        appending)."""
        newest: deque[LogEntry] = deque(maxlen=self.limit)
        for name in (PREVIOUS, CURRENT):
            for entry in _read(self.folder / name):
                newest.append(entry)
        self._count = len(_read(self.folder / CURRENT))
        try:
            with (self.folder / CURRENT).open("rb") as current:
                current.seek(0, 2)
                if current.tell():
                    current.seek(-1, 2)
                    self._torn = current.read(1) != b"\n"
        except OSError:
            pass
        return list(newest)

    def append(self, entries: list[LogEntry]) -> None:
        if self._broken or not entries:
            return
        try:
            out = self._open()
            if self._torn:
                out.write(b"\n")
                self._torn = False
            out.write(b"".join(orjson.dumps(e.to_json()) + b"\n" for e in entries))
            out.flush()
            self._count += len(entries)
            if self._count >= self.limit:
                self._rotate()
        except OSError as exc:
            self._broken = True
            self.close()
            log.warning(
                "function log: cannot write to %s (%s); keeping only the last entries in "
                "memory until the server restarts",
                self.folder,
                exc,
            )

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            # Private like the rest of the data folder: log lines can hold anything a function
            # printed.
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.folder / CURRENT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "ab")
        return self._file

    def _rotate(self) -> None:
        self.close()
        (self.folder / CURRENT).replace(self.folder / PREVIOUS)
        self._count = 0


def _read(path: Path) -> list[LogEntry]:
    try:
        raw = path.read_bytes()
    except OSError:  # none yet, or the folder is not one: nothing kept
        return []
    entries = []
    for line in raw.splitlines():
        entry = _parse(line)
        if entry is not None:
            entries.append(entry)
    return entries


def _parse(line: bytes) -> LogEntry | None:
    try:
        data: Any = orjson.loads(line)
        return LogEntry(
            seq=int(data["cursor"]),
            ts=float(data["timestamp"]) / 1000,
            path=str(data["path"]),
            kind=str(data["kind"]),
            level=str(data["level"]),
            message=str(data["message"]),
            request_id=str(data["requestId"]),
            source=str(data.get("source", "call")),
            failure=bool(data.get("failure", False)),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # a line cut short by a crash, or not ours


__all__ = ["CURRENT", "PREVIOUS", "LogJournal"]
