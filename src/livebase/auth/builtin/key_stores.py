"""Where the built-in issuer's signing keys are kept: a private file in the data folder (one
node), or the database every node shares (several nodes on one PostgreSQL database).

A store holds one JSON text (``SigningKeys`` reads and writes it) and changes it only through
``update``, which reads, transforms and writes in one step: on the database, in one
transaction, so two nodes starting together (or one rotating while another starts) agree on one
key set instead of each making its own.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from livebase.storage.base import Storage

log = logging.getLogger("livebase.auth")

KEYS_FILE = "auth_keys.json"
KEYS_GLOBAL = "auth_signing_keys"
"""The storage global holding the key set of a deployment on a shared database."""


class KeyStore(Protocol):
    where: str
    """Named in messages: the file's path, or the database global."""
    shared: bool
    """Whether other nodes may change it (then it is read again now and then)."""

    def load(self) -> str | None: ...

    def update(self, change: Callable[[str | None], str]) -> str:
        """Write ``change(current)`` in place of the current text, atomically; returns it."""
        ...


class FileKeyStore:
    """``auth_keys.json`` in the data folder, readable by its owner only."""

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def load(self) -> str | None:
        if not self.path.exists():
            return None
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); now 0600", self.path, mode)
            self.path.chmod(0o600)
        return self.path.read_text()

    def update(self, change: Callable[[str | None], str]) -> str:
        current = self.load()
        text = change(current)
        if text != current:
            write_private(self.path, text)
        return text


class DatabaseKeyStore:
    """The key set in the shared database, beside the admin key every node reads from there.
    On first use, a key file of the node's data folder (a deployment moved from one node and
    SQLite) is taken over, so the tokens it signed keep verifying."""

    shared = True

    def __init__(self, storage: Storage, seed: FileKeyStore | None = None) -> None:
        self.storage = storage
        self.seed = seed
        self.where = f"the database (global {KEYS_GLOBAL!r})"

    def load(self) -> str | None:
        with self.storage.reader() as r:
            return r.get_global(KEYS_GLOBAL)

    def update(self, change: Callable[[str | None], str]) -> str:
        with self.storage.writer() as w:
            current = w.get_global(KEYS_GLOBAL)
            if current is None and self.seed is not None:
                current = self.seed.load()
                if current is not None:
                    log.info("signing keys taken over from %s into the database", self.seed.where)
            text = change(current)
            if text != w.get_global(KEYS_GLOBAL):
                w.set_global(KEYS_GLOBAL, text)
        return text


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a 0600 temporary file, fsynced and renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


__all__ = [
    "KEYS_FILE",
    "KEYS_GLOBAL",
    "DatabaseKeyStore",
    "FileKeyStore",
    "KeyStore",
    "write_private",
]
