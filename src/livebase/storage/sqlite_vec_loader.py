"""Loading sqlite-vec (PyPI ``sqlite-vec``) into the storage's SQLite connections.

Python's ``sqlite3`` loads extensions with ``enable_load_extension``, but many Pythons are built
without it (pyenv's and python-build-standalone's by default). Then the extension is registered
with the SQLite library the ``sqlite3`` module itself uses, through SQLite's public
``sqlite3_auto_extension``: every connection opened afterwards has ``vec0``. Whether it worked
is checked on each connection (``vec_version()``), never assumed: a Python whose SQLite is
linked in statically gets the exact scan and one warning instead.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("livebase.storage")

_lock = threading.Lock()
_registered: bool | None = None  # None: not tried yet
_failure = ""
_warned = False


def _sqlite_library_path() -> str | None:
    """The libsqlite3 file the ``sqlite3`` module is linked to, as this process mapped it."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if "/libsqlite3" in path:
            return path
    return None


def _loadable_path() -> str | None:
    """sqlite-vec's shared library, without its suffix (as ``load_extension`` takes it)."""
    try:
        module = importlib.import_module("sqlite_vec")  # untyped: only this call is used
    except ImportError:
        return None
    return str(module.loadable_path())


def _register_auto_extension() -> None:
    global _registered, _failure
    with _lock:
        if _registered is not None:
            return
        _registered = False
        if _loadable_path() is None:
            _failure = "the sqlite-vec package is not installed (pip install sqlite-vec)"
            return
        if hasattr(sqlite3.Connection, "enable_load_extension"):
            _registered = True  # loaded per connection in ``load``
            return
        library = _sqlite_library_path()
        if library is None:
            _failure = (
                "this Python's sqlite3 cannot load extensions (built without "
                "enable_load_extension) and its SQLite library is not a shared one"
            )
            return
        try:
            sqlite = ctypes.CDLL(library)
            vec = ctypes.CDLL(f"{_loadable_path()}.so")
            entry = ctypes.cast(vec.sqlite3_vec_init, ctypes.c_void_p)
            rc = sqlite.sqlite3_auto_extension(entry)
        except (OSError, AttributeError) as exc:
            _failure = f"registering sqlite-vec with {library} failed: {exc}"
            return
        if rc != 0:
            _failure = f"sqlite3_auto_extension returned {rc}"
            return
        _registered = True


def prepare() -> None:
    """Call before opening a connection that should have ``vec0``."""
    _register_auto_extension()


def load(conn: sqlite3.Connection) -> bool:
    """Whether ``vec0`` works on ``conn`` (opened after ``prepare()``)."""
    global _failure
    if not _registered:
        return False
    path = _loadable_path()
    if hasattr(conn, "enable_load_extension") and path is not None:
        try:
            conn.enable_load_extension(True)
            conn.load_extension(path)
        except sqlite3.Error as exc:
            _failure = f"loading sqlite-vec failed: {exc}"
            return False
        finally:
            conn.enable_load_extension(False)
    if not works(conn):
        _failure = "sqlite-vec is not available on the connection (vec_version() failed)"
        return False
    return True


def works(conn: sqlite3.Connection) -> bool:
    """Whether ``vec0`` is already available on ``conn``."""
    try:
        conn.execute("SELECT vec_version()").fetchone()
    except sqlite3.Error:
        return False
    return True


def warn_unavailable() -> None:
    """Log, once per process, that vector indexes on SQLite fall back to an exact scan."""
    global _warned
    with _lock:
        if _warned or not _failure:  # nothing failed: a connection that did not try to load
            return
        _warned = True
    log.warning(
        "sqlite-vec could not be loaded (%s): vector searches on SQLite fall back to an exact "
        "scan in Python, which suits a few thousand vectors",
        _failure or "unknown reason",
    )
