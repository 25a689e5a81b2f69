"""A real ``agentfeed serve`` process in a fresh ``HOME`` for the command-line tests: started
as a user would (the ``agentfeed`` script of this interpreter's environment), its output in
files, its ``livebase serve`` child found through ``/proc``, and every process it left ended by
pid when the test is done."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from tests.support.processes import alive
from tests.support.server import base_env, free_port

DEADLINE = 30.0
T = TypeVar("T")


def agentfeed_command() -> list[str]:
    """``.venv/bin/agentfeed`` (the script the README runs), else ``python -m agentfeed``."""
    script = Path(sys.executable).with_name("agentfeed")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentfeed"]


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """The test environment with ``HOME`` at ``home`` and no agentfeed or Claude settings."""
    env = {
        k: v
        for k, v in base_env().items()
        if not k.startswith("AGENTFEED_") and k != "CLAUDE_CONFIG_DIR"
    }
    env.update(HOME=str(home), **extra)
    return env


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something other than None (or False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Serve:
    """``agentfeed serve --port PORT`` with ``HOME`` at ``home``."""

    def __init__(self, home: Path, *args: str, port: int | None = None, **env: str) -> None:
        self.home = home
        self.port = port if port is not None else free_port()
        self.out = home.parent / f"serve-{self.port}.out"
        self.err = home.parent / f"serve-{self.port}.err"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [*agentfeed_command(), "serve", "--port", str(self.port), *args],
                env=fresh_env(home, **env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.children: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_banner(self) -> str:
        """The output up to the banner's ``install-hook`` line."""
        return wait_for(
            lambda: self.stdout() if "agentfeed install-hook --url" in self.stdout() else None,
            f"the banner\nstdout:\n{self.stdout()}\nstderr:\n{self.stderr()}",
        )

    def child(self) -> int:
        """The ``livebase serve`` child's pid."""
        pid = self.proc.pid
        text = wait_for(
            lambda: Path(f"/proc/{pid}/task/{pid}/children").read_text().strip() or None,
            "the livebase serve child",
        )
        child = int(text.split()[0])
        self.children.append(child)
        return child

    def close(self) -> None:
        """End what is left, by pid: the agentfeed process, then any child it has or left."""
        pid = self.proc.pid
        with contextlib.suppress(OSError):
            found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            self.children += [int(child) for child in found]
        for pid in (self.proc.pid, *self.children):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
