"""A running server and a ``livebase <command>`` (``env``, ``logs``...) run against it as a real
process, the way an operator runs it: ``--url`` to the server and, unless told not to, ``--data``
so the command finds the admin key in the data folder."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import LivebaseServer, base_env


@dataclass
class AdminCliServer:
    server: LivebaseServer
    base: Path
    command_name: str
    """The ``livebase`` subcommand this fixture runs (``env``, ``logs``)."""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data(self) -> Path:
        return self.server.data_dir

    def command(self, *args: str, key: bool = True) -> list[str]:
        extra = ["--url", self.url] + (["--data", str(self.data)] if key else [])
        return [sys.executable, "-m", "livebase", self.command_name, *args, *extra]

    def cli(
        self, *args: str, stdin: str | None = None, key: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``livebase <command> ARGS`` to completion; the admin key found through ``--data``
        unless ``key`` is false."""
        return subprocess.run(
            self.command(*args, key=key),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=base_env(),
            cwd=cwd or self.base,
            timeout=60,
        )
