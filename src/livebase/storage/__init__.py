"""Storage backends behind one narrow interface; ``open_storage`` picks one by URL or path."""

from __future__ import annotations

from pathlib import Path

from livebase.storage.base import Durability, IndexRow, Storage, StorageReader, StorageWriter


def open_storage(
    target: str | Path, durability: Durability | str = Durability.FSYNC_PER_COMMIT
) -> Storage:
    """``sqlite:///path/to/file.db`` or a plain file path opens SQLite."""
    text = str(target)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
    if "://" in text:
        raise LookupError(
            f"unsupported storage URL {str(target)!r}: only SQLite files are supported in this "
            "version (PostgreSQL arrives with the livebase[postgres] extra)"
        )
    from livebase.storage.sqlite import SqliteStorage

    return SqliteStorage(text, Durability(durability))


__all__ = ["Durability", "IndexRow", "Storage", "StorageReader", "StorageWriter", "open_storage"]
