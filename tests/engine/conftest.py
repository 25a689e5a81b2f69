"""Fixtures that build an ``Engine`` on a real SQLite file under ``tmp_path`` (no mocks)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest

from livebase.config import Limits, Settings
from livebase.engine import Engine, MutationOutcome, Transaction
from livebase.runtime import Runtime
from livebase.schema.definition import EMPTY_SCHEMA, SchemaDefinition
from livebase.storage import open_storage
from livebase.storage.postgres import PostgresStorage
from tests.support.pgvector_server import fresh_pgvector_url, stop_pgvector_server
from tests.support.postgres import fresh_database_url

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh event loop (the suite needs no async plugin)."""
    return asyncio.run(coro)


def mutate(engine: Engine, fn: Callable[[Transaction], T], **kwargs: Any) -> MutationOutcome[T]:
    """Run one mutation to completion and return its outcome."""
    return run(engine.mutate(fn, **kwargs))


def read(engine: Engine, fn: Callable[[Transaction], T]) -> T:
    """Run ``fn`` in a read-only transaction and return only its result."""
    return engine.read(fn)[0]


def limits(**overrides: Any) -> Settings:
    return Settings(limits=Limits(**overrides))


class EngineFactory:
    """Opens engines on one backend (SQLite files in the test's ``tmp_path``, or fresh schemas
    on the PostgreSQL server) and closes them afterwards."""

    def __init__(
        self, tmp_path: Path, backend: str, stack: ExitStack, pgvector: Path | None = None
    ) -> None:
        self.tmp_path = tmp_path
        self.pgvector = pgvector  # the pgvector server's folder, for backend "pgvector"
        self.backend = backend
        self._stack = stack
        self._urls: dict[str, str] = {}
        self._open: list[Engine] = []

    def path(self, name: str = "db.sqlite3") -> Any:
        """Where database ``name`` lives: a file path, or a PostgreSQL URL."""
        if self.backend == "sqlite":
            return self.tmp_path / name
        if name not in self._urls:
            fresh = (
                fresh_pgvector_url(self.pgvector)
                if self.backend == "pgvector" and self.pgvector is not None
                else fresh_database_url()
            )
            self._urls[name] = self._stack.enter_context(fresh)
        return self._urls[name]

    def __call__(
        self,
        schema: SchemaDefinition = EMPTY_SCHEMA,
        *,
        path: Any = None,
        durability: str = "normal",
        settings: Settings | None = None,
        runtime: Runtime | None = None,
    ) -> Engine:
        """An opened engine; if ``open()`` raises, the storage is closed and the error re-raised."""
        storage = open_storage(path or self.path(), durability)
        engine = Engine(storage, schema, runtime=runtime, settings=settings)
        try:
            engine.open()
        except BaseException:
            storage.close()
            raise
        self._open.append(engine)
        return engine

    def close(self, engine: Engine) -> None:
        if engine in self._open:
            self._open.remove(engine)
            engine.close()

    def reopen(
        self, engine: Engine, schema: SchemaDefinition | None = None, **kwargs: Any
    ) -> Engine:
        """Close ``engine`` and open its file again (with the same schema unless given)."""
        path = location(engine)
        self.close(engine)
        return self(engine.schema if schema is None else schema, path=path, **kwargs)

    def close_all(self) -> None:
        while self._open:
            self.close(self._open[-1])


BACKENDS = ["sqlite", "postgres"]


def location(engine: Engine) -> Any:
    """Where an engine's database is: a file path or a PostgreSQL URL (to reopen it)."""
    storage: Any = engine.storage
    return storage.url if isinstance(storage, PostgresStorage) else storage.path


def raw_rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Run read-only SQL against the backend's own tables (``documents``, ``indexes``,
    ``commits``, ``globals``; prefixed ``lb_`` on PostgreSQL), bypassing the engine."""
    storage: Any = engine.storage
    if isinstance(storage, PostgresStorage):
        sql = re.sub(r"\b(documents|indexes|commits|globals)\b", r"lb_\1", sql)
        with storage._pool.connection() as conn:
            return list(conn.execute(sql).fetchall())
    return list(storage._read_conn.execute(sql).fetchall())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every engine test runs on each storage backend."""
    return str(request.param)


@pytest.fixture(scope="session")
def pgvector_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the session's PostgreSQL-with-pgvector server lives (started on first use)."""
    yield tmp_path_factory.mktemp("pgvector")
    stop_pgvector_server()


@pytest.fixture
def make_engine(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Iterator[EngineFactory]:
    with ExitStack() as stack:
        folder = request.getfixturevalue("pgvector_folder") if backend == "pgvector" else None
        factory = EngineFactory(tmp_path, backend, stack, folder)
        yield factory
        factory.close_all()


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    """A schemaless engine with ``normal`` durability."""
    return make_engine()
