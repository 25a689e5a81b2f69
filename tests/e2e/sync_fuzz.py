"""Play one sync-protocol session of arbitrary frames against a server and judge its answers: the
oracle of the socket fuzzing suite (``tests/e2e/test_sync_fuzz.py``, ``bench/fuzz_sync.py``).

A session is a list of batches; the frames of one batch (text, or ``bytes`` for a binary frame)
go out in one TCP write, as a pipelining client sends them. Each frame the server must answer is
an expectation, taken from the frame as sent:

- a ``Mutation``/``Action`` with a u32 ``requestId``: a ``MutationResponse``/``ActionResponse``
  with that id (one per frame sent);
- a ``ModifyQuerySet`` with an integer ``newVersion``: a Transition reaching that query-set
  version; an ``Authenticate`` with an integer ``baseVersion``: a Transition reaching identity
  ``baseVersion + 1``, or an ``AuthError``;
- anything else the server cannot act on (not JSON, not an object, an unknown type, a request
  whose id is no u32, a binary frame): only a close can answer it.

A protocol close answers everything still open: a close frame with code 1002, 1003, 1007 or 1009
and a reason, or 1000 ``AuthError`` after a rejected token. Anything else is a failure: a request
still unanswered ``answer_timeout`` seconds after the last frame, a TCP connection that ends
without a close frame, a 1011 close (a server error), a server frame that is not strict JSON, or
a Transition whose ``startVersion`` is not the previous ``endVersion``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets

PROTOCOL_CLOSE_CODES = frozenset((1002, 1003, 1007, 1009))
U32_MAX = 2**32 - 1
ZERO_VERSION = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}

Frame = str | bytes
Batch = list[Frame]


@dataclass
class Outcome:
    frames: int = 0
    requests: int = 0
    """Frames that needed an answer."""
    unanswered: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_by_server: bool = False
    dropped: bool = False
    """The TCP connection ended without a close frame from the server."""
    bad_server_frames: list[str] = field(default_factory=list)
    chain_errors: list[str] = field(default_factory=list)
    replies: Counter[str] = field(default_factory=Counter)

    @property
    def server_error(self) -> bool:
        return self.close_code == 1011

    @property
    def ok(self) -> bool:
        return not (
            self.unanswered
            or self.dropped
            or self.server_error
            or self.bad_server_frames
            or self.chain_errors
        )

    def problems(self) -> list[str]:
        out = [f"unanswered: {u}" for u in self.unanswered[:5]]
        if self.dropped:
            out.append("the TCP connection ended without a close frame")
        if self.server_error:
            out.append(f"closed with 1011 {self.close_reason!r}")
        out += [f"server frame is not JSON: {b}" for b in self.bad_server_frames[:3]]
        out += self.chain_errors[:3]
        return out


@dataclass
class _Expect:
    what: str
    kind: str  # "response", "querySet", "identity", "close"
    key: Any = None
    frame: str = ""


def _short(value: Any) -> str:
    """A bounded description of a JSON value (a 1,000-deep array has no usable repr)."""
    if isinstance(value, (list, dict)):
        return type(value).__name__
    return repr(value)[:40]


def _u32(value: Any) -> bool:
    return type(value) is int and 0 <= value <= U32_MAX


def expectations(frame: Frame) -> list[_Expect]:
    """What the server owes for ``frame`` (see the module docstring)."""
    short = repr(frame[:120])
    if isinstance(frame, bytes):
        return [_Expect("a binary frame", "close", frame=short)]
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return [_Expect("a frame that is not JSON", "close", frame=short)]
    if not isinstance(data, dict):
        return [_Expect("a frame that is not an object", "close", frame=short)]
    kind = data.get("type")
    if kind in ("Mutation", "Action"):
        request_id = data.get("requestId")
        if _u32(request_id):
            return [_Expect(f"{kind} {request_id}", "response", (kind, request_id), short)]
        return [_Expect(f"{kind} with requestId {_short(request_id)}", "close", frame=short)]
    if kind == "ModifyQuerySet":
        new = data.get("newVersion")
        if _u32(new):
            return [_Expect(f"ModifyQuerySet to {new}", "querySet", new, short)]
        return [_Expect(f"ModifyQuerySet to {_short(new)}", "close", frame=short)]
    if kind == "Authenticate":
        base = data.get("baseVersion")
        if _u32(base):
            return [_Expect(f"Authenticate from {base}", "identity", base + 1, short)]
        return [_Expect(f"Authenticate from {_short(base)}", "close", frame=short)]
    if kind in ("Connect", "Event"):
        return []
    return [_Expect(f"a frame of type {_short(kind)}", "close", frame=short)]


class _Session:
    def __init__(self) -> None:
        self.outcome = Outcome()
        self.responses: Counter[tuple[str, int]] = Counter()
        self.query_set = 0
        self.identity = 0
        self.auth_errors = 0
        self.version: Any = ZERO_VERSION
        self.changed = asyncio.Event()

    def absorb(self, raw: str | bytes) -> None:
        out = self.outcome
        if isinstance(raw, bytes):
            out.bad_server_frames.append(f"binary frame {raw[:60]!r}")
            return
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out.bad_server_frames.append(raw[:200])
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        out.replies[str(kind)] += 1
        if kind in ("MutationResponse", "ActionResponse"):
            self.responses[(kind.removesuffix("Response"), msg["requestId"])] += 1
        elif kind == "Transition":
            if msg["startVersion"] != self.version:
                out.chain_errors.append(
                    f"Transition startVersion {msg['startVersion']} != endVersion {self.version}"
                )
            self.version = msg["endVersion"]
            self.query_set = max(self.query_set, self.version["querySet"])
            self.identity = max(self.identity, self.version["identity"])
        elif kind == "AuthError":
            self.auth_errors += 1
        self.changed.set()

    def open_expectations(self, expects: list[_Expect]) -> list[_Expect]:
        used: Counter[tuple[str, int]] = Counter()
        auth_errors = self.auth_errors
        left = []
        for e in expects:
            if e.kind == "response":
                used[e.key] += 1
                if used[e.key] <= self.responses[e.key]:
                    continue
            elif e.kind == "querySet" and self.query_set >= e.key:
                continue
            elif e.kind == "identity":
                if self.identity >= e.key:
                    continue
                if auth_errors:
                    auth_errors -= 1
                    continue
            left.append(e)
        return left


async def run_session(
    ws_url: str, batches: list[Batch], *, answer_timeout: float = 10.0, open_timeout: float = 10.0
) -> Outcome:
    """Open ``ws_url``, send ``batches`` (each in one write), wait until every frame that needs
    an answer has one or the server closes the socket, and judge (see the module docstring)."""
    session = _Session()
    out = session.outcome
    ws = await websockets.connect(
        ws_url, open_timeout=open_timeout, max_size=None, close_timeout=2, ping_interval=None
    )
    expects: list[_Expect] = []

    async def read() -> None:
        try:
            async for raw in ws:
                session.absorb(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            session.changed.set()

    reader = asyncio.ensure_future(read())
    try:
        for batch in batches:
            if ws.protocol.close_rcvd is not None or reader.done():
                break
            for frame in batch:
                out.frames += 1
                expects += expectations(frame)
                if isinstance(frame, bytes):
                    ws.protocol.send_binary(frame)
                else:
                    ws.protocol.send_text(frame.encode("utf-8", "surrogatepass"))
            ws.transport.write(b"".join(ws.protocol.data_to_send()))
            await asyncio.sleep(0)  # let replies in; the server reads while we write
        out.requests = sum(1 for e in expects if e.kind != "close")
        deadline = time.monotonic() + answer_timeout
        while not reader.done() and session.open_expectations(expects):
            session.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(session.changed.wait(), remaining)
            except TimeoutError:
                break
        if not reader.done() and any(e.kind == "close" for e in expects):
            # The server must close after such a frame; give the close a moment to arrive.
            try:
                await asyncio.wait_for(asyncio.shield(reader), answer_timeout)
            except TimeoutError:
                pass
        close = ws.protocol.close_rcvd
        if reader.done():
            out.closed_by_server = True
            if close is None:
                out.dropped = True
            else:
                out.close_code, out.close_reason = close.code, close.reason
        protocol_close = close is not None and (
            (close.code in PROTOCOL_CLOSE_CODES and close.reason != "")
            or (close.code == 1000 and close.reason == "AuthError")
        )
        if not protocol_close:
            out.unanswered = [
                f"{e.what} (frame {e.frame})" for e in session.open_expectations(expects)
            ]
    finally:
        try:
            await asyncio.wait_for(ws.close(), 5)
        except (TimeoutError, websockets.WebSocketException, OSError):
            ws.transport.abort()
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            pass
    return out


__all__ = ["PROTOCOL_CLOSE_CODES", "Batch", "Frame", "Outcome", "expectations", "run_session"]
