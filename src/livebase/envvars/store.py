"""Where a deployment's environment variables live: encrypted in the database, decrypted in
memory.

Like the built-in issuer's accounts, the rows are storage globals, not documents: no query,
mutation, change stream or export of app tables can read them, they are shared by every node
on one PostgreSQL database and they move with ``livebase migrate``. Each row is::

    _env:<NAME>     {"kid": key id, "n": nonce, "c": AES-GCM ciphertext}   (base64)
    _env.version    a random token, new on every change

A change is one storage transaction; the node that made it reloads its copy before answering,
so calls that start after ``livebase env set`` returns see the new value, and then tells
``on_change`` (which re-runs the subscriptions that read ``ctx.env``). On a shared database
``follow`` notices another node's change by its version within ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from livebase.envvars.cipher import KEY_ENV, EnvKey, EnvKeyError, KeySource
from livebase.envvars.names import check_name, check_totals, check_value
from livebase.envvars.view import EnvView
from livebase.errors import ConflictError
from livebase.storage.base import Storage, StorageReader, StorageWriter

log = logging.getLogger("livebase.env")

PREFIX = "_env:"
VERSION = "_env.version"
_TAG_BYTES = 16  # AES-GCM's tag: a ciphertext is this much longer than its value
_WRITE_ATTEMPTS = 5

Row = dict[str, Any]


def _scan(store: StorageReader) -> Iterator[tuple[str, Row]]:
    """``(name, row)`` of every variable, in name order."""
    after = PREFIX
    while True:
        rows = store.dump("globals", (after,), 500)
        for key, text in rows:
            if not str(key).startswith(PREFIX):
                return
            row = json.loads(str(text))
            if isinstance(row, dict):
                yield str(key)[len(PREFIX) :], row
        if len(rows) < 500:
            return
        after = str(rows[-1][0])


def _value_size(row: Row) -> int:
    return max(len(base64.b64decode(str(row.get("c", "")))) - _TAG_BYTES, 0)


class EnvStore:
    """The variables of one deployment, for every caller on this node."""

    def __init__(self, storage: Storage, data_dir: Path, *, poll_seconds: float = 1.0) -> None:
        self.storage = storage
        self.keys = KeySource(data_dir)
        self.poll_seconds = poll_seconds
        self.on_change: list[Callable[[], None]] = []
        self._values: Mapping[str, str] = MappingProxyType({})
        self._error: EnvKeyError | None = None
        self._version: str | None = None
        self._loaded = False

    # -- reading ---------------------------------------------------------------------------------

    def load(self) -> bool:
        """Read and decrypt the variables again; whether they changed. A node that cannot
        decrypt them logs why (once per reason) and every ``ctx.env`` use then raises it."""
        with self.storage.reader() as r:
            version = r.get_global(VERSION)
            rows = list(_scan(r))
        if self._loaded and version == self._version:
            return False
        values: dict[str, str] = {}
        error: EnvKeyError | None = None
        try:
            key = self.keys.load(create=False)
            for name, row in rows:
                values[name] = self._open(key, name, row)
        except EnvKeyError as exc:
            error = exc
        if error is not None and (self._error is None or self._error.message != error.message):
            log.error("environment variables: %s", error.message)
        self._loaded, self._version, self._error = True, version, error
        self._values = MappingProxyType(values)
        return True

    def _open(self, key: EnvKey | None, name: str, row: Row) -> str:
        kid = str(row.get("kid", ""))
        if key is None:
            raise EnvKeyError(
                f"the database holds environment variables (first: {name}) encrypted with key "
                f"id {kid}, but this node has no key: {self.keys.path} does not exist and "
                f"{KEY_ENV} is not set. Give this node the key they were set with ({KEY_ENV}, "
                "the same on every node sharing the database, or the env_key file of the data "
                "folder they were set from)"
            )
        if kid != key.kid:
            raise EnvKeyError(_other_key(name, kid, key))
        return key.open(name, str(row.get("n", "")), str(row.get("c", "")))

    def view(self) -> EnvView:
        """``ctx.env`` for a call starting now."""
        values, error = self._values, self._error

        def load() -> Mapping[str, str]:
            if error is not None:
                raise error
            return values

        return EnvView(load)

    def values(self) -> Mapping[str, str]:
        """The current values, read again from the database; ``EnvKeyError`` if this node
        cannot decrypt them."""
        self.refresh()
        if self._error is not None:
            raise self._error
        return self._values

    def names(self) -> list[str]:
        """The names set, read again from the database (no key needed)."""
        with self.storage.reader() as r:
            return [name for name, _ in _scan(r)]

    def refresh(self) -> None:
        """Load again and tell ``on_change`` if another node changed something."""
        if self.load():
            self._changed()

    # -- changing --------------------------------------------------------------------------------

    async def set(self, name: str, value: str) -> bool:
        """Set ``name`` to ``value`` (checked, encrypted); whether it is new."""
        name = check_name(name)
        value = check_value(name, value)
        key = self.keys.load(create=True)
        assert key is not None

        def write(w: StorageWriter) -> bool:
            rows = dict(_scan(w))
            for other, row in rows.items():
                if str(row.get("kid", "")) != key.kid:
                    raise EnvKeyError(_other_key(other, str(row.get("kid", "")), key))
            created = name not in rows
            nonce, sealed = key.seal(name, value)
            rows[name] = {"kid": key.kid, "n": nonce, "c": sealed}
            total = sum(len(n.encode()) + _value_size(r) for n, r in rows.items())
            check_totals(len(rows), total)
            w.set_global(PREFIX + name, json.dumps(rows[name], separators=(",", ":")))
            return created

        return await self._write(write)

    async def unset(self, name: str) -> bool:
        """Remove ``name``; whether it was set. Works without the key (a variable set under a
        lost key can still be removed)."""
        name = check_name(name)

        def write(w: StorageWriter) -> bool:
            if w.get_global(PREFIX + name) is None:
                return False
            w.delete_global(PREFIX + name)
            return True

        return await self._write(write)

    async def _write(self, change: Callable[[StorageWriter], bool]) -> bool:
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self.storage.writer() as w:
                    outcome = change(w)
                    w.set_global(VERSION, secrets.token_hex(8))
                break
            except ConflictError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        self.load()
        self._changed()
        return outcome

    def _changed(self) -> None:
        for callback in list(self.on_change):
            try:
                callback()
            except Exception:
                log.exception("an environment variable change listener failed")

    async def follow(self) -> None:
        """On a shared database: pick up other nodes' changes (a background service)."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            with self.storage.reader() as r:
                version = r.get_global(VERSION)
            if version != self._version:
                self.refresh()


def _other_key(name: str, kid: str, key: EnvKey) -> str:
    return (
        f"environment variable {name} was encrypted with key id {kid}, but this node's key "
        f"(from {key.where}) has id {key.kid}. Nodes sharing a database must share the key: "
        f"set the same {KEY_ENV} on every node (or copy the env_key file of the node that "
        "set it); to start over, `livebase env unset` each variable and set it again"
    )


__all__ = ["PREFIX", "VERSION", "EnvStore"]
