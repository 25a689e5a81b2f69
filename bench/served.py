"""A ``livebase serve`` child process for a benchmark: started on a free port, waited for until
it answers, and stopped (terminate, then kill) however the benchmark ends.

``env`` is the server's environment as given (a benchmark that must not inherit the caller's
``LIVEBASE_*`` settings filters them out first); ``src`` goes on its ``PYTHONPATH``, so another
checkout's build can be measured.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    data: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/sync"


class ServerDidNotStart(RuntimeError):
    """The server exited or did not answer ``/version`` within the start-up deadline."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(
    app: Path,
    data: Path,
    *,
    src: str = str(ROOT / "src"),
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    start_timeout: float = 60.0,
) -> Iterator[Served]:
    """Serve ``app`` with its data in ``data``; the log goes to ``data/../server.log``."""
    port = free_port()
    environment = {**(os.environ if env is None else env), "PYTHONPATH": src}
    environment["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "livebase", "serve", str(app), "--port", str(port),
           "--host", "127.0.0.1", "--data", str(data), *args]  # fmt: skip
    log_path = data.parent / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(process, port, start_timeout, log_path)
            yield Served(process, port, log_path, data)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def served_module(
    source: str, name: str = "work", *, more: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """Serve a one-module app (``source`` as ``<name>.py``, plus the files in ``more``, e.g.
    ``{"auth.py": ...}``) from a temporary folder; the data folder is ``Served.data``."""
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        (app / f"{name}.py").write_text(textwrap.dedent(source))
        for file, text in (more or {}).items():
            (app / file).write_text(textwrap.dedent(text))
        with served(app, Path(tmp) / "data") as server:
            yield server


def _wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/version", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise ServerDidNotStart(f"the server did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


__all__ = ["ROOT", "Served", "ServerDidNotStart", "free_port", "served", "served_module"]
