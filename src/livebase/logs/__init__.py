"""Function logs: the bounded in-memory log of a deployment (``store``), the admin endpoint that
serves it (``endpoints``) and ``livebase logs`` (``cli``)."""

from livebase.logs.store import LogEntry, LogStore

__all__ = ["LogEntry", "LogStore"]
