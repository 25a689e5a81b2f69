"""Processes in tests, from /proc (Linux)."""

from __future__ import annotations


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie. A process being reaped as we read makes
    the read fail with ESRCH (``ProcessLookupError``), not only ``FileNotFoundError``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
