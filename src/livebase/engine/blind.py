"""A blind batch: one that ran ahead of the clock and read nothing (``engine.optimistic``).

It commits in one round trip: its writes, the checks it commits under (``expectations``) and its
commit-log entries (``entries``) go out with COMMIT (``Storage.send_at_clock``), and the database
gives each entry its timestamp under the clock. Where the storage answers later
(``postgres_nowait``), ``watch`` moves the commit on from the event loop whenever its socket is
ready, and calls back once it landed; ``landed_batch`` then turns the answer into the ``Batch``
the engine delivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livebase.engine.batch import Batch, Commit, MutationOutcome, decode_commits
from livebase.engine.catalog import CATALOG_KEY, Catalog
from livebase.engine.optimistic import Prepared
from livebase.storage.base import ClockedCommit, CommitInFlight
from livebase.values.wire import dumps


def entries(prepared: Prepared, time_ns: Callable[[], int]) -> list[tuple[int, str]]:
    """The commit-log entries of the mutations that wrote: (not before, text) each."""
    return [
        (time_ns(), dumps({"writes": [x.to_json() for x in run.writes]}))
        for run in prepared.runs
        if run.error is None and run.writes
    ]


def expectations(prepared: Prepared) -> dict[str, str | None]:
    """What must hold for the batch to commit as it ran: the catalog it ran with, and no
    record yet for its idempotency keys."""
    return {CATALOG_KEY: prepared.catalog_text, **dict.fromkeys(prepared.new_keys)}


def landed_batch(
    prepared: Prepared, done: ClockedCommit, catalog: Catalog, latest_ts: int, delivered_ts: int
) -> Batch:
    """The batch a blind commit made: each mutation's outcome, its commits, and the other
    nodes' commits it found that were not delivered yet (None if more than a page)."""
    start = max(done.start_ts, latest_ts)
    missed = None
    if done.tail.complete:
        missed = [c for c in decode_commits(done.tail.commits) if c.ts > delivered_ts]
    batch = Batch(catalog, start, start, missed)
    stamps = iter(done.timestamps)
    for run in prepared.runs:
        if run.error is not None:
            batch.results.append((run.item, run.error))
            continue
        if run.writes:
            batch.last_ts = next(stamps)
            batch.commits.append(Commit(batch.last_ts, run.writes))
        batch.results.append((run.item, MutationOutcome(run.value, batch.last_ts)))
    return batch


def watch(sending: CommitInFlight, landed: Callable[[], None]) -> None:
    """Poll ``sending`` from the running loop whenever its socket is ready (for writing too,
    while libpq still has bytes to send) and call ``landed`` once it is done."""
    loop = asyncio.get_running_loop()
    fd = sending.fileno

    def on_socket() -> None:
        if not sending.poll():
            if not sending.wants_write:
                loop.remove_writer(fd)
            return
        # By the number it was watched under: the connection may be gone, its number reused.
        loop.remove_reader(fd)
        loop.remove_writer(fd)
        landed()

    loop.add_reader(fd, on_socket)
    if sending.wants_write:
        loop.add_writer(fd, on_socket)
