"""A ``livebase serve examples/chat`` child process for tests that control its life: start it,
``kill -9`` it, start it again on the same data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "crash-test-admin-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path, durability: str) -> None:
        self.data, self.durability = data, durability
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LIVEBASE_ADMIN_KEY": ADMIN_KEY}
        cmd = [sys.executable, "-m", "livebase", "serve", str(REPO / "examples" / "chat")]
        cmd += ["--port", str(self.port), "--data", str(self.data)]
        cmd += ["--durability", self.durability]
        with open(self.data.parent / f"server-{self.port}.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/version", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.kill()
        raise AssertionError("server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def call(self, kind: str, path: str, args: dict, **headers: str) -> dict:
        r = httpx.post(
            f"{self.url}/api/{kind}",
            json={"path": path, "args": args, "format": "convex_encoded_json"},
            headers={"Authorization": f"Convex {ADMIN_KEY}", **headers},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()
