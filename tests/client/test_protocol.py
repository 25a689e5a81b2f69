"""Client-side protocol without a server: message encoding and parsing, and the state machine
(version chaining, handshake on reconnect, read-your-writes, failures) fed hand-written messages."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from livebase import Int64
from livebase.client import (
    ConnectionClosedError,
    ConnectionLostError,
    FunctionError,
    InvalidArgumentsError,
    ProtocolError,
)
from livebase.client import protocol as p
from livebase.client.state import SyncState, same_value
from livebase.values.wire import encode_ts

from .conftest import run

ZERO = "AAAAAAAAAAA="


def ts(n: int) -> str:
    return encode_ts(n)


def version(q: int, i: int, t: int) -> dict[str, Any]:
    return {"querySet": q, "identity": i, "ts": ts(t)}


def transition(start: tuple[int, int, int], end: tuple[int, int, int], *mods: Any) -> str:
    return json.dumps(
        {
            "type": "Transition",
            "startVersion": version(*start),
            "endVersion": version(*end),
            "modifications": list(mods),
        }
    )


def updated(query_id: int, value: Any, journal: str | None = None) -> dict[str, Any]:
    return {
        "type": "QueryUpdated",
        "queryId": query_id,
        "value": value,
        "logLines": [],
        "journal": journal,
    }


# ---------------------------------------------------------------------------- encoding


def test_connect_message_shape() -> None:
    first = p.connect_message(
        session_id="s", connection_count=0, last_close_reason="InitialConnect",
        max_observed_ts=None, client_ts=5,
    )  # fmt: skip
    assert first == {
        "type": "Connect",
        "sessionId": "s",
        "connectionCount": 0,
        "lastCloseReason": "InitialConnect",
        "clientTs": 5,
    }
    later = p.connect_message(
        session_id="s", connection_count=2, last_close_reason=None, max_observed_ts=1, client_ts=5
    )
    assert later["maxObservedTimestamp"] == "AQAAAAAAAAA="
    assert later["lastCloseReason"] is None


def test_request_and_query_messages() -> None:
    assert p.request_message("Mutation", 3, "messages:send", {"b": 1.0}) == {
        "type": "Mutation",
        "requestId": 3,
        "udfPath": "messages:send",
        "args": [{"b": 1.0}],
    }
    assert p.add_query(0, "m:f", {}, None) == {
        "type": "Add",
        "queryId": 0,
        "udfPath": "m:f",
        "args": [{}],
    }
    assert p.add_query(0, "m:f", {}, "j")["journal"] == "j"
    assert p.authenticate_message(1, "Admin", "k") == {
        "type": "Authenticate",
        "baseVersion": 1,
        "tokenType": "Admin",
        "value": "k",
    }
    assert p.authenticate_message(2, "None", None) == {
        "type": "Authenticate",
        "baseVersion": 2,
        "tokenType": "None",
    }
    with pytest.raises(ValueError):
        p.request_message("Query", 0, "m:f", {})


def test_dumps_sorts_keys_and_keeps_float_points() -> None:
    assert p.dumps({"b": 1.0, "a": [2.0, {"d": 1, "c": None}]}) == (
        '{"a":[2.0,{"c":null,"d":1}],"b":1.0}'
    )


def test_canonical_paths_and_urls() -> None:
    assert p.canonical_path("messages:list") == "messages:list"
    assert p.canonical_path("messages.js:list") == "messages:list"
    assert p.canonical_path("dir/mod") == "dir/mod:default"
    assert p.sync_url("http://127.0.0.1:3210") == "ws://127.0.0.1:3210/api/sync"
    assert p.sync_url("https://h.example/") == "wss://h.example/api/sync"
    assert p.sync_url("http://h/prefix/") == "ws://h/prefix/api/sync"
    assert p.sync_url("ws://h:1/api/1.48.0/sync") == "ws://h:1/api/1.48.0/sync"
    with pytest.raises(ValueError):
        p.sync_url("ftp://h")


# ---------------------------------------------------------------------------- parsing


def test_parse_transition_decodes_values() -> None:
    msg = p.parse_server_message(
        transition(
            (0, 0, 0),
            (1, 0, 7),
            updated(0, {"n": {"$integer": "BQAAAAAAAAA="}, "b": {"$bytes": "AP8="}, "f": 1.5}),
            {
                "type": "QueryFailed",
                "queryId": 1,
                "errorMessage": "nope",
                "logLines": ["[LOG] x"],
                "journal": None,
                "errorData": {"code": "X"},
            },
            {"type": "QueryRemoved", "queryId": 2},
        )
    )
    assert isinstance(msg, p.Transition)
    assert msg.start_version == p.StateVersion(0, 0, 0)
    assert msg.end_version == p.StateVersion(1, 0, 7)
    up, failed, removed = msg.modifications
    assert isinstance(up, p.QueryUpdated)
    assert up.value == {"n": 5, "b": b"\x00\xff", "f": 1.5}
    assert isinstance(up.value, dict) and type(up.value["n"]) is Int64
    assert failed == p.QueryFailed(1, "nope", {"code": "X"}, ("[LOG] x",), None)
    assert removed == p.QueryRemoved(2)


def test_parse_responses_and_others() -> None:
    ok = p.parse_server_message(
        '{"type":"MutationResponse","requestId":0,"success":true,"result":"id1",'
        f'"ts":"{ts(9)}","logLines":[]}}'
    )
    assert ok == p.MutationResponse(0, True, "id1", 9, None, ())
    bad = p.parse_server_message(
        '{"type":"MutationResponse","requestId":1,"success":false,"result":"boom",'
        '"ts":null,"logLines":[],"errorData":{"code":"E"}}'
    )
    assert bad == p.MutationResponse(1, False, "boom", None, {"code": "E"}, ())
    act = p.parse_server_message(
        '{"type":"ActionResponse","requestId":2,"success":true,"result":3.0,"logLines":[]}'
    )
    assert act == p.ActionResponse(2, True, 3.0, None, ())
    assert p.parse_server_message('{"type":"Ping"}') == p.Ping()
    assert p.parse_server_message('{"type":"FatalError","error":"x"}') == p.FatalError("x")
    assert p.parse_server_message(
        '{"type":"AuthError","error":"bad","baseVersion":0,"authUpdateAttempted":true}'
    ) == p.AuthError("bad", 0, True)
    assert p.parse_server_message('{"type":"Future"}') == p.UnknownMessage("Future")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"no":"type"}',
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="}}',
        transition((0, 0, 0), (1, 0, 0), {"type": "QueryUpdated", "queryId": 0, "logLines": []}),
        transition((0, 0, 0), (1, 0, 0), {"type": "Nope", "queryId": 0}),
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAA="},'
        '"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},"modifications":[]}',
        '{"type":"MutationResponse","requestId":0,"success":true,"result":1.0,"ts":null}',
        '{"type":"ActionResponse","requestId":0,"success":true,"result":{"$integer":"AA=="}}',
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ProtocolError):
        p.parse_server_message(text)


def test_same_value_is_type_strict() -> None:
    assert same_value({"a": [1, b"x"]}, {"a": [1, b"x"]})
    assert not same_value(1, 1.0)
    assert not same_value(True, 1)
    assert not same_value(0.0, -0.0)
    assert same_value(math.nan, math.nan)
    assert not same_value({"a": 1}, {"b": 1})


# ---------------------------------------------------------------------------- state machine


class Wire:
    """Collects what SyncState sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def take(self) -> list[dict[str, Any]]:
        out, self.sent = self.sent, []
        return out


def feed(state: SyncState, text: str) -> str | None:
    return state.handle(p.parse_server_message(text))


def test_query_set_versions_chain_and_reconnect_replays() -> None:
    async def body() -> None:
        wire = Wire()
        state = SyncState(wire)
        state.set_auth("Admin", "key")
        a = state.subscribe("messages:list", {"channel": "a"})  # before the socket opens
        hello = state.on_open(0, "InitialConnect")
        assert [m["type"] for m in hello] == ["Connect", "Authenticate", "ModifyQuerySet"]
        assert hello[0]["sessionId"] == state.session_id
        assert hello[1] == {
            "type": "Authenticate",
            "baseVersion": 0,
            "tokenType": "Admin",
            "value": "key",
        }
        assert (hello[2]["baseVersion"], hello[2]["newVersion"]) == (0, 1)
        b = state.subscribe("messages.js:list", {"channel": "b"})
        same = state.subscribe("messages:list", {"channel": "a"})
        assert same is a and a.refs == 2
        state.release(same)
        state.release(b)
        sent = wire.take()
        assert [(m["baseVersion"], m["newVersion"]) for m in sent] == [(1, 2), (2, 3)]
        assert sent[0]["modifications"] == [
            {"type": "Add", "queryId": 1, "udfPath": "messages:list", "args": [{"channel": "b"}]}
        ]
        assert sent[1]["modifications"] == [{"type": "Remove", "queryId": 1}]

        args = {"channel": "a", "body": "x", "n": Int64(5)}
        fut = state.request("Mutation", "messages:send", args)
        assert wire.take()[0] == {
            "type": "Mutation",
            "requestId": 0,
            "udfPath": "messages:send",
            "args": [{"body": "x", "channel": "a", "n": {"$integer": "BQAAAAAAAAA="}}],
        }
        assert feed(state, transition((0, 0, 0), (3, 1, 4), updated(0, [], "j0"))) is None
        state.on_close()
        # Reconnect: same session, versions from zero, auth again, queries with journals,
        # the unacknowledged mutation with its original request id.
        again = state.on_open(1, "closed with code 1006")
        assert again[0]["sessionId"] == state.session_id
        assert again[0]["connectionCount"] == 1
        assert again[0]["lastCloseReason"] == "closed with code 1006"
        assert again[0]["maxObservedTimestamp"] == ts(4)
        assert again[1]["baseVersion"] == 0
        assert again[2] == {
            "type": "ModifyQuerySet",
            "baseVersion": 0,
            "newVersion": 1,
            "modifications": [
                {
                    "type": "Add",
                    "queryId": 0,
                    "udfPath": "messages:list",
                    "args": [{"channel": "a"}],
                    "journal": "j0",
                }
            ],
        }
        assert again[3]["type"] == "Mutation" and again[3]["requestId"] == 0
        assert not fut.done()

    run(body())


def test_start_version_mismatch_asks_for_reconnect() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        assert feed(state, transition((0, 0, 0), (0, 0, 5))) is None
        assert feed(state, transition((0, 0, 4), (0, 0, 6))) == "StartVersionMismatch"
        assert feed(state, transition((1, 0, 5), (1, 0, 6))) == "StartVersionMismatch"
        assert feed(state, transition((0, 0, 5), (0, 0, 6))) is None

    run(body())


def test_mutation_resolves_only_on_a_later_transition_at_its_ts() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        entry = state.subscribe("m:list", {})
        fut = state.request("Mutation", "m:send", {})
        # A Transition before the response does not resolve it, even at a high ts.
        feed(state, transition((0, 0, 0), (1, 0, 100), updated(0, [])))
        feed(
            state,
            '{"type":"MutationResponse","requestId":0,"success":true,"result":"r",'
            f'"ts":"{ts(50)}","logLines":[]}}',
        )
        await asyncio.sleep(0)
        assert not fut.done()
        feed(state, transition((1, 0, 100), (1, 0, 40)))  # lower ts: still waiting
        await asyncio.sleep(0)
        assert not fut.done()
        feed(state, transition((1, 0, 40), (1, 0, 50), updated(0, ["r"])))
        # The query result is in place by the time the mutation resolves.
        assert entry.result is not None and entry.result.value == ["r"]
        assert await fut == "r"
        assert state.pending_requests == 0

    run(body())


def test_failures_and_duplicates() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        mut = state.request("Mutation", "m:send", {})
        act = state.request("Action", "a:run", {})
        feed(
            state,
            '{"type":"MutationResponse","requestId":0,"success":false,"result":"AppError",'
            '"ts":null,"logLines":[],"errorData":{"code":"EmptyMessage"}}',
        )
        with pytest.raises(FunctionError) as info:
            await mut
        assert info.value.data == {"code": "EmptyMessage"}
        assert info.value.message == "AppError"
        # Responses for unknown or mismatched ids are ignored.
        feed(state, '{"type":"ActionResponse","requestId":0,"success":true,"result":1.0}')
        feed(state, '{"type":"ActionResponse","requestId":9,"success":true,"result":1.0}')
        assert not act.done()
        state.on_close()  # an action in flight fails; it is never resent
        with pytest.raises(ConnectionLostError):
            await act
        later = state.request("Action", "a:run", {})  # queued while disconnected
        hello = state.on_open(1, "x")
        assert [m["type"] for m in hello] == ["Connect", "Action"]
        assert hello[1]["requestId"] == 2
        state.close()
        with pytest.raises(ConnectionClosedError):
            await later
        with pytest.raises(ConnectionClosedError):
            state.request("Mutation", "m:send", {})

    run(body())


def test_results_deduplicated_and_errors_kept() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        entry = state.subscribe("m:get", {})
        feed(state, transition((0, 0, 0), (1, 0, 1), updated(0, 1.0)))
        assert entry.version == 1
        feed(state, transition((1, 0, 1), (1, 0, 2), updated(0, 1.0)))
        assert entry.version == 1  # unchanged value: no new version
        feed(state, transition((1, 0, 2), (1, 0, 3), updated(0, {"$integer": "AQAAAAAAAAA="})))
        assert entry.version == 2  # int64 1 differs from float 1.0
        failed = {
            "type": "QueryFailed",
            "queryId": 0,
            "errorMessage": "bad",
            "logLines": [],
            "journal": None,
        }
        feed(state, transition((1, 0, 3), (1, 0, 4), failed))
        assert entry.result is not None
        with pytest.raises(FunctionError) as info:
            entry.result.unwrap("m:get")
        assert info.value.data is None and info.value.message == "bad"

    run(body())


def test_auth_versions_and_auth_error() -> None:
    async def body() -> None:
        wire = Wire()
        state = SyncState(wire)
        state.on_open(0, "InitialConnect")
        state.set_auth("Admin", "k1")
        state.set_auth("Admin", "k2")
        state.set_auth("None", None)
        assert [(m["baseVersion"], m["tokenType"]) for m in wire.take()] == [
            (0, "Admin"),
            (1, "Admin"),
            (2, "None"),
        ]
        state.set_auth("Admin", "bad")
        reason = feed(
            state, '{"type":"AuthError","error":"nope","baseVersion":3,"authUpdateAttempted":true}'
        )
        assert reason == "AuthError"
        assert state.auth_error == "nope"
        state.on_close()
        assert [m["type"] for m in state.on_open(1, reason)] == ["Connect"]

    run(body())


def test_args_must_be_values() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        with pytest.raises(InvalidArgumentsError):
            state.subscribe("m:f", {"x": {1, 2}})  # type: ignore[dict-item]
        with pytest.raises(InvalidArgumentsError):
            state.request("Mutation", "m:f", {"x": 2**64})

    run(body())


def test_answered_mutation_waiting_for_its_transition_across_a_reconnect() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        fut = state.request("Mutation", "m:send", {})
        feed(
            state,
            '{"type":"MutationResponse","requestId":0,"success":true,"result":"r",'
            f'"ts":"{ts(50)}","logLines":[]}}',
        )
        state.on_close()
        # Not resent (it was acknowledged), but an empty query set goes out so that the server
        # answers with a Transition, which resolves it.
        hello = state.on_open(1, "x")
        assert [m["type"] for m in hello] == ["Connect", "ModifyQuerySet"]
        assert hello[1]["modifications"] == []
        feed(state, transition((0, 0, 0), (1, 0, 60)))
        assert await fut == "r"

    run(body())


def test_ping_fatal_error_and_unknown_messages() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        assert feed(state, '{"type":"Ping"}') is None
        assert feed(state, '{"type":"SomethingNew","x":1}') is None
        assert feed(state, '{"type":"FatalError","error":"bad request"}') == "FatalError"

    run(body())


def test_transition_chunks_are_joined() -> None:
    from livebase.client.connection import _add_chunk

    text = transition((0, 0, 0), (1, 0, 3), updated(0, "x" * 50))
    parts = [text[:40], text[40:90], text[90:]]
    chunks: dict[str, list[str]] = {}
    joined = None
    for i, part in enumerate(parts):
        msg = p.parse_server_message(
            json.dumps(
                {
                    "type": "TransitionChunk",
                    "chunk": part,
                    "partNumber": i,
                    "totalParts": 3,
                    "transitionId": "t1",
                }
            )
        )
        assert isinstance(msg, p.TransitionChunk)
        joined = _add_chunk(chunks, msg)
        assert (joined is None) == (i < 2)
    assert joined is not None and isinstance(p.parse_server_message(joined), p.Transition)
    assert chunks == {}
    with pytest.raises(ProtocolError):
        _add_chunk(chunks, p.TransitionChunk("x", 1, 3, "t2"))  # part 0 missing
