"""The built-in issuer's two system tables, ``_auth_accounts`` and ``_auth_refresh_tokens``.

Their rows are kept in the storage's globals (beside the catalog and idempotency records), not
as documents: no query, mutation, action, change stream or export of app tables can read them,
so app code learns about an account only through ``ctx.auth``. They live in the app's database,
so they are shared by every node on one PostgreSQL database and move with ``livebase migrate``.

Each row is one JSON value under a key that names its table::

    _auth_accounts:<subject>                      an account
    _auth_accounts.by_email:<email>               -> its subject (emails are unique)
    _auth_refresh_tokens:<sha256 of the token>    a refresh token (the token itself is never kept)
    _auth_refresh_tokens.family:<family id>       a chain of rotated refresh tokens: one sign-in
    _auth_refresh_tokens.by_expiry:<unix s>:<key> -> a row to delete once expired

Reads and writes run on the event-loop thread, like the engine's own: a write is one short
storage transaction, so it never interleaves with a commit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from livebase.errors import ConflictError
from livebase.storage.base import Storage, StorageReader, StorageWriter

ACCOUNTS = "_auth_accounts"
REFRESH_TOKENS = "_auth_refresh_tokens"
_BY_EMAIL = f"{ACCOUNTS}.by_email:"
_FAMILY = f"{REFRESH_TOKENS}.family:"
_BY_EXPIRY = f"{REFRESH_TOKENS}.by_expiry:"
_WRITE_ATTEMPTS = 5

T = TypeVar("T")
Row = dict[str, Any]


def account_key(subject: str) -> str:
    return f"{ACCOUNTS}:{subject}"


def email_key(email: str) -> str:
    return f"{_BY_EMAIL}{email}"


def token_key(token_hash: str) -> str:
    return f"{REFRESH_TOKENS}:{token_hash}"


def family_key(family: str) -> str:
    return f"{_FAMILY}{family}"


def expiry_key(expires: int, key: str) -> str:
    return f"{_BY_EXPIRY}{expires:012d}:{key}"


class Rows:
    """JSON rows over one storage transaction."""

    def __init__(self, store: StorageReader) -> None:
        self._store = store

    def get(self, key: str) -> Row | None:
        text = self._store.get_global(key)
        if text is None:
            return None
        row = json.loads(text)
        return row if isinstance(row, dict) else None

    def get_text(self, key: str) -> str | None:
        return self._store.get_global(key)

    def scan(self, prefix: str, limit: int = 1000) -> Iterator[tuple[str, str]]:
        """``(key, value)`` of every row whose key starts with ``prefix``, in key order."""
        after = prefix
        while True:
            rows = self._store.dump("globals", (after,), limit)
            for key, value in rows:
                if not str(key).startswith(prefix):
                    return
                yield str(key), str(value)
            if len(rows) < limit:
                return
            after = str(rows[-1][0])

    def put(self, key: str, row: Row | str) -> None:
        text = row if isinstance(row, str) else json.dumps(row, separators=(",", ":"))
        self._writer().set_global(key, text)

    def delete(self, key: str) -> None:
        self._writer().delete_global(key)

    def expire_at(self, expires: int, key: str) -> None:
        """Have ``key`` deleted by ``prune`` once ``expires`` has passed."""
        self._writer().set_global(expiry_key(expires, key), key)

    def take_expired(self, now: int, limit: int) -> list[str]:
        """Remove up to ``limit`` expiry markers due before ``now``; the keys they named."""
        taken = self._writer().take_globals(_BY_EXPIRY, expiry_key(now, ""), limit)
        return [key for _, key in taken]

    def _writer(self) -> StorageWriter:
        assert isinstance(self._store, StorageWriter), "a write outside AuthTables.write"
        return self._store


class AuthTables:
    """Access to the two tables in one storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def read(self, fn: Callable[[Rows], T]) -> T:
        """Run ``fn`` on one consistent snapshot."""
        with self.storage.reader() as r:
            return fn(Rows(r))

    async def write(self, fn: Callable[[Rows], T]) -> T:
        """Run ``fn`` in one write transaction (committed when it returns, rolled back when it
        raises), again after a short pause if the storage was busy."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._writer() as rows:
                    return fn(rows)
            except ConflictError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def _writer(self) -> Iterator[Rows]:
        with self.storage.writer() as w:
            yield Rows(w)


def scan_accounts(rows: Rows) -> Iterator[Row]:
    """Every account row (in subject order)."""
    for _, text in rows.scan(ACCOUNTS + ":"):
        row = json.loads(text)
        if isinstance(row, dict):
            yield row


__all__ = [
    "ACCOUNTS",
    "REFRESH_TOKENS",
    "AuthTables",
    "Row",
    "Rows",
    "account_key",
    "email_key",
    "expiry_key",
    "family_key",
    "scan_accounts",
    "token_key",
]
