"""A real ``livebase serve`` (or ``dev``) child process for the tests that need a server.

``LivebaseServer(app, data=..., port=..., env=..., durability=...)`` describes the process;
``start()`` runs ``sys.executable -m livebase serve APP --port P --host 127.0.0.1 --data DIR``
and waits until ``GET /version`` answers 200. The process writes its stdout and stderr to
``log_path`` (every run appended), which ``log_text()`` and ``wait_for_log()`` read. A test can
freeze it (``pause``/``resume``: SIGSTOP/SIGCONT), crash it (``kill9``) and start it again on
the same port and data folder (``restart``); ``stop()`` (SIGTERM, then SIGKILL) ends it, also
as a context manager.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT_APP = REPO_ROOT / "examples" / "chat"
# Generous: a loaded 2-core machine can take many seconds to import and load an app.
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The test process environment without any LIVEBASE_* settings, plus ``extra``.

    Output is unbuffered, and the working tree's ``src`` comes first on PYTHONPATH so that a child
    runs this checkout's package even if it has not been installed into the venv.
    """
    env = {k: val for k, val in os.environ.items() if not k.startswith("LIVEBASE_")}
    env["PYTHONUNBUFFERED"] = "1"
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


class LivebaseServer:
    """``livebase COMMAND APP`` on ``127.0.0.1:port`` with its data in ``data_dir``.

    ``admin_key`` set: the process gets it as LIVEBASE_ADMIN_KEY. Unset: the server makes or
    reuses the key in its data folder, and ``admin_key`` reads it from the ``Admin key:`` line.
    ``env`` replaces ``base_env()``; ``durability`` None leaves the flag (and the server's default)
    out. The port is picked when the object is made and kept across restarts.
    """

    def __init__(
        self,
        app: Path | str = CHAT_APP,
        *,
        data: Path,
        port: int | None = None,
        log_path: Path | None = None,
        admin_key: str | None = None,
        env: Mapping[str, str] | None = None,
        durability: str | None = None,
        command: str = "serve",
        cwd: Path = REPO_ROOT,
        db: str | None = None,
    ) -> None:
        self.app = Path(app)
        self.data_dir = data
        self.port = free_port() if port is None else port
        self.log_path = log_path or data.parent / f"server-{self.port}.log"
        self.command = command
        self.durability = durability
        self.cwd = cwd
        self._admin_key = admin_key
        self.db = db
        self._env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(cls, base: Path, **options: Any) -> Self:
        """Start a server with its data in ``base/data`` and its output in ``base/server.log``;
        ``options`` as for the constructor."""
        base.mkdir(parents=True, exist_ok=True)
        return cls(data=base / "data", log_path=base / "server.log", **options).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> str:
        return self._admin_key if self._admin_key is not None else self.logged_admin_key()

    def logged_admin_key(self) -> str:
        """The key from the last ``Admin key:`` line the server printed."""
        keys = [
            line.split(":", 1)[1].strip()
            for line in self.log_text().splitlines()
            if line.startswith("Admin key:")
        ]
        if not keys:
            raise AssertionError(f"no 'Admin key:' line in output:\n{self.log_text()}")
        return keys[-1]

    def args(self) -> list[str]:
        args = [
            sys.executable, "-m", "livebase", self.command, str(self.app),
            "--port", str(self.port), "--host", "127.0.0.1", "--data", str(self.data_dir),
        ]  # fmt: skip
        if self.durability is not None:
            args += ["--durability", self.durability]
        if self.db is not None:
            args += ["--db", self.db]
        return args

    def spawn(self) -> None:
        """Start the process without waiting for it to answer."""
        env = dict(self._env) if self._env is not None else base_env()
        if self._admin_key is not None:
            env["LIVEBASE_ADMIN_KEY"] = self._admin_key
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.args(),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> Self:
        """Start the process and wait until ``GET /version`` answers 200."""
        self.spawn()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll ``GET /version``; fail the test if the process exits or ``timeout`` passes."""
        process = self.process
        assert process is not None, "start() the server first"
        deadline = time.monotonic() + timeout
        last_error = "no attempt made"
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"livebase {self.command} exited with status {process.returncode} before it "
                    f"was ready.\ncommand: {process.args}\noutput:\n{self.log_text()}",
                    pytrace=False,
                )
            try:
                response = httpx.get(f"{self.url}/version", timeout=1.0)
                if response.status_code == 200:
                    return
                last_error = f"GET /version -> {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last_error = f"GET /version -> {type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail(
                    f"livebase {self.command} did not answer GET /version within {timeout:.0f} s "
                    f"(last: {last_error}).\ncommand: {process.args}\noutput:\n{self.log_text()}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 30.0, start: int = 0) -> bool:
        """True once ``needle`` shows up in the output after character ``start`` (the output is
        written asynchronously); False after ``timeout`` or once the process has ended without
        it."""
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.log_text()[start:]:
                return True
            ended = self.process is None or self.process.poll() is not None
            if time.monotonic() >= deadline or ended:
                return needle in self.log_text()[start:]
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets open but reads and answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill9(self) -> None:
        """SIGKILL the server process and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start a new process on the same port and data folder (the old one must be dead)."""
        assert self.process is None or self.process.poll() is not None, (
            "restart() needs the old process stopped"
        )
        self.start()

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused), then SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        # A SIGSTOPped process ignores SIGTERM until continued.
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
