"""``livebase migrate --files-from DIR --files-to DIR``: copy stored files' bytes with the database.

The database copy carries the ``_storage`` rows; the bytes live in the data folder
(``<data>/files/blobs``). Each blob is read, its sha256 checked against its name while it is
written into the target's temporary folder, and renamed into place; a blob the target already
has is skipped, so running it again finishes an interrupted copy. A blob whose bytes do not match
its name is reported, never copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from livebase.files.blobs import LocalBlobStore

FILES_DIR = "files"


@dataclass
class FilesCopied:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)


def copy_files(source_data: Path, target_data: Path) -> FilesCopied:
    """Copy every blob under ``source_data/files`` to ``target_data/files``."""
    source_root = source_data / FILES_DIR / "blobs"
    if not source_root.is_dir():
        raise ValueError(f"{source_data} holds no stored files ({source_root} is missing)")
    source = LocalBlobStore(source_data / FILES_DIR)
    target = LocalBlobStore(target_data / FILES_DIR)
    result = FilesCopied()
    for sha, _ in sorted(source.list_blobs()):
        if target.exists(sha):
            result.skipped += 1
            continue
        writer = target.writer(1 << 62)
        try:
            for chunk in source.read(sha):
                writer.write(chunk)
            if writer.sha256 != sha:
                writer.abort()
                result.corrupt.append(sha)
                continue
            result.bytes += writer.size
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        result.copied += 1
    return result
