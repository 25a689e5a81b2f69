"""Retention: a background loop that prunes commit-log entries older than
``Settings.change_retention_seconds`` and idempotency records older than
``Settings.idempotency_retention_seconds`` (``engine.idempotency``).

The commit log is what the change stream (``/api/changes``) and historical reads replay, so it
only grows until something prunes it. Pruning keeps the newest ``MAX_COMMITS_BACK + 1`` entries
whatever their age (historical reads and the next commit timestamp depend on them) and records a
watermark, so a change-stream cursor that falls behind the window gets ``CursorExpired``.
"""

from __future__ import annotations

import asyncio
import logging

from livebase.engine.changes import describe_seconds
from livebase.engine.database import Engine
from livebase.errors import ConflictError

log = logging.getLogger("livebase.retention")

PRUNE_INTERVAL = 60.0
"""Seconds between pruning passes (the first runs at start)."""
PRUNE_BATCH = 10_000
"""Entries deleted per write transaction; the event loop serves other work between batches."""


async def prune_forever(engine: Engine, interval: float = PRUNE_INTERVAL) -> None:
    """The retention service: prune now, then every ``interval`` seconds, until cancelled."""
    while True:
        try:
            await prune_expired(engine)
            await prune_idempotency_records(engine)
        except ConflictError as exc:  # the database is busy: the next pass catches up
            log.warning("pruning the change log failed, will retry: %s", exc.message)
        await asyncio.sleep(interval)


async def prune_expired(engine: Engine) -> int:
    """Delete every commit-log entry older than the retention window; returns how many."""
    total = 0
    while True:
        window_ns = int(engine.settings.change_retention_seconds * 1e9)
        pruned = engine.prune_changes(engine.runtime.time_ns() - window_ns, limit=PRUNE_BATCH)
        total += pruned.count
        if pruned.count < PRUNE_BATCH:
            break
        await asyncio.sleep(0)  # let queued requests and commits run between batches
    if total:
        log.info(
            "pruned %d change-log entries older than %s",
            total,
            describe_seconds(engine.settings.change_retention_seconds),
        )
    return total


async def prune_idempotency_records(engine: Engine) -> int:
    """Delete the idempotency records older than their retention window: every one dated by an
    age marker, and those a sweep cycle, if one is due, finds (``engine.idempotency``); returns
    how many."""
    total = 0
    while True:
        count = engine.prune_idempotency_records(engine.records_expire_before(), limit=PRUNE_BATCH)
        total += count
        if count < PRUNE_BATCH:
            break
        await asyncio.sleep(0)
    while True:
        count, done = engine.sweep_idempotency_records(engine.records_expire_before())
        total += count
        if done:
            break
        await asyncio.sleep(0)  # let queued requests and commits run between passes
    if total:
        log.info(
            "dropped %d idempotency records older than %s",
            total,
            describe_seconds(engine.settings.idempotency_retention_seconds),
        )
    return total


__all__ = [
    "PRUNE_BATCH",
    "PRUNE_INTERVAL",
    "prune_expired",
    "prune_forever",
    "prune_idempotency_records",
]
