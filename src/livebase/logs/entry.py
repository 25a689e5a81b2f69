"""One entry of the function log: a line a function printed or logged, or a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class LogEntry:
    """One line of a function's output, or one failure (``failure``; level ``ERROR``)."""

    seq: int
    ts: float
    """Seconds since the epoch (when the call ended: a call's lines share it)."""
    path: str
    kind: str
    """``query``, ``mutation``, ``action`` or ``http``."""
    level: str
    message: str
    request_id: str
    source: str = "call"
    """``call`` (a client or ``ctx.run_*``), ``scheduled`` or ``cron``."""
    failure: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "cursor": self.seq,
            "timestamp": round(self.ts * 1000, 3),
            "path": self.path,
            "kind": self.kind,
            "level": self.level,
            "message": self.message,
            "requestId": self.request_id,
            "source": self.source,
            "failure": self.failure,
        }
