"""Many mutations in flight on one client: the bookkeeping per mutation must not grow with the
number pending, and read-your-writes, request order and exactly-once resends must hold.

The cost check counts executed Python lines (``sys.settrace``), not time: a bug report had one
client slow down quadratically because every Transition scanned every pending request."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import pytest

import livebase
from livebase.client import Client, ConnectionClosedError
from livebase.client import protocol as p
from livebase.client.state import SyncState
from livebase.values.wire import encode_ts

from .conftest import ChatServer, run

LIVEBASE_DIR = str(Path(livebase.__file__).resolve().parent)


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


def transition(start: tuple[int, int, int], end: tuple[int, int, int]) -> str:
    def version(q: int, i: int, t: int) -> dict[str, Any]:
        return {"querySet": q, "identity": i, "ts": encode_ts(t)}

    return json.dumps(
        {
            "type": "Transition",
            "startVersion": version(*start),
            "endVersion": version(*end),
            "modifications": [],
        }
    )


def answered(request_id: int, ts: int, result: str = "ok") -> str:
    return json.dumps(
        {
            "type": "MutationResponse",
            "requestId": request_id,
            "success": True,
            "result": result,
            "ts": encode_ts(ts),
            "logLines": [],
        }
    )


def done_order(futures: list[asyncio.Future[Any]]) -> list[int]:
    """Indexes of the futures in the order they complete (read after the loop has run)."""
    order: list[int] = []

    def on_done(index: int) -> Callable[[asyncio.Future[Any]], None]:
        return lambda _future: order.append(index)

    for i, fut in enumerate(futures):
        fut.add_done_callback(on_done(i))
    return order


# ---------------------------------------------------------------------------- cost per mutation


class LineCounter:
    """Counts the Python lines executed inside the ``livebase`` package while active."""

    def __init__(self) -> None:
        self.lines = 0

    def _call(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename.startswith(LIVEBASE_DIR):
            return self._line
        return None

    def _line(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.lines += 1
        return self._line

    def __enter__(self) -> LineCounter:
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sys.settrace(self._previous)


def lines_per_mutation(n: int, *, answers_first: bool) -> float:
    """Lines executed per mutation for a burst of ``n`` concurrent mutations: all sent, then
    for each its MutationResponse and a Transition at its ts (what a server running them one
    after another sends), or, with ``answers_first``, every response before any Transition."""

    async def body() -> float:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        responses = [answered(i, i + 1) for i in range(n)]
        transitions = [transition((0, 0, i), (0, 0, i + 1)) for i in range(n)]
        if answers_first:
            frames = responses + transitions
        else:
            frames = [frame for pair in zip(responses, transitions, strict=True) for frame in pair]
        with LineCounter() as counter:
            futures = [state.request("Mutation", "m:send", {"i": i}) for i in range(n)]
            for frame in frames:
                assert feed(state, frame) is None
        assert await asyncio.gather(*futures) == ["ok"] * n
        assert state.pending_requests == 0
        return counter.lines / n

    return run(body())


@pytest.mark.parametrize("answers_first", [False, True])
def test_work_per_mutation_does_not_grow_with_the_number_pending(answers_first: bool) -> None:
    # Linear bookkeeping executes the same lines per mutation at any n; a scan of the pending
    # requests per Transition (the bug) makes it grow about 10x from 200 to 2000.
    small = lines_per_mutation(200, answers_first=answers_first)
    large = lines_per_mutation(2000, answers_first=answers_first)
    assert small > 0
    assert large <= small * 1.1, (small, large)


# ---------------------------------------------------------------------------- semantics


def test_a_transition_resolves_every_due_mutation_in_request_order() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        futures = [state.request("Mutation", "m:send", {}) for _ in range(5)]
        order = done_order(futures)
        # Answered out of request order, with ts not following the request ids.
        for request_id, ts in [(3, 10), (0, 30), (4, 20), (1, 10), (2, 40)]:
            feed(state, answered(request_id, ts, f"r{request_id}"))
        feed(state, transition((0, 0, 0), (0, 0, 9)))  # below every ts: nothing yet
        await asyncio.sleep(0)
        assert order == [] and state.pending_requests == 5
        feed(state, transition((0, 0, 9), (0, 0, 20)))
        await asyncio.sleep(0)
        assert order == [1, 3, 4]  # request order, not ts order
        assert state.pending_requests == 2
        feed(state, transition((0, 0, 20), (0, 0, 20)))  # same ts again: nothing new
        feed(state, transition((0, 0, 20), (0, 0, 45)))
        await asyncio.sleep(0)
        assert order == [1, 3, 4, 0, 2]
        assert [f.result() for f in futures] == ["r0", "r1", "r2", "r3", "r4"]
        assert state.pending_requests == 0

    run(body())


def test_reconnect_resends_only_unanswered_mutations_once_each() -> None:
    async def body() -> None:
        wire = Wire()
        state = SyncState(wire)
        state.on_open(0, "InitialConnect")
        futures = [state.request("Mutation", "m:send", {"n": i}) for i in range(4)]
        order = done_order(futures)
        assert [m["requestId"] for m in wire.take()] == [0, 1, 2, 3]
        feed(state, answered(2, 7, "r2"))
        feed(state, answered(0, 5, "r0"))
        state.on_close()
        hello = state.on_open(1, "closed with code 1006")
        # No query is subscribed, but answered mutations need a Transition: an empty query set.
        assert [m["type"] for m in hello] == ["Connect", "ModifyQuerySet", "Mutation", "Mutation"]
        assert hello[1]["modifications"] == []
        assert [m["requestId"] for m in hello[2:]] == [1, 3]
        assert hello[2]["args"] == [{"n": 1.0}]  # a Python int is a number on the wire
        feed(state, transition((0, 0, 0), (1, 0, 6)))
        await asyncio.sleep(0)
        assert order == [0]
        # The resent ones are answered; a duplicate answer for an answered one is ignored.
        feed(state, answered(3, 8, "r3"))
        feed(state, answered(2, 99, "late duplicate"))
        feed(state, answered(1, 9, "r1"))
        feed(state, transition((1, 0, 6), (1, 0, 9)))
        await asyncio.sleep(0)
        assert order == [0, 1, 2, 3]
        assert [f.result() for f in futures] == ["r0", "r1", "r2", "r3"]
        assert state.pending_requests == 0
        state.on_close()
        # Nothing is left waiting, so a new socket only says Connect.
        assert [m["type"] for m in state.on_open(2, "x")] == ["Connect"]

    run(body())


def test_close_fails_mutations_waiting_for_their_transition() -> None:
    async def body() -> None:
        state = SyncState(Wire())
        state.on_open(0, "InitialConnect")
        answered_fut = state.request("Mutation", "m:send", {})
        unanswered = state.request("Mutation", "m:send", {})
        feed(state, answered(0, 3))
        state.close()
        for fut in (answered_fut, unanswered):
            with pytest.raises(ConnectionClosedError):
                await fut
        assert state.pending_requests == 0
        assert [m["type"] for m in state.on_open(1, "x")] == ["Connect"]

    run(body())


# ---------------------------------------------------------------------------- real server


@pytest.mark.e2e
def test_a_burst_of_concurrent_mutations_resolves_in_order(chat_server: ChatServer) -> None:
    async def body() -> None:
        name = f"burst-{uuid.uuid4().hex}"
        n = 1000
        async with Client(chat_server.url) as c:
            sub = c.subscribe("counters:get", {"name": name})
            results = await asyncio.gather(
                *(c.mutation("counters:increment", {"name": name}) for _ in range(n))
            )
            assert results == list(range(1, n + 1))
            assert sub.latest == n  # read your writes
            assert c._state.pending_requests == 0
            sub.close()

    run(body(), timeout=120.0)
