"""One conformance suite for the blob stores: the local folder and an S3-compatible bucket
(moto's S3 server): content addressing, ranges, existence, listing, the sweep's age rule, and
that a failed or aborted write leaves nothing behind."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from livebase.files.blobs import BlobStore, LocalBlobStore
from livebase.files.s3 import S3BlobStore, parse_s3_url
from tests.files.conftest import S3Server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "files")
        return
    s3: S3Server = request.getfixturevalue("s3_server")
    bucket = s3.bucket(f"lb-{uuid.uuid4().hex[:12]}")
    yield S3BlobStore(f"s3://{bucket}/app/one", tmp_path / "tmp", client=s3.client())


def test_put_read_and_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB: several 1 MiB chunks
    sha, size = store.put(iter([data[:1000], data[1000:]]), 10 << 20)
    assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.exists(sha)
    assert store.read_all(sha) == data
    assert b"".join(store.read(sha, 10, 20)) == data[10:20]
    assert b"".join(store.read(sha, len(data) - 5)) == data[-5:]
    assert max(len(c) for c in store.read(sha)) <= 1 << 20
    assert list(store.tmp.iterdir()) == []


def test_the_same_bytes_are_one_blob(store: BlobStore) -> None:
    a, _ = store.put(b"same", 100)
    b, _ = store.put(b"same", 100)
    assert a == b
    assert [sha for sha, _ in store.list_blobs()] == [a]


def test_an_aborted_or_oversize_write_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer(100)
    writer.write(b"half")
    writer.abort()
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        store.put(iter([b"12345", b"678901"]), 10)
    assert list(store.tmp.iterdir()) == []
    assert list(store.list_blobs()) == []
    assert not store.exists(hashlib.sha256(b"half").hexdigest())


def test_delete_only_what_is_older_than_the_cutoff(store: BlobStore) -> None:
    sha, _ = store.put(b"old enough", 100)
    assert not store.delete_if_older(sha, time.time() - 3600)  # written just now: kept
    assert store.exists(sha)
    assert store.delete_if_older(sha, time.time() + 3600)
    assert not store.exists(sha)
    assert not store.delete_if_older(sha, time.time() + 3600)  # gone already: no error


def test_names_are_only_ever_sha256(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "a" * 63, "Z" * 64):
        with pytest.raises(ValueError):
            store.exists(bad)


def test_s3_urls() -> None:
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="s3://BUCKET"):
        parse_s3_url("http://bucket/x")


def test_reading_at_the_end_or_an_empty_blob_gives_nothing(store: BlobStore) -> None:
    sha, size = store.put(b"abc", 100)
    assert list(store.read(sha, size)) == []
    empty, _ = store.put(b"", 100)
    assert store.read_all(empty) == b""
