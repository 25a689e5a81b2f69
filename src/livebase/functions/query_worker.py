"""A slow query or mutation, run in a worker process against the database directly.

Queries run on the server's event loop, where a slow one makes every other client wait. One
that runs over the inline budget (``slow_paths``) is run in a worker process instead
(``offload``): the worker reads the database itself through a read-only connection
(``storage.read_only``), in one read transaction, with the same engine and runner code as the
server (watchdog, logs capture, ``ctx.db``, ``ctx.storage.get_url``, nested ``ctx.run_query``),
and sends back what the server needs to answer the caller and keep a subscription live: the
value, the log lines, the snapshot timestamp and the read set. Only ``ctx.env`` comes from the
server (it holds the decryption key), on first use, like an action's.

A query is a pure function of its snapshot, so running it here gives the result it would have
given in the server; the server checks that no commit since the snapshot touched what it read
before using it for a live subscription.

A mutation runs here against an ``engine.overlay.Overlay`` over its snapshot: its writes are
recorded, not made, and sent back with its read set; the server commits them only if nothing it
read changed since (``engine.overlay.stale_reads``), else it runs again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livebase.config import Settings
from livebase.engine.catalog import CATALOG_KEY
from livebase.engine.database import Engine
from livebase.engine.overlay import NeedsServer, Op, Overlay
from livebase.engine.reads import ReadSet
from livebase.engine.transaction import Transaction, Write
from livebase.envvars.view import EnvView
from livebase.files import system_tables as file_tables
from livebase.files.service import FileService
from livebase.functions.loader import App
from livebase.functions.worker_errors import encode_error
from livebase.scheduler.jobs import system_tables
from livebase.storage.base import StorageReader
from livebase.storage.read_only import open_read_only
from livebase.values.wire import from_wire, to_wire

if TYPE_CHECKING:
    from livebase.functions.runner import Runner


@dataclass(frozen=True)
class Deployment:
    """What a worker needs to read a deployment's database: sent with every query job, used
    to open the database on the first one."""

    db: str
    settings: Settings
    files_root: str
    base_url: str


@dataclass(frozen=True)
class QueryJob:
    path: str
    args: Any
    """Checked by the server already, as wire JSON."""
    identity: dict[str, Any] | None
    journal: str | None
    at_ts: int | None


@dataclass(frozen=True)
class MutationJob:
    path: str
    args: Any
    """Checked by the server already, as wire JSON."""
    identity: dict[str, Any] | None
    last_creation_time: float
    """The server's newest ``_creationTime``: new documents here sort after it."""


@dataclass
class MutationRun:
    """A mutation's run in a worker, to be committed by the server (picklable)."""

    ok: bool
    payload: Any
    """The value as wire JSON, or the error as ``encode_error`` gives it."""
    log_lines: list[str]
    snapshot_ts: int = 0
    catalog: str | None = None
    """The catalog it ran against (as stored): a different one at commit time means rerun."""
    read_set: ReadSet | None = None
    writes: list[Write] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    bytes_written: int = 0
    last_creation_time: float = 0.0
    needs_server: str | None = None
    """Why it must run in the server instead (``NeedsServer``), if it must."""


@dataclass
class QueryOutcome:
    """A query's result as it crosses back to the server (picklable)."""

    ok: bool
    payload: Any
    """The value as wire JSON, or the error as ``encode_error`` gives it."""
    log_lines: list[str]
    ts: int | None = None
    read_set: ReadSet | None = None
    journal: str | None = None
    reads_identity: bool = True
    reads_env: bool = True


class SnapshotEngine(Engine):
    """An engine over a read-only database whose catalog is the one each snapshot holds (the
    server may create tables and indexes at any time)."""

    def _transaction(
        self, store: StorageReader, *, writable: bool, snapshot_ts: int
    ) -> Transaction:
        self._adopt_catalog(store.get_global(CATALOG_KEY))
        return super()._transaction(store, writable=writable, snapshot_ts=snapshot_ts)


class QueryHost:
    """The engine and runner of one worker process, opened on its first query job."""

    def __init__(self, app: App, deployment: Deployment) -> None:
        from livebase.functions.runner import Runner  # the runner imports this module

        self.deployment = deployment
        # Actions called from here would need a pool of their own: queries cannot call them.
        settings = dataclasses.replace(deployment.settings, action_isolation="thread")
        self.engine = SnapshotEngine(open_read_only(deployment.db), app.schema, settings=settings)
        self.engine.add_system_tables(system_tables())
        self.engine.add_system_tables(file_tables())
        self.runner: Runner = Runner(self.engine, app)
        self._base_url = deployment.base_url
        self.runner.files = FileService(
            self.engine, Path(deployment.files_root), base_url=lambda: self._base_url
        )

    def close(self) -> None:
        self.runner.close()
        self.engine.close()

    def run(self, job: QueryJob, load_env: Callable[[], Mapping[str, str]]) -> QueryOutcome:
        """Run ``job``; ``load_env`` fetches ``ctx.env`` from the server."""
        from livebase.functions.runner import Failed, RunInfo

        self.runner.env = lambda: EnvView(load_env)
        runner = self.runner
        fd = runner.app.functions[job.path]
        run = RunInfo()
        args = from_wire(job.args)
        assert isinstance(args, dict)
        body = runner.call_body(fd, args, job.identity, job.journal, run)
        try:
            if job.at_ts is None:
                (value, lines), tx = self.engine.read(body)
            else:
                self.engine.latest_ts = max(self.engine.latest_ts, job.at_ts)
                (value, lines), tx = self.engine.read_at(job.at_ts, body)
        except Failed as failed:
            return QueryOutcome(False, encode_error(failed.error), failed.log_lines)
        except Exception as exc:  # a storage error, a snapshot too old: the caller's answer
            return QueryOutcome(False, encode_error(exc), [])
        return QueryOutcome(
            True,
            to_wire(value),
            lines,
            tx.snapshot_ts,
            tx.read_set,
            tx.page_end,
            run.reads_identity,
            run.reads_env,
        )

    def run_mutation(
        self, job: MutationJob, load_env: Callable[[], Mapping[str, str]]
    ) -> MutationRun:
        """Run ``job`` against an overlay of the latest snapshot (see the module docstring)."""
        from livebase.functions.runner import Failed

        self.runner.env = lambda: EnvView(load_env)
        runner, engine = self.runner, self.engine
        fd = runner.app.functions[job.path]
        args = from_wire(job.args)
        assert isinstance(args, dict)
        body = runner.call_body(fd, args, job.identity)
        with engine.storage.reader() as reader:
            overlay = Overlay(reader)
            tx = engine._transaction(overlay, writable=True, snapshot_ts=reader.latest_ts())
            tx._last_creation_time = job.last_creation_time
            tx.on_change = engine.change_hook  # the app's triggers run here too
            try:
                value, lines = body(tx)
            except NeedsServer as why:
                return MutationRun(False, None, [], needs_server=str(why) or "unsupported")
            except Failed as failed:
                # Failed at this snapshot: the server checks that the reads still hold before
                # answering with it, as for a success.
                return MutationRun(
                    False, encode_error(failed.error), failed.log_lines, tx.snapshot_ts,
                    self.engine._catalog_text, tx.read_set,
                )  # fmt: skip
            if tx.catalog_changed:
                return MutationRun(False, None, [], needs_server="it creates a table")
            return MutationRun(
                True, to_wire(value), lines, tx.snapshot_ts, self.engine._catalog_text,
                tx.read_set, tx.writes, overlay.ops, tx.bytes_written, tx._last_creation_time,
            )  # fmt: skip

    def retarget(self, deployment: Deployment) -> bool:
        """Whether this host serves ``deployment`` (the public URL may change as the server
        starts listening; a different database needs a new host)."""
        if deployment.db != self.deployment.db or deployment.settings != self.deployment.settings:
            return False
        self._base_url = deployment.base_url
        return True


__all__ = [
    "Deployment",
    "MutationJob",
    "MutationRun",
    "QueryHost",
    "QueryJob",
    "QueryOutcome",
    "SnapshotEngine",
]
