"""One sink following the change stream: its own cursor, batches, retries with backoff, dead
letters, replays and metrics.

The loop: read the next changes of the ``events`` table from the sink's saved cursor (as many
as are waiting, up to the sink's batch size), ask the app for their records
(``sinks/outbox:outgoing``: the owner's per-project choice and redaction applied), deliver them
in order, then save the new cursor with the batch's dead letters in one mutation
(``sinks/state:advance``). A restart resumes from the saved cursor; a crash between delivery and
saving sends that one batch again, with the same ids (PostHog's ``uuid``, the MQTT and webhook
``id``), so receivers can drop the repeats.

While the destination is ``Unavailable`` the same batch is retried with exponential backoff
(``BACKOFF_INITIAL`` doubling to ``BACKOFF_MAX``, with jitter) for as long as it takes: nothing
is skipped, so a sink that was down for an hour catches up in order. When it ``Rejected`` a
batch, the batch is halved until the records at fault are alone; each is tried
``ATTEMPTS`` times, then filed as a dead letter, and the rest go on. Ingestion never waits for
any of this: the sink runs in its own process and only reads the stream.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from livebase.client import Change, ChangeStream, Client, CursorExpiredError

from .base import Fatal, Record, Rejected, Sink, Unavailable
from .metrics import SinkMetrics

log = logging.getLogger("agentfeed.sinks")

TABLE = "events"
ATTEMPTS = 3
"""Tries of a record the destination rejects before it becomes a dead letter."""
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 60.0
GATHER_SECONDS = 0.002
"""How long a batch waits for one more change that is not already there."""


class Stopped(Exception):
    """The runner was asked to stop while it waited; nothing of the batch was saved."""


def now_cursor(url: str, admin_key: str, timeout: float = 30.0) -> str:
    """The change stream's position "now" (``GET /api/changes?cursor=now&format=json``):
    ``Unavailable`` while the server cannot be reached, ``Fatal`` if it refuses the key."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/changes?cursor=now&format=json&limit=1&tables={TABLE}",
        headers={"Authorization": f"Convex {admin_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(json.loads(response.read())["cursor"])
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise Fatal(
                f"the server at {url} refused the admin key ({exc.code}): give the server's "
                "--data folder or its LIVEBASE_ADMIN_KEY"
            ) from None
        raise Unavailable(f"the server at {url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"the server at {url} cannot be reached: {exc}") from exc


class SinkRunner:
    """Runs ``sink`` until ``stop()``: see the module docstring."""

    def __init__(
        self,
        sink: Sink,
        client: Client,
        admin_key: str,
        metrics: SinkMetrics,
        *,
        backoff: tuple[float, float] = (BACKOFF_INITIAL, BACKOFF_MAX),
        attempts: int = ATTEMPTS,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.client = client
        self.admin_key = admin_key
        self.metrics = metrics
        self.backoff = backoff
        self.attempts = attempts
        self._stopping = asyncio.Event()
        self._sending = asyncio.Lock()  # the stream and replays share the sink's connection
        self._failing: str | None = None

    def stop(self) -> None:
        """Finish the batch in hand (if it can be delivered), save it, and return from run."""
        self._stopping.set()

    # -- the main loop -------------------------------------------------------------------------

    async def run(self) -> None:
        found: list[str] = []

        async def ask_now() -> None:  # retried while the server is not up yet
            found.append(await asyncio.to_thread(now_cursor, self.client.url, self.admin_key))

        try:
            await self._retrying(ask_now, report=False)
        except Stopped:
            return
        started = {"sink": self.name, "cursor": found[-1]}
        cursor = str(await self.client.mutation("sinks/state:started", started))
        log.info("sink %s: starting after cursor %s", self.name, cursor)
        try:
            await self._retrying(self.sink.open)
        except Stopped:
            return
        self.metrics.up.labels(self.name).set(1)
        replays = asyncio.ensure_future(self._replays())
        try:
            async with self.client.changes(tables=[TABLE], cursor=cursor) as stream:
                while not self._stopping.is_set():
                    batch = await self._next_batch(stream)
                    if not batch:
                        break
                    await self._handle(batch, stream.cursor)
        except Stopped:
            log.info("sink %s: stopped while retrying; the batch is sent again at start", self.name)
        except CursorExpiredError as exc:
            message = f"cursor expired: {exc} (see docs/agentfeed.md, Sinks)"
            log.error("sink %s: %s", self.name, message)
            await self._report_failing(message)
            raise
        finally:
            replays.cancel()
            await asyncio.gather(replays, return_exceptions=True)
            await self.sink.close()

    async def _next_batch(self, stream: ChangeStream) -> list[Change]:
        """The next change (waiting for it, or for ``stop``), then those already waiting."""
        first = asyncio.ensure_future(anext(stream))
        stop = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({first, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if first not in done:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            return []
        batch = [first.result()]
        while len(batch) < self.sink.max_batch:
            try:  # (a timeout of 0 would never run the read: asyncio.wait_for gives up first)
                batch.append(await asyncio.wait_for(anext(stream), timeout=GATHER_SECONDS))
            except TimeoutError:
                break
        return batch

    async def _handle(self, batch: list[Change], cursor: str | None) -> None:
        inserts = [c for c in batch if c.table == TABLE and c.operation == "insert"]
        records: list[Record | None] = []
        if inserts:
            shaped = await self.client.query(
                "sinks/outbox:outgoing", {"events": [change.id for change in inserts]}
            )
            assert isinstance(shaped, list)
            records = [r if isinstance(r, dict) else None for r in shaped]
        sendable = [r for r in records if r is not None]
        dead: list[dict[str, Any]] = []
        if sendable:
            async with self._sending:
                dead = await self._deliver_all(sendable)
        delivered = len(sendable) - len(dead)
        skipped = len(records) - len(sendable)
        last = max((r["received_at"] for r in sendable), default=None)
        advance: dict[str, Any] = {
            "sink": self.name,
            "cursor": cursor or batch[-1].cursor,
            "delivered": float(delivered),
            "skipped": float(skipped),
            "last_event_at": last,
            "dead": dead,
        }
        await self.client.mutation("sinks/state:advance", advance)
        self.metrics.skipped.labels(self.name).inc(skipped)
        self.metrics.dead_lettered.labels(self.name).inc(len(dead))
        if sendable:
            await self.sink.after_batch()

    # -- delivery ------------------------------------------------------------------------------

    async def _deliver_all(self, records: list[Record]) -> list[dict[str, Any]]:
        """Deliver ``records`` in order, in chunks the sink takes; the dead letters."""
        dead: list[dict[str, Any]] = []
        size = max(1, self.sink.max_batch)
        for start in range(0, len(records), size):
            dead += await self._deliver_chunk(records[start : start + size])
        return dead

    async def _deliver_chunk(self, chunk: list[Record]) -> list[dict[str, Any]]:
        tries = 0
        while True:
            try:
                await self._retrying(functools.partial(self.sink.deliver, chunk))
            except (Rejected, Exception) as exc:
                if isinstance(exc, Stopped | Fatal):
                    raise
                self.metrics.failures.labels(self.name, "rejected").inc()
                if len(chunk) > 1:  # find the records at fault; the others go through
                    middle = len(chunk) // 2
                    return await self._deliver_chunk(chunk[:middle]) + await self._deliver_chunk(
                        chunk[middle:]
                    )
                tries += 1
                if not isinstance(exc, Rejected):
                    log.exception("sink %s: sending event %s failed", self.name, chunk[0]["id"])
                if tries >= self.attempts:
                    log.warning(
                        "sink %s: event %s is a dead letter: %s", self.name, chunk[0]["id"], exc
                    )
                    return [_dead_letter(chunk[0], exc, tries)]
                await self._sleep(self._delay(tries))
                continue
            self._delivered(chunk)
            return []

    def _delivered(self, chunk: list[Record]) -> None:
        now = time.time()
        self.metrics.delivered.labels(self.name).inc(len(chunk))
        self.metrics.last_delivered.labels(self.name).set(now)
        for record in chunk:
            self.metrics.latency.labels(self.name).observe(
                max(0.0, now - record["received_at"] / 1000)
            )

    async def _retrying(
        self, attempt: Callable[[], Awaitable[None]], *, report: bool = True
    ) -> None:
        """``attempt()`` until it does not raise ``Unavailable`` (``Stopped`` if asked to);
        ``report``: say so in the sink's state on the server (not while it is the server that
        cannot be reached)."""
        failures = 0
        while True:
            try:
                await attempt()
            except Unavailable as exc:
                failures += 1
                self.metrics.failures.labels(self.name, "unavailable").inc()
                self.metrics.up.labels(self.name).set(0)
                log.warning("sink %s: unavailable (%s); retrying", self.name, exc)
                if report:
                    await self._report_failing(str(exc))
                await self._sleep(self._delay(failures))
                continue
            if self._failing is not None:
                log.info("sink %s: delivering again", self.name)
                self._failing = None
            self.metrics.up.labels(self.name).set(1)
            return

    def _delay(self, failures: int) -> float:
        initial, maximum = self.backoff
        base = min(maximum, initial * 2.0 ** min(failures - 1, 30))
        return base / 2 + random.random() * base / 2

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or raise ``Stopped`` as soon as ``stop()`` is called."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Stopped

    async def _report_failing(self, error: str) -> None:
        if error == self._failing:
            return
        self._failing = error
        try:
            await self.client.mutation("sinks/state:failing", {"sink": self.name, "error": error})
        except Exception as exc:  # the server may be the one that is down
            log.info("sink %s: could not record the failure: %s", self.name, exc)

    # -- replays -------------------------------------------------------------------------------

    async def _replays(self) -> None:
        """Send the dead letters the owner asks to replay (a live query of the queue)."""
        async for queue in self.client.subscribe("sinks/state:replay_queue", {"sink": self.name}):
            if isinstance(queue, list) and queue:
                await self._replay(queue)

    async def _replay(self, queue: list[Any]) -> None:
        shaped = await self.client.query(
            "sinks/outbox:outgoing", {"events": [item["event"] for item in queue]}
        )
        assert isinstance(shaped, list)
        delivered: list[str] = []
        failed: list[dict[str, str]] = []
        async with self._sending:
            for item, record in zip(queue, shaped, strict=True):
                if not isinstance(record, dict):  # its project forwards nothing now, or gone
                    delivered.append(item["letter"])
                    continue
                one: list[Record] = [record]
                try:
                    await self._retrying(functools.partial(self.sink.deliver, one))
                except Stopped:
                    raise
                except Exception as exc:
                    failed.append({"letter": item["letter"], "error": _describe(exc)})
                else:
                    delivered.append(item["letter"])
                    self._delivered(one)
        self.metrics.replayed.labels(self.name).inc(len(delivered))
        done: dict[str, Any] = {"sink": self.name, "delivered": delivered, "failed": failed}
        await self.client.mutation("sinks/state:replay_done", done)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _dead_letter(record: Record, exc: BaseException, attempts: int) -> dict[str, Any]:
    return {
        "event": record["doc"],
        "event_id": record["id"],
        "error": _describe(exc),
        "attempts": float(attempts),
    }
