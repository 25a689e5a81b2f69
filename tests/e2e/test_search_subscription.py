"""A subscription to a search over the sync WebSocket of a real ``livebase serve``, on SQLite and
PostgreSQL: a matching insert pushes the new result; an unrelated insert re-runs nothing
(``livebase_function_executions_total`` for the search query does not move)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.search.app import write_search_app
from tests.support.server import LivebaseServer

from .conftest import TEST_ADMIN_KEY
from .sync_wire import SyncSocket, decode_value, executions, http_mutation

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SEARCH = "messages:search"


@pytest.fixture
def server(
    tmp_path_factory: pytest.TempPathFactory, backend_db: Callable[[], str | None]
) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("search-server")
    app = write_search_app(Path(base))
    srv = LivebaseServer.launch(base / "run", app=app, admin_key=TEST_ADMIN_KEY, db=backend_db())
    try:
        yield srv
    finally:
        srv.stop()


def _update(value: Any) -> Callable[[dict[str, Any]], bool]:
    def check(msg: dict[str, Any]) -> bool:
        return msg["type"] == "Transition" and any(
            mod["type"] == "QueryUpdated"
            and mod["queryId"] == 1
            and decode_value(mod["value"]) == value
            for mod in msg["modifications"]
        )

    return check


def test_search_subscription_reruns_only_for_matching_writes(server: LivebaseServer) -> None:
    asyncio.run(_scenario(server))


async def _scenario(server: LivebaseServer) -> None:
    url = server.url
    sock = await SyncSocket.open(server.ws_url)
    try:
        version = await sock.modify([(1, SEARCH, {"channel": "ops", "text": "deploy fail"})])
        await sock.wait_query_set(version)
        await sock.drain(0.2)
        assert sock.results[1] == []
        start = executions(url, SEARCH)

        http_mutation(url, "messages:send", {"channel": "ops", "body": "deploy failed at 3am"})
        await sock.wait_for(_update(["deploy failed at 3am"]), what="the matching insert")
        await sock.drain(0.3)
        assert executions(url, SEARCH) - start == 1

        before = executions(url, SEARCH)
        http_mutation(url, "messages:send", {"channel": "ops", "body": "lunch at noon"})
        http_mutation(url, "messages:send", {"channel": "dev", "body": "deploy failed too"})
        http_mutation(url, "messages:note", {"body": "deploy failed"})
        # A barrier: once this matching write's update arrived, the earlier commits were seen.
        http_mutation(url, "messages:send", {"channel": "ops", "body": "deploy failure again"})
        await sock.wait_for(
            lambda m: _update(["deploy failed at 3am", "deploy failure again"])(m)
            or _update(["deploy failure again", "deploy failed at 3am"])(m),
            what="the barrier's update",
        )
        await sock.drain(0.3)
        assert executions(url, SEARCH) - before == 1, "unrelated writes must re-run nothing"
        assert not sock.chain_errors, sock.chain_errors
    finally:
        await sock.close()
