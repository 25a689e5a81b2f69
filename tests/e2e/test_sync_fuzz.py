"""Fuzzing the sync socket with hypothesis: sessions of valid, mutated and garbage frames against a
real server process. Every request must be answered (a reply, or a protocol close with a reason),
no server frame may be anything but JSON, the server log must hold no traceback, and the server
must stay up and keep serving a well-behaved client.

The CI run is bounded (``LIVEBASE_FUZZ_EXAMPLES``, default 400 sessions, about 10 s); the longer
run with memory and latency figures is ``bench/fuzz_sync.py``. The judging rules are in
``tests/e2e/sync_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import ChatServer, launch_chat_server
from .sync_fuzz import Batch, run_session
from .sync_wire import SyncSocket, decode_ts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXAMPLES = int(os.environ.get("LIVEBASE_FUZZ_EXAMPLES", "400"))
CHANNELS = ("fuzz-a", "fuzz-b")
FUNCTIONS = (
    "messages:send", "messages:list", "messages:count", "messages:echo", "messages:get",
    "actions:slow_sum", "actions:shout", "counters:increment", "admin/users:message_total",
    "nope:missing", "messages", "messages.js:count", ":", "",
)  # fmt: skip
DEEP = "@deep{}@"
MISSING_ID = object()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    """A server of its own (SQLite): its log is checked, and nothing else shares it."""
    with launch_chat_server(tmp_path_factory.mktemp("fuzz-server")) as server:
        yield server


# -- strategies -----------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
odd_values = st.sampled_from(
    [1.7, 1e300, 2.0, -1, 2**32, 2**53 + 1, True, False, None, "0", "", [], {}, [{}], "x" * 2000,
     DEEP.format(17), DEEP.format(500), DEEP.format(1000), DEEP.format(1500),
     {"$integer": "AQ=="}, {"$integer": "AQAAAAAAAAA="}, {"$bytes": 5}, {"$set": []},
     {"$float": "AAAAAAAA8D8="}]
)  # fmt: skip
anything = odd_values | json_values
ids = st.integers(0, 6)
channels = st.sampled_from(CHANNELS)


def _args_for(path: str) -> st.SearchStrategy[dict[str, Any]]:
    if path == "messages:send":
        return st.fixed_dictionaries({"channel": channels, "body": st.text(max_size=10)})
    if path in ("messages:list", "messages:count", "messages.js:count"):
        return st.fixed_dictionaries({"channel": channels})
    if path == "actions:slow_sum":
        return st.fixed_dictionaries({"a": st.floats(-9, 9), "b": st.floats(-9, 9)})
    if path == "messages:echo":
        return st.fixed_dictionaries({"value": anything})
    return st.dictionaries(st.text(max_size=6), anything, max_size=2)


@st.composite
def call_args(draw: st.DrawFn, path: str) -> list[Any]:
    return [draw(_args_for(path))]


@st.composite
def requests(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    path = draw(st.sampled_from(FUNCTIONS))
    return {"type": kind, "requestId": draw(ids), "udfPath": path, "args": draw(call_args(path))}


@st.composite
def query_sets(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(st.integers(0, 3))
    mods: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            path = draw(st.sampled_from(FUNCTIONS))
            mod = {"type": "Add", "queryId": draw(ids), "udfPath": path}
            mod["args"] = draw(call_args(path))
            if draw(st.booleans()):
                mod["journal"] = draw(st.none() | st.text(max_size=20))
            mods.append(mod)
        else:
            mods.append({"type": "Remove", "queryId": draw(ids)})
    return {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1,
            "modifications": mods}  # fmt: skip


authenticates = st.builds(
    lambda base, kind, value: (
        {"type": "Authenticate", "baseVersion": base, "tokenType": kind}
        | ({} if kind == "None" else {"value": value})
    ),
    st.integers(0, 2),
    st.sampled_from(["None", "Admin", "User"]),
    st.text(max_size=20),
)
events = st.builds(
    lambda kind, event: {"type": "Event", "eventType": kind, "event": event},
    st.sampled_from(["ClientConnect", "NetworkRecoveryReconnect"]),
    json_values,
)
connects = st.builds(
    lambda count: {"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": count,
                   "lastCloseReason": "InitialConnect", "clientTs": 0},
    st.integers(0, 3),
)  # fmt: skip
valid_frames = (
    requests("Mutation") | requests("Action") | query_sets() | authenticates | events | connects
)


def _field_path(frame: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) pairs of every field in ``frame``, nested ones included."""
    out: list[tuple[Any, Any]] = []
    stack: list[Any] = [frame]
    while stack:
        container = stack.pop()
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for key in keys:
            out.append((container, key))
            if isinstance(container[key], (dict, list)):
                stack.append(container[key])
    return out


@st.composite
def mutated(draw: st.DrawFn, frame: dict[str, Any]) -> dict[str, Any]:
    """``frame`` with one field dropped, replaced by an odd value, or the type renamed."""
    frame = copy.deepcopy(frame)  # never change a value hypothesis may hand out again
    fields = _field_path(frame)
    container, key = draw(st.sampled_from(fields))
    op = draw(st.sampled_from(["drop", "replace", "replace", "type"]))
    if op == "drop" and isinstance(container, dict):
        del container[key]
    elif op == "type":
        frame["type"] = draw(st.sampled_from(["mutation", "Query", "", "Transition", "Ping"]))
    else:
        container[key] = draw(anything)
    return frame


def encode(frame: Any) -> str:
    text = json.dumps(frame)
    for depth in (17, 500, 1000, 1500):
        text = text.replace(f'"{DEEP.format(depth)}"', "[" * depth + "0" + "]" * depth)
    return text


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        return encode(draw(valid_frames))
    if choice <= 8:
        return encode(draw(valid_frames.flatmap(mutated)))
    garbage = st.sampled_from(["", "{", "[1]", "null", '{"type":', "\ufeff{}", "NaN"])
    text = draw(garbage | st.text(max_size=30) | valid_frames.map(encode).map(lambda t: t[:-1]))
    return text.encode() if draw(st.integers(0, 4)) == 0 else text


@st.composite
def sessions(draw: st.DrawFn) -> list[Batch]:
    """A Connect (usually valid), then up to 8 frames, in batches of up to 3 per write."""
    first = encode(draw(connects)) if draw(st.integers(0, 9)) else draw(frames())
    rest = draw(st.lists(frames(), max_size=8))
    batches: list[Batch] = [[first]]
    while rest:
        size = draw(st.integers(1, 3))
        batches.append(rest[:size])
        rest = rest[size:]
    return batches


def _connect() -> str:
    return json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0})


def _mutation(request_id: Any, body: Any = "x") -> str:
    frame = {"type": "Mutation", "requestId": request_id, "udfPath": "messages:send"}
    frame["args"] = [{"channel": "fuzz-a", "body": body}]
    if request_id is MISSING_ID:
        del frame["requestId"]
    return encode(frame)


# -- the test ----------------------------------------------------------------------------------


class LogReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def new_text(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode("utf-8", "replace")


def _assert_clean(text: str) -> None:
    for needle in ("Traceback", "Task exception was never retrieved", "RecursionError"):
        assert needle not in text, f"{needle!r} in the server log:\n{text[-4000:]}"


def test_fuzzed_sessions_are_all_answered_and_leave_no_traceback(
    fuzz_server: ChatServer,
) -> None:
    url = f"{fuzz_server.ws_url}/api/sync"
    log = LogReader(fuzz_server.log_path)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batches=sessions())
    # The defects issue 11 listed, always played first.
    @example(batches=[[_connect()], [_mutation(MISSING_ID), _mutation(1)]])
    @example(batches=[[_connect()], [_mutation(1.7)], [_mutation(1e300)]])
    @example(batches=[[_connect()], [_mutation(0, DEEP.format(500)), _mutation(1)]])
    @example(batches=[[_connect(), '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":true,'
                                   '"modifications":[]}']])  # fmt: skip
    @example(batches=[[_connect(), encode({"type": "ModifyQuerySet", "baseVersion": 0,
        "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0,
        "udfPath": "messages:echo", "args": [{"value": DEEP.format(1000)}]}]})]])  # fmt: skip
    @example(batches=[[_connect(), b"\x00binary", _mutation(2)]])
    def check(batches: list[Batch]) -> None:
        outcome = asyncio.run(run_session(url, batches, answer_timeout=10.0))
        assert outcome.ok, f"{outcome.problems()}\nsession: {batches}"
        _assert_clean(log.new_text())

    check()

    # Still up, and a well-behaved client still gets its mutation and the Transition after it.
    assert httpx.get(f"{fuzz_server.url}/version", timeout=5).status_code == 200

    async def behaved() -> None:
        sock = await SyncSocket.open(fuzz_server.ws_url)
        try:
            await sock.send(json.loads(_mutation(0, "after the fuzz")))
            reply = await sock.wait_for(lambda m: m["type"] == "MutationResponse")
            assert reply["success"] is True, reply
            ts = decode_ts(reply["ts"])
            await sock.wait_for(
                lambda m: m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= ts
            )
        finally:
            await sock.close()

    asyncio.run(behaved())
    _assert_clean(log.new_text())
