"""Bad frames on the sync socket (issue 11, found by fuzzing): every request is answered, either
with a reply or with a protocol close (code 1002, or 1007 for text that is not JSON) whose reason
names the field, and nothing a client sends puts a traceback in the server log.

A malformed frame is a protocol violation: ``FatalError`` naming the field, then the close, and
nothing sent after it on that socket runs. A well-formed ``Mutation``/``Action`` whose arguments
are bad (nested too deeply) is a failed call: its response says why and later frames still run.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets

from .sync_wire import SyncSocket, decode_ts, decode_value

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

MISSING = object()
U32_MAX = 2**32 - 1


DEEP = "@deep@"


def nested(depth: int, leaf: Any = 1.0) -> Any:
    """``leaf`` inside ``depth`` arrays."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def with_deep(frame: dict[str, Any], depth: int) -> str:
    """``frame`` as JSON with ``DEEP`` replaced by ``1.0`` inside ``depth`` arrays (Python's
    json module cannot encode that deep a value itself)."""
    return json.dumps(frame).replace(f'"{DEEP}"', "[" * depth + "1.0" + "]" * depth)


@contextmanager
def clean_log(server: ChatServer) -> Iterator[None]:
    """Fail if the server logs a traceback (or an unretrieved task exception) meanwhile."""
    start = len(server.log_text())
    yield
    time.sleep(0.2)  # "Task exception was never retrieved" is logged when the task is collected
    new = server.log_text()[start:]
    for needle in ("Traceback", "Task exception was never retrieved", "RecursionError"):
        assert needle not in new, f"{needle!r} in the server log:\n{new[-4000:]}"


def count(server: ChatServer, channel: str) -> int:
    response = httpx.post(
        f"{server.url}/api/query",
        json={"path": "messages:count", "args": {"channel": channel}, "format": "convex_json"},
        timeout=10,
    )
    body = response.json()
    assert body["status"] == "success", body
    return int(decode_value(body["value"]))


def mutation(request_id: Any, channel: str, body: Any = "hello", **fields: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "Mutation",
        "requestId": request_id,
        "udfPath": "messages:send",
        "args": [{"channel": channel, "body": body}],
    }
    frame.update(fields)
    return {k: v for k, v in frame.items() if v is not MISSING}


async def expect_protocol_close(
    sock: SyncSocket, field: str, *, code: int = 1002, fatal: bool = True
) -> str:
    """The socket is closed with ``code`` and a reason naming ``field``; with ``fatal``, a
    ``FatalError`` saying the same came first. Returns the reason."""
    close = await sock.wait_closed()
    assert close is not None, "the server dropped the TCP connection without a close frame"
    assert close.code == code, f"closed with {close.code} {close.reason!r}, expected {code}"
    assert field in close.reason, f"close reason {close.reason!r} does not name {field!r}"
    assert len(close.reason.encode("utf-8")) <= 123
    fatal_errors = [m for m in sock.messages if m["type"] == "FatalError"]
    if fatal:
        assert len(fatal_errors) == 1, sock.messages
        assert fatal_errors[0]["error"].startswith(close.reason.removesuffix("..."))
    else:
        assert fatal_errors == [], sock.messages
    return str(close.reason)


def responses(sock: SyncSocket, kind: str = "MutationResponse") -> list[dict[str, Any]]:
    return [m for m in sock.messages if m["type"] == kind]


@pytest.mark.parametrize(
    "request_id",
    [MISSING, "7", 1.7, 1e300, 2.0, -1, U32_MAX + 1, True, None],
    ids=["missing", "string", "1.7", "1e300", "2.0", "negative", "over-u32", "true", "null"],
)
def test_a_bad_request_id_closes_the_socket_and_nothing_runs(
    chat_server: ChatServer, request_id: Any
) -> None:
    """Before: a missing or non-integer requestId got no reply at all (KeyError/ValueError in a
    task), 1.7 was answered as 1, and 1e300 committed but was never acknowledged (the reply
    failed to serialise). A valid mutation pipelined behind it was never run, silently."""
    channel = f"bad-request-id-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send_together(mutation(request_id, channel), mutation(1, channel))
            reason = await expect_protocol_close(sock, "Mutation.requestId")
            assert "0..4294967295" in reason
            assert responses(sock) == [], "nothing after the malformed frame may run"
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())
    assert count(chat_server, channel) == 0


@pytest.mark.parametrize("kind", ["Mutation", "Action"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("udfPath", MISSING),
        ("udfPath", 5),
        ("udfPath", ""),
        ("udfPath", "x" * 5000),
        ("args", MISSING),
        ("args", []),
        ("args", [{}, {}]),
        ("args", [1]),
        ("args", {"channel": "c", "body": "b"}),
        ("componentPath", 7),
    ],
)
def test_a_malformed_request_closes_the_socket_naming_the_field(
    chat_server: ChatServer, kind: str, field: str, value: Any
) -> None:
    """Before: a missing udfPath got no reply (KeyError in a task, "Task exception was never
    retrieved"), and a bare args object was silently accepted."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            frame: dict[str, Any] = {
                "type": kind,
                "requestId": 0,
                "udfPath": "actions:slow_sum" if kind == "Action" else "messages:send",
                "args": [{"a": 1, "b": 2} if kind == "Action" else {"channel": "c", "body": "b"}],
            }
            if value is MISSING:
                del frame[field]
            else:
                frame[field] = value
            await sock.send(frame)
            await expect_protocol_close(sock, f"{kind}.{field}")
            assert responses(sock, f"{kind}Response") == []
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


@pytest.mark.parametrize("depth", [17, 500, 1000])
def test_deeply_nested_mutation_arguments_fail_that_call_and_later_ones_still_run(
    chat_server: ChatServer, depth: int
) -> None:
    """Before: ~500-deep arguments raised RecursionError in the mutation task: no reply, and a
    mutation pipelined behind it was never run."""
    channel = f"deep-{depth}-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send_together(
                with_deep(mutation(0, channel, body=DEEP), depth),
                mutation(1, channel, body="fine"),
            )
            failed = await sock.wait_for(
                lambda m: m["type"] == "MutationResponse" and m["requestId"] == 0,
                what="the failed MutationResponse",
            )
            assert failed["success"] is False and failed["ts"] is None
            assert "arguments: body[0]" in failed["result"], failed
            assert "nested deeper than 16 levels" in failed["result"], failed
            assert failed["logLines"] == []
            ok = await sock.wait_for(
                lambda m: m["type"] == "MutationResponse" and m["requestId"] == 1,
                what="the MutationResponse of the mutation behind it",
            )
            assert ok["success"] is True, ok
            ts = decode_ts(ok["ts"])
            await sock.wait_for(
                lambda m: m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= ts,
                what="the Transition after it",
            )
            kinds = [m["type"] for m in sock.messages]
            # Each answer is followed by a Transition (the clients resolve mutations on one).
            assert kinds.index("Transition") == kinds.index("MutationResponse") + 1, kinds
            assert sock.chain_errors == []
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())
    assert count(chat_server, channel) == 1


@pytest.mark.parametrize("depth", [500, 1000])
def test_deeply_nested_action_arguments_fail_that_call_and_later_ones_still_run(
    chat_server: ChatServer, depth: int
) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send_together(
                with_deep(
                    {
                        "type": "Action",
                        "requestId": 0,
                        "udfPath": "actions:slow_sum",
                        "args": [{"a": DEEP, "b": 1.0}],
                    },
                    depth,
                ),
                {
                    "type": "Action",
                    "requestId": 1,
                    "udfPath": "actions:slow_sum",
                    "args": [{"a": 1.0, "b": 2.0}],
                },
            )
            for _ in range(2):
                await sock.wait_for(lambda m: m["type"] == "ActionResponse", what="answers")
            answers = {m["requestId"]: m for m in responses(sock, "ActionResponse")}
            assert answers[0]["success"] is False
            assert "arguments: a[0]" in answers[0]["result"]
            assert "nested deeper than 16 levels" in answers[0]["result"]
            assert answers[1]["success"] is True and answers[1]["result"] == 3.0
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


@pytest.mark.parametrize("depth", [16, 17, 500, 1000])
def test_deeply_nested_query_arguments_fail_that_query_and_the_socket_stays(
    chat_server: ChatServer, depth: int
) -> None:
    """Before: 500-1000-deep ModifyQuerySet arguments dropped the TCP connection with no close
    frame (a RecursionError escaped the protocol callback). Now that query fails; the others,
    and the socket, carry on. 16 levels (the arguments object counts) is still fine."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            adds = [
                {
                    "type": "Add",
                    "queryId": 0,
                    "udfPath": "messages:echo",
                    "args": [{"value": DEEP}],
                },
                {"type": "Add", "queryId": 1, "udfPath": "messages:echo", "args": [{"value": 5.0}]},
            ]
            frame = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}
            frame["modifications"] = adds
            await sock.send_together(with_deep(frame, depth - 1))
            sock.query_set = 1
            await sock.wait_query_set(1)
            assert sock.results[1] == 5.0
            if depth <= 16:
                assert sock.results[0] == nested(depth - 1)
            else:
                failed = sock.failures[0]
                assert "arguments: value[0]" in failed["errorMessage"]
                assert "nested deeper than 16 levels" in failed["errorMessage"]
                assert failed["logLines"] == []
            v = await sock.modify([(2, "messages:echo", {"value": "later"})], removes=(0,))
            await sock.wait_query_set(v)
            assert sock.results[2] == "later"
            assert 0 not in sock.failures and 0 not in sock.results
            assert sock.chain_errors == []
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


def test_arguments_over_16_mib_fail_that_call_and_the_socket_carries_on(
    chat_server: ChatServer,
) -> None:
    """Before: the 16 MiB argument limit held over HTTP only; the socket (frames up to 32 MiB)
    ran a mutation with 17 MiB of arguments. Now a mutation, an action and a query over the
    limit each fail with ``ArgumentsTooLarge``, and the calls behind them run."""
    channel = f"big-{uuid.uuid4().hex[:8]}"
    big = "x" * (17 << 20)

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            action = {"type": "Action", "requestId": 2, "udfPath": "actions:slow_sum"}
            await sock.send_together(
                mutation(0, channel, body=big),
                mutation(1, channel, body="fits"),
                {**action, "args": [{"a": big, "b": 1.0}]},
            )
            await sock.wait_for(
                lambda _: len(responses(sock)) == 2 and len(responses(sock, "ActionResponse")) == 1,
                what="answers to both mutations and the action",
            )
            v = await sock.modify(
                [(0, "messages:echo", {"value": big}), (1, "messages:echo", {"value": 5.0})]
            )
            await sock.wait_query_set(v)
            answers = {m["requestId"]: m for m in responses(sock)}
            refused = [answers[0], *responses(sock, "ActionResponse")]
            for answer in refused:
                assert answer["success"] is False, answer["result"][:200]
                assert "the limit is 16777216" in answer["result"], answer["result"][:300]
            assert answers[1]["success"] is True
            assert "the limit is 16777216" in sock.failures[0]["errorMessage"]
            assert sock.results[1] == 5.0
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())
    assert count(chat_server, channel) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("newVersion", True),
        ("newVersion", 1.0),
        ("newVersion", "1"),
        ("baseVersion", "0"),
        ("baseVersion", None),
        ("modifications", "x"),
    ],
)
def test_bad_query_set_versions_close_the_socket_and_are_never_echoed(
    chat_server: ChatServer, field: str, value: Any
) -> None:
    """Before: ``"newVersion": true`` produced a Transition holding ``"querySet": True`` (not
    JSON; ``recv`` parses strictly), and ``"baseVersion": "0"`` closed with 1011 and the raw
    Python message ``'<=' not supported between instances of 'str' and 'int'``."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            frame = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}
            frame["modifications"] = []
            frame[field] = value
            await sock.send(frame)
            await expect_protocol_close(sock, f"ModifyQuerySet.{field}")
            assert sock.transitions == []
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


@pytest.mark.parametrize(
    ("text", "field", "code"),
    [
        ("{not json", "frame is not valid JSON", 1007),
        ("[1, 2]", "frame must be a JSON object", 1002),
        ('{"type": 5}', "frame.type", 1002),
        ('{"type": "Nope"}', "frame.type", 1002),
        ("[" * 2000 + "]" * 2000, "frame is not valid JSON", 1007),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Add"}]}',
            "ModifyQuerySet.modifications[0].queryId",
            1002,
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Add","queryId":0,"udfPath":"messages:list"}]}',
            "ModifyQuerySet.modifications[0].args",
            1002,
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Swap","queryId":0}]}',
            "ModifyQuerySet.modifications[0].type",
            1002,
        ),
        ('{"type":"Authenticate","baseVersion":0,"tokenType":"Bogus"}', "tokenType", 1002),
        ('{"type":"Authenticate","baseVersion":0,"tokenType":"Admin"}', "Authenticate.value", 1002),
        ('{"type":"Event","event":{}}', "Event.eventType", 1002),
        (
            '{"type":"Connect","connectionCount":0,"sessionId":"' + str(uuid.uuid4()) + '"}',
            "Connect was sent twice",
            1002,
        ),
    ],
)
def test_protocol_errors_close_with_a_protocol_code_and_a_reason_naming_the_field(
    chat_server: ChatServer, text: str, field: str, code: int
) -> None:
    """Before: every protocol error closed with 1011 (server error) and FatalError texts were raw
    Python messages that named no field (a bare ``KeyError: 'queryId'``)."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send_together(text)
            await expect_protocol_close(sock, field, code=code, fatal="twice" not in field)
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


def test_an_out_of_order_query_set_closes_with_a_protocol_error_without_fatal_error(
    chat_server: ChatServer,
) -> None:
    """A version gap is the client's state, not a malformed frame: no FatalError (the JS client
    would stop reconnecting for good), just a protocol close it reconnects after."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send(
                {"type": "ModifyQuerySet", "baseVersion": 3, "newVersion": 4, "modifications": []}
            )
            reason = await expect_protocol_close(sock, "ModifyQuerySet 3->4", fatal=False)
            assert "query set version 0" in reason
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


def test_an_authenticate_off_the_identity_version_closes_the_socket(
    chat_server: ChatServer,
) -> None:
    """Before: any baseVersion was taken, so the identity version could go backwards (a
    Transition whose endVersion.identity is below its startVersion's)."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send({"type": "Authenticate", "baseVersion": 5, "tokenType": "None"})
            await sock.send({"type": "Authenticate", "baseVersion": 0, "tokenType": "None"})
            reason = await expect_protocol_close(sock, "Authenticate.baseVersion", fatal=False)
            assert "identity version 0" in reason
            assert sock.transitions == []
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


@pytest.mark.parametrize(
    "first",
    [
        {"type": "Mutation", "requestId": 0, "udfPath": "messages:send", "args": [{}]},
        {"type": "Connect", "sessionId": "not-a-uuid", "connectionCount": 0},
        {"type": "Connect", "sessionId": str(uuid.uuid4())},  # no connectionCount
    ],
    ids=["before-connect", "session-id", "connection-count"],
)
def test_connect_comes_first_and_is_checked(chat_server: ChatServer, first: dict[str, Any]) -> None:
    async def run() -> None:
        ws = await websockets.connect(f"{chat_server.ws_url}/api/sync", open_timeout=10)
        sock = SyncSocket(ws, "")
        try:
            await sock.send(first)
            field = first["type"]
            await expect_protocol_close(sock, field)
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())


def test_close_reasons_fit_in_a_close_frame(chat_server: ChatServer) -> None:
    """A close frame carries at most 123 bytes of reason. A longer one (multi-byte characters
    count in bytes) made the close fail, and the TCP connection just dropped."""

    async def run() -> None:
        sock = await SyncSocket.open(chat_server.ws_url)
        try:
            await sock.send({"type": "\N{GRINNING FACE}" * 300})
            reason = await expect_protocol_close(sock, "frame.type")
            assert reason.endswith("...")
            assert len(sock.messages[-1]["error"].encode()) > 123  # the FatalError has it all
        finally:
            await sock.close()

    with clean_log(chat_server):
        asyncio.run(run())
