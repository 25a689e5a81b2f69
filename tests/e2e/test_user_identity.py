"""Who a call speaks for, end to end over both transports: the admin acting as a user identity
(``impersonating`` on the socket, ``Convex <key>:<base64 JSON>`` over HTTP), subscriptions kept
apart per identity, requests run as the identity they arrived under, and user tokens refused
with a reason when the app declares no providers. Real server processes."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import TEST_ADMIN_KEY
from tests.e2e.sync_wire import SyncSocket, executions
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ADMIN = TEST_ADMIN_KEY  # /metrics is read with it

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "notes": define_table({"owner": v.optional(v.string()), "text": v.string()}),
                "owned": define_table({"owner": v.string(), "text": v.string()}).index(
                    "by_owner", ["owner"]
                ),
            }
        )
    """,
    "who.py": """
        from livebase import internal_query, mutation, query


        def _subject(ctx):
            who = ctx.auth.get_user_identity()
            return None if who is None else who["tokenIdentifier"]


        @query
        def me(ctx):
            return _subject(ctx)


        @internal_query
        def staff_only(ctx) -> int:
            return len(ctx.db.query("owned").collect())


        @query
        def everyone(ctx) -> list:
            return [r["text"] for r in ctx.db.query("owned").collect()]


        @query
        def my_notes(ctx) -> list:
            me = _subject(ctx)
            rows = ctx.db.query("notes").collect()
            return [r["text"] for r in rows if r["owner"] == me]


        @query
        def mine(ctx) -> list:
            me = _subject(ctx)
            rows = ctx.db.query("owned").with_index("by_owner", lambda q: q.eq("owner", me))
            return [r["text"] for r in rows.collect()]


        @mutation
        def own(ctx, text: str) -> None:
            ctx.db.insert("owned", {"owner": _subject(ctx), "text": text})


        @mutation
        def note(ctx, text: str) -> str:
            me = _subject(ctx)
            ctx.db.insert("notes", {"owner": me, "text": text})
            return me or "anonymous"
    """,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("identity")
    app = write_app(base / "app", APP)
    with LivebaseServer.launch(base / "s", app=app, admin_key=ADMIN) as s:
        yield s


def acting_as(subject: str, **more: Any) -> str:
    attributes = {"subject": subject, "issuer": "https://issuer.test", **more}
    suffix = base64.b64encode(json.dumps(attributes).encode()).decode()
    return f"Convex {ADMIN}:{suffix}"


def call(server: LivebaseServer, kind: str, path: str, args: dict[str, Any], auth: str | None):
    headers = {} if auth is None else {"authorization": auth}
    body = {"path": path, "args": args, "format": "json"}
    return httpx.post(f"{server.url}/api/{kind}", json=body, headers=headers, timeout=30)


def test_the_admin_acts_as_a_user_over_http(server: LivebaseServer) -> None:
    got = call(server, "query", "who:me", {}, acting_as("alice"))
    assert got.json() == {"status": "success", "value": "https://issuer.test|alice", "logLines": []}
    assert call(server, "query", "who:me", {}, f"Convex {ADMIN}").json()["value"] is None
    assert call(server, "query", "who:me", {}, None).json()["value"] is None
    bad = call(server, "query", "who:me", {}, f"Convex {ADMIN}:not base64!")
    assert bad.status_code == 401 and "base64" in bad.json()["message"]
    nameless = base64.b64encode(b'{"name": "x"}').decode()
    bad = call(server, "query", "who:me", {}, f"Convex {ADMIN}:{nameless}")
    assert bad.status_code == 401 and '"subject"' in bad.json()["message"]
    wrong_key = call(server, "query", "who:me", {}, "Convex wrong:" + nameless)
    assert wrong_key.status_code == 401


def test_a_user_token_is_refused_with_the_reason_when_the_app_has_no_providers(
    server: LivebaseServer,
) -> None:
    got = call(server, "query", "who:me", {}, "Bearer a.b.c")
    assert got.status_code == 401
    assert got.json()["code"] == "Unauthenticated"
    assert got.json()["reason"] == "NoAuthProvider"
    assert "auth.py" in got.json()["message"] and "a.b.c" not in got.text

    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            await sock.send(
                {"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": "x.y.z"}
            )
            error = await sock.wait_for(lambda m: m["type"] == "AuthError", what="AuthError")
            assert error["baseVersion"] == 0 and error["authUpdateAttempted"] is True
            assert "auth.py" in error["error"] and "x.y.z" not in error["error"]
        finally:
            await sock.close()

    asyncio.run(run())


async def _as(sock: SyncSocket, base: int, subject: str | None) -> None:
    frame: dict[str, Any] = {
        "type": "Authenticate",
        "baseVersion": base,
        "tokenType": "Admin",
        "value": ADMIN,
    }
    if subject is not None:
        frame["impersonating"] = {"subject": subject, "issuer": "https://issuer.test"}
    await sock.send(frame)


def test_subscriptions_follow_the_identity_and_stay_apart(server: LivebaseServer) -> None:
    """Two sockets acting as two users subscribe to the same query with the same arguments:
    each sees its own result, also after the other writes; a socket that changes identity gets
    its queries re-run under the new one in the identity-bumping Transition."""

    async def run() -> None:
        alice, bob = await SyncSocket.open(server.ws_url), await SyncSocket.open(server.ws_url)
        try:
            await _as(alice, 0, "alice")
            await _as(bob, 0, "bob")
            for sock in (alice, bob):
                await sock.modify([(0, "who:my_notes", {}), (1, "who:me", {})])
                await sock.wait_for(lambda m, s=sock: 1 in s.results, what="who:me")
            assert alice.results[1] == "https://issuer.test|alice"
            assert bob.results[1] == "https://issuer.test|bob"
            call(server, "mutation", "who:note", {"text": "a1"}, acting_as("alice"))
            await alice.wait_for(lambda m: alice.results.get(0) == ["a1"], what="alice's note")
            call(server, "mutation", "who:note", {"text": "b1"}, acting_as("bob"))
            await bob.wait_for(lambda m: bob.results.get(0) == ["b1"], what="bob's note")
            assert alice.results[0] == ["a1"]

            await _as(alice, 1, "bob")  # the same socket now acts as bob
            moved = await alice.wait_for(
                lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 2,
                what="the identity-bumping Transition",
            )
            assert alice.results == {0: ["b1"], 1: "https://issuer.test|bob"}, moved
            await _as(alice, 2, None)  # the admin as itself: no identity
            await alice.wait_for(lambda m: alice.results.get(1, "") is None, what="no identity")
            assert alice.chain_errors == [] and bob.chain_errors == []
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(run())


def test_a_mutation_runs_as_the_identity_it_arrived_under(server: LivebaseServer) -> None:
    """Mutations queue one at a time; one sent before an Authenticate runs as the caller it was
    sent by, even when its turn comes after the identity changed."""

    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            await _as(sock, 0, "carol")
            for request_id, text in enumerate(("c1", "c2", "c3")):
                await sock.send(
                    {
                        "type": "Mutation",
                        "requestId": request_id,
                        "udfPath": "who:note",
                        "args": [{"text": text}],
                    }
                )
            await _as(sock, 1, "dave")
            answers = {}
            while len(answers) < 3:
                m = await sock.wait_for(lambda m: m["type"] == "MutationResponse", what="answers")
                answers[m["requestId"]] = m["result"]
            assert answers == {i: "https://issuer.test|carol" for i in range(3)}
        finally:
            await sock.close()

    asyncio.run(run())


def test_a_users_write_reruns_only_what_its_read_sets_cover(server: LivebaseServer) -> None:
    """Two users subscribed to the same query with the same arguments: each result is computed
    for its own identity, and a write by one re-runs that user's query only (the other's read
    set, its own index range, does not cover the write)."""

    async def run() -> None:
        erin, fred = await SyncSocket.open(server.ws_url), await SyncSocket.open(server.ws_url)
        try:
            await _as(erin, 0, "erin")
            await _as(fred, 0, "fred")
            for sock in (erin, fred):
                await sock.modify([(0, "who:mine", {})])
                await sock.wait_for(lambda m, s=sock: 0 in s.results, what="who:mine")
            base = executions(server.url, "who:mine")
            for n in range(3):
                call(server, "mutation", "who:own", {"text": f"e{n}"}, acting_as("erin"))
                want = [f"e{i}" for i in range(n + 1)]
                await erin.wait_for(lambda m, w=want: erin.results.get(0) == w, what="erin's")
            # Each write re-ran erin's query once; fred's never ran again.
            assert executions(server.url, "who:mine") - base == 3
            assert fred.results[0] == [] and await fred.drain(0.3) == []
        finally:
            await erin.close()
            await fred.close()

    asyncio.run(run())


def test_a_query_that_never_asks_who_is_calling_runs_once_for_all_callers(
    server: LivebaseServer,
) -> None:
    """Three callers (two users and an anonymous one) watch a query that does not read
    ``ctx.auth``: each write re-runs it once, not once per caller, and all see the same result.
    A query that reads ``ctx.auth`` still runs per caller (the test above)."""

    async def run() -> None:
        socks = [await SyncSocket.open(server.ws_url) for _ in range(3)]
        try:
            await _as(socks[0], 0, "gail")
            await _as(socks[1], 0, "hank")
            for sock in socks:
                await sock.modify([(0, "who:everyone", {})])
                await sock.wait_for(lambda m, s=sock: 0 in s.results, what="who:everyone")
            base = executions(server.url, "who:everyone")
            texts = list(socks[0].results[0])
            for n in range(3):
                call(server, "mutation", "who:own", {"text": f"x{n}"}, acting_as("gail"))
                texts.append(f"x{n}")
                for sock in socks:
                    await sock.wait_for(
                        lambda m, s=sock, t=list(texts): s.results.get(0) == t, what="the write"
                    )
            assert executions(server.url, "who:everyone") - base == 3
        finally:
            for sock in socks:
                await sock.close()

    asyncio.run(run())


def test_a_result_computed_for_the_admin_is_never_reused_for_a_client(
    server: LivebaseServer,
) -> None:
    """An internal query's result, computed for the admin (it asks no identity), is not handed
    to a client's subscription of the same query at the same moment: the client is refused."""

    async def run() -> None:
        admin, client = await SyncSocket.open(server.ws_url), await SyncSocket.open(server.ws_url)
        try:
            await _as(admin, 0, None)
            await admin.modify([(0, "who:staff_only", {})])
            await admin.wait_for(lambda m: 0 in admin.results, what="the admin's result")
            await client.modify([(0, "who:staff_only", {})])
            await client.wait_for(lambda m: 0 in client.failures, what="the client's refusal")
            assert 0 not in client.results
        finally:
            await admin.close()
            await client.close()

    asyncio.run(run())
