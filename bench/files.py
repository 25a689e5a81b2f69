"""File upload and download throughput, and the server's memory while it moves a large file.

Starts ``livebase serve`` on a small app (``tests/files/app.py``) in a temporary folder, then for
each size: asks a mutation for an upload URL, POSTs that many bytes generated on the fly (1 MiB
chunks, no Content-Length: the client never holds the file either), downloads it through
``ctx.storage.get_url``'s URL in chunks, checks the sha256, and reports MB/s both ways and the
server's peak RSS (``VmHWM``) before and after.

    .venv/bin/python bench/files.py                     # 100 and 500 MB, SQLite
    .venv/bin/python bench/files.py --sizes 2000        # a 2 GB file
    .venv/bin/python bench/files.py --backend postgres --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.files.app import FILES_APP  # noqa: E402
from tests.support.apps import write_app  # noqa: E402
from tests.support.server import LivebaseServer, base_env  # noqa: E402

MIB = 1 << 20


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MiB (Linux ``/proc``)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def generated(size: int, seed: int = 7) -> Iterator[bytes]:
    """``size`` bytes in 1 MiB chunks, each different (so nothing compresses or repeats)."""
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    sent = 0
    n = 0
    while sent < size:
        n += 1
        chunk = n.to_bytes(8, "little") + block[8 : min(MIB, size - sent)]
        sent += len(chunk)
        yield chunk


def round_trip(url: str, size: int) -> dict[str, Any]:
    """Upload ``size`` bytes and download them again through a server at ``url``."""
    with httpx.Client(base_url=url, timeout=600) as http:
        upload_url = http.post(
            "/api/mutation", json={"path": "files:upload_url", "args": {}}
        ).json()["value"]
        expected = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for chunk in generated(size):
                expected.update(chunk)
                yield chunk

        started = time.perf_counter()
        response = http.post(
            upload_url, content=body(), headers={"content-type": "application/octet-stream"}
        )
        upload_s = time.perf_counter() - started
        response.raise_for_status()
        storage_id = response.json()["storageId"]
        file_url = http.post(
            "/api/query", json={"path": "files:url", "args": {"id": storage_id}}
        ).json()["value"]
        got = hashlib.sha256()
        received = 0
        started = time.perf_counter()
        with http.stream("GET", file_url) as download:
            download.raise_for_status()
            for chunk in download.iter_bytes(MIB):
                got.update(chunk)
                received += len(chunk)
        download_s = time.perf_counter() - started
    if received != size or got.hexdigest() != expected.hexdigest():
        raise AssertionError(f"downloaded {received} bytes that differ from the upload")
    return {
        "bytes": size,
        "upload_mb_s": size / 1e6 / upload_s,
        "download_mb_s": size / 1e6 / download_s,
        "storage_id": storage_id,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500], help="MB")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    results = []
    with ExitStack() as stack:
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lb-files-bench-")))
        db = None
        if options.backend == "postgres":
            from tests.support.postgres import fresh_database_url

            db = stack.enter_context(fresh_database_url("bench_files"))
        app = write_app(base / "app", FILES_APP)
        server = stack.enter_context(
            LivebaseServer.launch(base / "srv", app=app, db=db, env=base_env())
        )
        assert server.process is not None
        pid = server.process.pid
        rss0, peak0 = peak_rss_mib(pid)
        for mb in options.sizes:
            result = round_trip(server.url, mb * 1_000_000)
            rss, peak = peak_rss_mib(pid)
            result.update(rss_before_mib=rss0, peak_before_mib=peak0, peak_after_mib=peak)
            result.update(rss_after_mib=rss)
            results.append(result)
            if not options.json:
                print(
                    f"{mb:>6} MB  upload {result['upload_mb_s']:7.1f} MB/s  download "
                    f"{result['download_mb_s']:7.1f} MB/s  server peak RSS {peak0:.0f} -> "
                    f"{peak:.0f} MiB",
                    flush=True,
                )
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "backend": options.backend,
        "results": results,
    }
    if options.json:
        print(json.dumps(info, indent=2))
    else:
        print(info["machine"])


if __name__ == "__main__":
    main()
