"""Fixtures for scheduler, cron and trigger tests: an in-process ``Deployment`` with a fake
clock, so tests move time instead of sleeping, on each backend (a real SQLite file, and a fresh
schema on the real PostgreSQL server).

``deploy(files)`` writes the app, opens it and returns a ``Live`` handle whose helpers call
functions through the real runner and drive the real worker (``await live.run_due()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livebase.config import Settings
from livebase.functions.loader import unload
from livebase.runtime import FakeRuntime
from livebase.scheduler.jobs import SCHEDULED_FUNCTIONS
from livebase.server import Deployment
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url


@dataclass
class Live:
    deployment: Deployment
    clock: FakeRuntime

    async def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        result = await self.deployment.runner.run_mutation(path, args or {}, admin=True)
        if result.error is not None:
            raise result.error
        return result.value

    async def action(self, path: str, args: dict[str, Any] | None = None) -> Any:
        result = await self.deployment.runner.run_action(path, args or {}, admin=True)
        if result.error is not None:
            raise result.error
        return result.value

    def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        result = self.deployment.runner.run_query(path, args or {}, admin=True)
        if result.error is not None:
            raise result.error
        return result.value

    def table(self, name: str) -> list[dict[str, Any]]:
        docs, _ = self.deployment.engine.read(lambda tx: tx.query(name).collect())
        return list(docs)

    def jobs(self) -> list[dict[str, Any]]:
        return self.table(SCHEDULED_FUNCTIONS)

    async def run_due(self) -> int:
        return await self.deployment.worker.run_due()

    async def advance(self, seconds: float) -> int:
        """Move the clock and run whatever became due."""
        self.clock.advance(seconds)
        return await self.run_due()


@pytest.fixture(params=["sqlite", "postgres"])
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Live]]:
    with ExitStack() as stack:
        yield from _deployments(request.param, tmp_path, stack)


def _deployments(backend: str, tmp_path: Path, stack: ExitStack) -> Iterator[Callable[..., Live]]:
    opened: list[Deployment] = []
    counter = itertools.count(1)
    databases: dict[Path, str] = {}

    def database(data: Path) -> str | None:
        if backend == "sqlite":
            return None
        if data not in databases:
            databases[data] = stack.enter_context(fresh_database_url())
        return databases[data]

    def make(
        files: dict[str, str] | Path,
        *,
        clock: FakeRuntime | None = None,
        data: Path | None = None,
    ) -> Live:
        n = next(counter)
        root = files if isinstance(files, Path) else write_app(tmp_path / f"app{n}", files)
        clock = clock or FakeRuntime()
        data = data or tmp_path / f"data{n}"
        deployment = Deployment(
            root,
            data,
            durability="normal",
            settings=Settings(),
            runtime=clock,
            db=database(data),
        )
        deployment.open()
        opened.append(deployment)
        return Live(deployment, clock)

    yield make
    for deployment in opened:
        deployment.close()
        unload(deployment.app)
