"""``ctx.run_mutation`` / ``ctx.run_query`` inside a mutation, through a real server: a mutation
called over HTTP runs sub-mutations (one of which fails and is caught), and a subscription sees
only the state before and the state after the whole outer mutation, never anything between, and
never the failed sub-mutation's write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.apps import write_app
from tests.support.server import LivebaseServer

from .sync_wire import SyncSocket

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

APP = {
    "calls.py": """
        from livebase import AppError, internal_mutation, mutation, query


        @query
        def names(ctx) -> list:
            return sorted(d["name"] for d in ctx.db.query("items").collect())


        @query
        def failures(ctx) -> list:
            return [d["why"] for d in ctx.db.query("failures").collect()]


        @internal_mutation
        def add(ctx, name: str) -> str:
            return ctx.db.insert("items", {"name": name})


        @internal_mutation
        def fail(ctx) -> None:
            ctx.db.insert("items", {"name": "never"})
            raise AppError("nope")


        @mutation
        def batch(ctx, names: list[str]) -> list:
            ctx.db.insert("items", {"name": "start"})
            for name in names:
                ctx.run_mutation(add, {"name": name})
            try:
                ctx.run_mutation("calls:fail")
            except AppError as exc:
                ctx.db.insert("failures", {"why": exc.data})
            return ctx.run_query("calls:names")  # by path: `names` is the argument here
    """,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    base: Path = tmp_path_factory.mktemp("nested-calls")
    with LivebaseServer.launch(base, app=write_app(base / "app", APP)) as s:
        yield s


def test_a_subscription_sees_nested_writes_only_when_the_outer_mutation_commits(
    server: LivebaseServer,
) -> None:
    final = ["a", "b", "c", "start"]

    async def main() -> list[object]:
        sock = await SyncSocket.open(server.ws_url)
        try:
            await sock.wait_query_set(await sock.modify([(1, "calls:names", {})]))
            assert sock.results[1] == []
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"{server.url}/api/mutation",
                    json={"path": "calls:batch", "args": {"names": ["a", "b", "c"]}},
                    timeout=30,
                )
            body = response.json()
            assert body["status"] == "success", body
            assert body["value"] == final
            await sock.wait_for(
                lambda m: m["type"] == "Transition" and sock.results.get(1) == final,
                what="the committed result",
            )
            await sock.drain()
            assert not sock.chain_errors
            return [
                mod["value"]
                for t in sock.transitions
                for mod in t["modifications"]
                if mod["queryId"] == 1 and mod["type"] == "QueryUpdated"
            ]
        finally:
            await sock.close()

    seen = asyncio.run(main())
    assert seen == [[], final]  # nothing in between, and never "never"
    failures = httpx.post(
        f"{server.url}/api/query", json={"path": "calls:failures", "args": {}}, timeout=30
    ).json()
    assert failures["value"] == ["nope"]
