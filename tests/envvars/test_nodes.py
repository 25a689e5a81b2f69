"""Two nodes on one PostgreSQL database: a variable set through one is read on the other within
about a second, and the other node's live queries that read ``ctx.env`` follow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from livebase.client import Client
from tests.support.calls import call
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer, base_env

from .conftest import app_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

KEY = "c2hhcmVkIGJ5IGV2ZXJ5IG5vZGUgb2YgdGhlIHRlc3Q="  # 32 bytes
ADMIN = "lb_admin_two_nodes"


def test_a_change_on_one_node_reaches_the_other(tmp_path: Path) -> None:
    app = app_dir(tmp_path)
    with fresh_database_url("env") as db:
        env = base_env(LIVEBASE_DB=db, LIVEBASE_ENV_KEY=KEY)
        nodes = [
            LivebaseServer(
                app,
                data=tmp_path / name,
                env=env,
                admin_key=ADMIN,
                log_path=tmp_path / f"{name}.log",
            )
            for name in ("a", "b")
        ]
        with nodes[0].start(), nodes[1].start():
            a, b = nodes

            async def watch() -> tuple[str, str, float]:
                async with Client(b.url) as client:
                    updates = client.subscribe("settings:greeting", {})
                    first = await anext(updates)
                    started = time.monotonic()
                    done = await asyncio.to_thread(_set, a, "GREETING", "from node a")
                    assert done == 200
                    second = await asyncio.wait_for(anext(updates), 10)
                    return first, second, time.monotonic() - started

            first, second, seconds = asyncio.run(watch())
            assert (first, second) == ("unset", "from node a")
            assert seconds < 5
            assert call(b.url, ADMIN, "query", "settings:greeting", {}) == "from node a"


def _set(server: LivebaseServer, name: str, value: str) -> int:
    response = httpx.put(
        f"{server.url}/api/admin/env/{name}",
        json={"value": value},
        headers={"authorization": f"Convex {ADMIN}"},
        timeout=30,
    )
    return response.status_code
