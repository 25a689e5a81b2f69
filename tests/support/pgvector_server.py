"""A second PostgreSQL server, with the pgvector extension, for the ``pgvector`` vector layout.

The suite's main server (Debian's PostgreSQL 15) has no pgvector, and Debian's lists here do not
carry it. The ``pgserver`` wheel on PyPI ships PostgreSQL 16 with pgvector built in, so the
pgvector path runs for real: one server per test session in a temporary folder, reached over a
Unix socket, stopped at the end. Nothing here is faked; if the wheel is missing the tests fail
and say how to install it.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_server: Any = None


def pgvector_server_url(folder: Path) -> str:
    """The URL of the session's pgvector server, started in ``folder`` on first use."""
    global _server
    if _server is None:
        # pgserver asks platformdirs for a runtime folder, which warns where XDG_RUNTIME_DIR is
        # unset (CI, containers); the suite turns warnings into errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                import pgserver
            except ImportError:
                raise RuntimeError(
                    "the pgvector tests need the pgserver wheel (PostgreSQL with pgvector): "
                    "pip install -e '.[test]'"
                ) from None
            _server = pgserver.get_server(folder, cleanup_mode="stop")
        _server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return str(_server.get_uri())


def stop_pgvector_server() -> None:
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None


@contextmanager
def fresh_pgvector_url(folder: Path) -> Iterator[str]:
    """A URL on an empty schema of the pgvector server, dropped on exit."""
    import psycopg

    url = pgvector_server_url(folder)
    schema = f"v_{uuid.uuid4().hex[:16]}"
    try:
        yield f"{url}&schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
