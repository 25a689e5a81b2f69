"""The PostgreSQL server the suite runs against, and a fresh schema per test.

``LIVEBASE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names the
server; CI starts it (``.ci/run``). Tests never skip when it is down: they fail and say so.
Each test gets its own PostgreSQL schema, dropped afterwards, so tests are independent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("LIVEBASE_TEST_POSTGRES", DEFAULT_URL)


@contextmanager
def fresh_database_url(prefix: str = "t") -> Iterator[str]:
    """A ``postgresql://...?schema=...`` URL on an empty schema, dropped on exit."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    url = server_url()
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {url} ({exc}); start it (see .ci/run) or set "
            "LIVEBASE_TEST_POSTGRES"
        ) from None
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
