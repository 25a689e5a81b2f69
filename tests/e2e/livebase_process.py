"""A ``livebase serve examples/chat`` child process for tests that control its life: start it,
``kill -9`` it, start it again on the same data."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import LivebaseServer

ADMIN_KEY = "crash-test-admin-key"


class Server(LivebaseServer):
    """Made on a free port, started by ``start()``; its output goes to ``server-<port>.log``
    next to the data folder."""

    def __init__(self, data: Path, durability: str) -> None:
        super().__init__(data=data, durability=durability, admin_key=ADMIN_KEY)

    @property
    def data(self) -> Path:
        return self.data_dir

    @data.setter
    def data(self, value: Path) -> None:
        self.data_dir = value

    def kill(self) -> None:
        self.kill9()

    def call(self, kind: str, path: str, args: dict, **headers: str) -> dict:
        r = httpx.post(
            f"{self.url}/api/{kind}",
            json={"path": path, "args": args, "format": "convex_encoded_json"},
            headers={"Authorization": f"Convex {ADMIN_KEY}", **headers},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()
