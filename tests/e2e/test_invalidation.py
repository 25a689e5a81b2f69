"""Invalidation precision over a raw sync WebSocket, proven with ``GET /metrics``.

1,000 subscriptions to ``messages:count`` on distinct channels: a write to one channel re-runs
exactly that query (``livebase_function_executions_total{path="messages:count",kind="query"}``
grows by 1), a write no subscription read re-runs nothing, and identical subscriptions on two
sockets are computed once per commit. Along the way every Transition must chain (its
``startVersion`` is the previous ``endVersion``) and a successful mutation must be followed by a
Transition whose ``endVersion.ts`` is at least the mutation's commit ts.

These tests read exact metric deltas, so they run against a server of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .conftest import launch_chat_server
from .sync_wire import (
    METRICS_AUTH,
    SyncSocket,
    decode_ts,
    decode_value,
    executions,
    http_mutation,
    metric,
    metric_samples,
)

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

N = 1000
COUNT = "messages:count"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    srv = launch_chat_server(tmp_path_factory.mktemp("invalidation-server"))
    try:
        yield srv
    finally:
        srv.stop()


def _updated_ids(transitions: list[dict[str, Any]]) -> set[int]:
    return {
        mod["queryId"]
        for t in transitions
        for mod in t["modifications"]
        if mod["type"] in ("QueryUpdated", "QueryFailed")
    }


def _is_update_of(qid: int, value: Any) -> Any:
    def check(msg: dict[str, Any]) -> bool:
        return msg["type"] == "Transition" and any(
            mod["type"] == "QueryUpdated"
            and mod["queryId"] == qid
            and decode_value(mod["value"]) == value
            for mod in msg["modifications"]
        )

    return check


async def _wait_gauges(
    url: str, connections: float, subscriptions: float | None = None, timeout: float = 30.0
) -> dict[str, float]:
    """The gauges once they show ``connections`` (and ``subscriptions``, if given), or as they
    are after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = {
            "connections": metric(url, "livebase_sync_connections"),
            "subscriptions": metric(url, "livebase_subscriptions"),
        }
        settled = got["connections"] == connections and (
            subscriptions is None or got["subscriptions"] == subscriptions
        )
        if settled or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


def test_one_write_reruns_exactly_the_affected_query(server: ChatServer) -> None:
    asyncio.run(_thousand_subscriptions(server))


async def _thousand_subscriptions(server: ChatServer) -> None:
    url = server.url
    base_execs = executions(url, COUNT)
    base_commits = metric(url, "livebase_commits_total")

    s1 = await SyncSocket.open(server.ws_url)
    try:
        version = await s1.modify([(i, COUNT, {"channel": f"c{i}"}) for i in range(N)])
        await s1.wait_query_set(version, timeout=60)
        # Every one of the 1,000 queries has its first result, computed once each.
        while len(s1.results) < N and not s1.failures:
            await s1.recv(10)
        assert not s1.failures, list(s1.failures.values())[:3]
        assert s1.results == dict.fromkeys(range(N), 0)
        await s1.drain(0.2)
        after_subscribe = executions(url, COUNT)
        assert after_subscribe - base_execs == N, (
            f"subscribing to {N} distinct queries ran {after_subscribe - base_execs} executions"
        )
        gauges = await _wait_gauges(url, 1)
        assert gauges["connections"] == 1, gauges
        assert gauges["subscriptions"] >= N, gauges

        # 1. A write to channel c7 re-runs query 7 and nothing else.
        seen = len(s1.transitions)
        http_mutation(url, "messages:send", {"channel": "c7", "body": "x"})
        await s1.wait_for(_is_update_of(7, 1), what="the update of query 7")
        await s1.drain(0.3)
        assert executions(url, COUNT) - after_subscribe == 1, "a write to c7 must re-run 1 query"
        assert _updated_ids(s1.transitions[seen:]) == {7}

        # 2. A write to a channel no subscription read re-runs nothing. The write to c9 after it
        #    is a barrier: once its update arrived, the earlier commit has been processed too.
        before = executions(url, COUNT)
        seen = len(s1.transitions)
        http_mutation(url, "messages:send", {"channel": "unrelated", "body": "x"})
        http_mutation(url, "messages:send", {"channel": "c9", "body": "x"})
        await s1.wait_for(_is_update_of(9, 1), what="the update of query 9")
        await s1.drain(0.3)
        assert executions(url, COUNT) - before == 1, (
            "an unrelated write must re-run no query (only the c9 barrier may run)"
        )
        assert _updated_ids(s1.transitions[seen:]) == {9}

        # 3. Identical subscriptions on two sockets are computed once per commit.
        s2 = await SyncSocket.open(server.ws_url, path="/api/1.48.0/sync")
        try:
            v2 = await s2.modify([(0, COUNT, {"channel": "c7"})])
            await s2.wait_query_set(v2)
            assert s2.results[0] == 1
            await s2.drain(0.2)
            gauges = await _wait_gauges(url, 2)
            assert gauges["connections"] == 2, gauges
            before = executions(url, COUNT)
            http_mutation(url, "messages:send", {"channel": "c7", "body": "y"})
            await s1.wait_for(_is_update_of(7, 2), what="s1's update of query 7")
            await s2.wait_for(_is_update_of(0, 2), what="s2's update of its c7 query")
            await s1.drain(0.2)
            await s2.drain(0.1)
            assert executions(url, COUNT) - before == 1, (
                "one commit affecting two identical subscriptions must compute the query once"
            )
            assert s2.chain_errors == []
        finally:
            await s2.close()

        # 4. A mutation on the socket itself: MutationResponse, then a Transition at ts >= its ts
        #    that already carries its effect; one re-run.
        before = executions(url, COUNT)
        await s1.send(
            {
                "type": "Mutation",
                "requestId": 0,
                "udfPath": "messages:send",
                "args": [{"channel": "c5", "body": "own"}],
            }
        )
        response = await s1.wait_for(
            lambda m: m["type"] == "MutationResponse", what="the MutationResponse"
        )
        assert response["success"] is True, response
        assert response["requestId"] == 0
        assert isinstance(response["logLines"], list)
        mutation_ts = decode_ts(response["ts"])
        following = await s1.wait_for(
            lambda m: m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= mutation_ts,
            what="a Transition with endVersion.ts >= the mutation's ts",
        )
        assert following is not None
        assert s1.results[5] == 1, "the mutation's effect must be visible when it resolves"
        await s1.drain(0.2)
        assert executions(url, COUNT) - before == 1

        # Five commits happened (c7, unrelated, c9, c7, c5); subscribing committed nothing.
        assert metric(url, "livebase_commits_total") - base_commits == 5
        assert s1.chain_errors == []
    finally:
        await s1.close()

    gauges = await _wait_gauges(url, 0, subscriptions=0)
    assert gauges == {"connections": 0, "subscriptions": 0}, (
        f"closed sockets must release their connections and subscriptions: {gauges}"
    )


def test_transitions_chain_and_follow_mutations(server: ChatServer) -> None:
    asyncio.run(_chain_and_mutations(server))


async def _chain_and_mutations(server: ChatServer) -> None:
    sock = await SyncSocket.open(server.ws_url)
    try:
        # The first Transition starts at the zero version.
        v1 = await sock.modify([(0, "messages:list", {"channel": "chain"})])
        first = await sock.wait_query_set(v1)
        assert first["startVersion"] == {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
        assert first["endVersion"]["querySet"] == 1
        assert sock.results[0] == []
        mod = first["modifications"][0]
        assert mod["type"] == "QueryUpdated"
        assert isinstance(mod["logLines"], list)
        assert "value" in mod

        # Query-set changes: add (with a Rust-style ".js" path), then remove.
        v2 = await sock.modify([(1, "messages.js:count", {"channel": "chain"})])
        await sock.wait_query_set(v2)
        assert sock.results[1] == 0
        v3 = await sock.modify([], removes=(1,))
        t3 = await sock.wait_query_set(v3)
        assert {"type": "QueryRemoved", "queryId": 1} in t3["modifications"]

        # An empty ModifyQuerySet (the Rust client sends one on reconnect) is still answered.
        v4 = await sock.modify([])
        await sock.wait_query_set(v4)

        # Mutations in a row: each response is followed by a Transition at ts >= its ts, and the
        # query's value then already includes it.
        last_ts = 0
        for request_id in range(5):
            await sock.send(
                {
                    "type": "Mutation",
                    "requestId": request_id,
                    "udfPath": "messages:send",
                    "args": [{"channel": "chain", "body": f"m{request_id}"}],
                }
            )
            response = await sock.wait_for(
                lambda m, rid=request_id: m["type"] == "MutationResponse" and m["requestId"] == rid,
                what=f"MutationResponse {request_id}",
            )
            assert response["success"] is True, response
            ts = decode_ts(response["ts"])
            assert ts > last_ts, "commit timestamps must increase"
            assert ts < 2**63
            last_ts = ts
            await sock.wait_for(
                lambda m, t=ts: m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= t,
                what="the Transition after the MutationResponse",
            )
            assert [d["body"] for d in sock.results[0]] == [f"m{i}" for i in range(request_id + 1)]

        # A failed mutation: success false, ts null, errorData for an AppError.
        await sock.send(
            {
                "type": "Mutation",
                "requestId": 5,
                "udfPath": "messages:send",
                "args": [{"channel": "chain", "body": " "}],
            }
        )
        failed = await sock.wait_for(lambda m: m["type"] == "MutationResponse", what="failure")
        assert failed["success"] is False
        assert failed["ts"] is None
        assert isinstance(failed["result"], str)
        assert decode_value(failed["errorData"]) == {"code": "EmptyMessage", "channel": "chain"}

        # An action: an ActionResponse, no ts.
        await sock.send(
            {
                "type": "Action",
                "requestId": 6,
                "udfPath": "actions:slow_sum",
                "args": [{"a": 1.5, "b": 2}],
            }
        )
        action = await sock.wait_for(lambda m: m["type"] == "ActionResponse", what="action")
        assert action == {**action, "requestId": 6, "success": True, "result": 3.5}
        assert isinstance(action["logLines"], list)

        await sock.drain(0.2)
        assert sock.chain_errors == []
        # Every Transition's endVersion.querySet is the last ModifyQuerySet's newVersion seen.
        assert sock.version["querySet"] == v4
    finally:
        await sock.close()


def test_commit_to_push_latency_histogram_is_exposed(server: ChatServer) -> None:
    """A histogram of commit-to-push latency: its count grows when a push happens."""
    response = httpx.get(f"{server.url}/metrics", headers=METRICS_AUTH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    histograms = [
        line.split()[2]
        for line in response.text.splitlines()
        if line.startswith("# TYPE ") and line.split()[3] == "histogram"
    ]
    push = [name for name in histograms if "push" in name]
    assert push, f"no commit-to-push latency histogram among {histograms}"
    name = push[0]

    def count() -> float:
        return metric_samples(server.url).get((f"{name}_count", frozenset()), 0.0)

    async def one_push() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            v = await sock.modify([(0, COUNT, {"channel": "histogram"})])
            await sock.wait_query_set(v)
            before = count()
            http_mutation(server.url, "messages:send", {"channel": "histogram", "body": "x"})
            await sock.wait_for(_is_update_of(0, 1), what="the push")
            await sock.drain(0.2)
            assert count() > before, f"{name}_count did not grow after a push"
        finally:
            await sock.close()

    asyncio.run(one_push())


def test_one_commit_changes_all_of_a_clients_queries_in_one_transition(server: ChatServer) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            v = await sock.modify(
                [
                    (0, "messages:list", {"channel": "grouped"}),
                    (1, COUNT, {"channel": "grouped"}),
                    (2, "admin/users:message_total", {}),  # fails: internal, no admin auth
                ]
            )
            await sock.wait_query_set(v)
            seen = len(sock.transitions)
            http_mutation(server.url, "messages:send", {"channel": "grouped", "body": "g"})
            pushed = await sock.wait_for(_is_update_of(1, 1), what="the count update")
            updated = {m["queryId"] for m in pushed["modifications"]}
            assert updated == {0, 1}, (
                f"list and count changed in one commit but came in separate Transitions: "
                f"{[t['modifications'] for t in sock.transitions[seen:]]}"
            )
            await sock.drain(0.2)
            assert _updated_ids(sock.transitions[seen:]) == {0, 1}
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_does_not_read_gets_the_latest_state_not_a_backlog(
    server: ChatServer,
) -> None:
    """150 commits each growing a subscribed list by 20 kB: sending every intermediate result
    would be ~230 MB. A client that stops reading must be sent the latest state once it reads
    again, and the server must not buffer the backlog in memory meanwhile."""
    n, body = 150, "x" * 20_000

    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url, max_queue=1)
        try:
            v = await sock.modify([(0, "messages:list", {"channel": "slow"})])
            await sock.wait_query_set(v)
            seen = len(sock.transitions)
            rss_before = _rss_bytes(server.process.pid)
            # Blocking HTTP calls keep this event loop busy: the socket is not read meanwhile.
            with httpx.Client(timeout=30) as http:
                for i in range(n):
                    response = http.post(
                        f"{server.url}/api/mutation",
                        json={
                            "path": "messages:send",
                            "args": {"channel": "slow", "body": f"{i:04d}{body}"},
                            "format": "convex_encoded_json",
                        },
                    )
                    assert response.json()["status"] == "success", response.text
            rss_growth = _rss_bytes(server.process.pid) - rss_before
            await sock.wait_for(
                lambda m: len(sock.results.get(0) or []) == n,
                timeout=30,
                what=f"the list with all {n} messages",
            )
            await sock.drain(0.3)
            assert [d["body"][:4] for d in sock.results[0]] == [f"{i:04d}" for i in range(n)]
            pushes = [
                t
                for t in sock.transitions[seen:]
                if 0 in {m["queryId"] for m in t["modifications"]}
            ]
            assert len(pushes) < n * 3 // 4, (
                f"a client that did not read was sent {len(pushes)} of {n} intermediate results"
            )
            assert rss_growth < 120 * 2**20, (
                f"server memory grew by {rss_growth / 2**20:.0f} MB while a client did not read"
            )
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())
