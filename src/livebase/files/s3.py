"""Blobs in an S3-compatible bucket (AWS S3, MinIO, R2, Ceph...), through boto3.

``LIVEBASE_FILES=s3://BUCKET/PREFIX`` selects it; ``LIVEBASE_S3_ENDPOINT_URL`` points at a
server other than AWS (MinIO: ``http://minio:9000``); credentials and region come the way boto3
finds them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` or
``AWS_DEFAULT_REGION``, a profile, an instance role). A blob is the object
``PREFIX/blobs/<sha256>``. Uploads are still hashed into the local ``tmp`` folder first (so the
sha256 is known before the object is named), then sent with boto3's managed transfer (multipart
above 8 MiB, streamed from the file); downloads are ranged ``GetObject`` calls read in 1 MiB
chunks. Nothing is held in memory whole.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from livebase.files.blobs import CHUNK, BlobStore, check_sha256, is_sha256


def _client_error() -> Any:
    from botocore.exceptions import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        ClientError,
    )

    return ClientError


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"LIVEBASE_FILES={url!r}: expected s3://BUCKET[/PREFIX]")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore(BlobStore):
    def __init__(
        self, url: str, tmp: Path, *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        try:
            import boto3  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise ValueError(
                "LIVEBASE_FILES=s3://... needs boto3: pip install 'livebase[s3]'"
            ) from None
        self.bucket, prefix = parse_s3_url(url)
        self.prefix = f"{prefix}/blobs/" if prefix else "blobs/"
        endpoint = endpoint_url or os.environ.get("LIVEBASE_S3_ENDPOINT_URL") or None
        self.client = client or boto3.client("s3", endpoint_url=endpoint)
        self.tmp = tmp
        self.tmp.mkdir(parents=True, exist_ok=True)

    def key(self, sha: str) -> str:
        return self.prefix + check_sha256(sha)

    def place(self, temp: Path, sha: str) -> None:
        key = self.key(sha)
        if self.exists(sha):  # refresh its age: the sweep keeps it while it is referenced
            self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
            )
            return
        self.client.upload_file(str(temp), self.bucket, key)

    def exists(self, sha: str) -> bool:
        ClientError = _client_error()

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def read(
        self, sha: str, start: int = 0, end: int | None = None
    ) -> Generator[bytes, None, None]:
        if end is not None and end <= start:
            return
        wanted = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(sha), Range=wanted)
        except _client_error() as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # at or past the end (an empty object has no byte 0)
            raise
        body = response["Body"]
        try:
            while True:
                data = body.read(CHUNK)
                if not data:
                    return
                yield data
        finally:
            body.close()

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if is_sha256(name):
                    yield name, item["LastModified"].timestamp()

    def delete_if_older(self, sha: str, before: float) -> bool:
        ClientError = _client_error()

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha))
        except ClientError:
            return False
        if head["LastModified"].timestamp() >= before:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha))
        return True


def open_blob_store(root: Path) -> BlobStore:
    """``LIVEBASE_FILES`` (``s3://...``), else the local folder ``root``."""
    from livebase.files.blobs import LocalBlobStore

    configured = os.environ.get("LIVEBASE_FILES", "").strip()
    if not configured or configured in ("local", "disk"):
        return LocalBlobStore(root)
    if configured.startswith("s3://"):
        return S3BlobStore(configured, root / "tmp")
    raise ValueError(f"LIVEBASE_FILES={configured!r}: expected s3://BUCKET[/PREFIX] or nothing")
