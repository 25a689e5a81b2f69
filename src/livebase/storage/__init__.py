"""Storage backends behind one narrow interface; ``open_storage`` picks one by URL or path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from livebase.storage.base import Durability, IndexRow, Storage, StorageReader, StorageWriter


def open_storage(
    target: str | Path,
    durability: Durability | str = Durability.FSYNC_PER_COMMIT,
    *,
    sqlite_cache_mib: int = 64,
) -> Storage:
    """``sqlite:///path/to/file.db`` or a plain file path opens SQLite (with a page cache of
    ``sqlite_cache_mib`` per connection); ``postgresql://user@host:port/db[?schema=name]``
    opens PostgreSQL."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from livebase.storage.postgres import PostgresStorage
        except ImportError:
            raise LookupError(
                "PostgreSQL storage needs psycopg: pip install 'livebase[postgres]'"
            ) from None
        return PostgresStorage(text, Durability(durability))
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
    if "://" in text:
        raise LookupError(
            f"unsupported storage URL {str(target)!r}: use a file path, sqlite:///path or "
            "postgresql://user@host:port/database"
        )
    from livebase.storage.sqlite import SqliteStorage

    return SqliteStorage(text, Durability(durability), cache_mib=sqlite_cache_mib)


def redact(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


__all__ = [
    "Durability",
    "IndexRow",
    "Storage",
    "StorageReader",
    "StorageWriter",
    "open_storage",
    "redact",
]
