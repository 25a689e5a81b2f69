"""Fixtures that build an ``Engine`` on a real SQLite file under ``tmp_path`` (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from livebase.config import Limits, Settings
from livebase.engine import Engine, MutationOutcome, Transaction
from livebase.runtime import Runtime
from livebase.schema.definition import EMPTY_SCHEMA, SchemaDefinition
from livebase.storage import open_storage

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
    """Opens engines on SQLite files in one test's ``tmp_path`` and closes them afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._open: list[Engine] = []

    def path(self, name: str = "db.sqlite3") -> Path:
        return self.tmp_path / name

    def __call__(
        self,
        schema: SchemaDefinition = EMPTY_SCHEMA,
        *,
        path: Path | None = None,
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
        path = Path(engine.storage.path)  # type: ignore[attr-defined]
        self.close(engine)
        return self(engine.schema if schema is None else schema, path=path, **kwargs)

    def close_all(self) -> None:
        while self._open:
            self.close(self._open[-1])


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[EngineFactory]:
    factory = EngineFactory(tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    """A schemaless engine with ``normal`` durability."""
    return make_engine()
