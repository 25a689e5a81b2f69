"""Hypothesis strategies for hostile HTTP/1.1 requests, and a raw-socket client that sends one
and reports what came back. Used by ``tests/e2e/test_http_fuzz.py`` (a bounded run in CI) and
``bench/fuzz_http.py`` (a long run with latency and memory figures).

A request is built from parts that are each valid, odd or broken: the method (real, unknown,
lower-case, binary), the target (every Livebase route, app paths, ``//`` and ``..``, percent
escapes, control bytes, very long targets), the headers (authorization with good and bad keys,
``Expect: 100-continue``, ``Connection``/``Upgrade``, duplicates, oversized and numerous
headers, non-ASCII bytes), the body (function calls with well-typed, wrong-typed, deeply
nested and malformed arguments, JSON that is not an object, bytes that are not JSON) and its
framing (``Content-Length`` or chunked in random pieces). ``Outcome`` says how the server
answered: a status, or a close without one.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

FUNCTIONS = [
    "messages:list",
    "messages:page",
    "messages:count",
    "messages:send",
    "messages:edit",
    "messages:remove",
    "messages:get",
    "messages:echo",
    "messages:clock",
    "messages:paged_opts",
    "counters:get",
    "counters:increment",
    "actions:shout",
    "actions:slow_sum",
    "admin/users:message_total",
    "admin/users:wipe_channel",
    "nope:nothing",
    "messages",
    ":",
    "",
]
"""The chat example's functions (``messages:boom`` is left out: it is an app bug on purpose
and logs its traceback), plus paths that name no function."""

ROUTES = [
    "/api/query",
    "/api/mutation",
    "/api/action",
    "/api/function",
    "/api/query_ts",
    "/api/query_at_ts",
    "/api/run/messages/echo",
    "/api/run/messages/list",
    "/api/run/admin/users/message_total",
    "/api/run/nope/x",
    "/api/run/",
    "/api/changes",
    "/api/import",
    "/api/debug_event",
    "/api/sync",
    "/api/",
    "/api",
    "/version",
    "/metrics",
    "/_livebase/client.js",
    "/_livebase/nothing",
    "/",
    "//api//query",
    "/api/../version",
    "/api/query/",
    "/webhooks/x",
]

CALL_ROUTES = ["/api/query", "/api/mutation", "/api/action", "/api/function", "/api/function"]

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]


@dataclass
class FuzzRequest:
    data: bytes
    """Everything to send, head and body."""
    what: str
    """A short description for failure messages."""


@dataclass
class Outcome:
    status: int | None
    """The status of the (final) response, or None when the server closed without one."""
    elapsed: float
    detail: str = ""


def encoded_int(n: int) -> dict[str, str]:
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def nested_text(levels: int, leaf: str = "1", obj: bool = False) -> str:
    if obj:
        return '{"a":' * levels + leaf + "}" * levels
    return "[" * levels + leaf + "]" * levels


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [{"$integer": "AQAAAAAAAAA="}, {"$integer": "bad"}, {"$float": "AAAAAAAA+H8="}]
    ),
    st.sampled_from([{"$bytes": "aGk="}, {"$bytes": 5}, {"$float": "AAAAAAAA8D8="}, {"$x": 1}]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(encoded_int),
)

json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=20,
)


_strings = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "general", "\u0000", "\ud7ff\ue000", "a" * 5000, "$x", "_id"]),
)
_int64 = st.one_of(
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 10**6]).map(encoded_int),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(encoded_int),
)
_numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6))
_pagination = st.fixed_dictionaries(
    {},
    optional={
        "numItems": st.one_of(_int64, _numbers, _strings, st.none()),
        "cursor": st.one_of(st.none(), _strings, st.sampled_from(["", "null", "eyJ4IjoxfQ=="])),
        "maximumRowsRead": st.one_of(_int64, _numbers),
        "endCursor": st.one_of(st.none(), _strings),
        "id": _int64,
    },
)
SIGNATURES: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "messages:list": {"channel": _strings, "limit": st.one_of(st.none(), _int64, _int64, _numbers)},
    "messages:page": {"channel": _strings, "paginationOpts": st.one_of(_pagination, json_values)},
    "messages:count": {"channel": _strings},
    "messages:send": {"channel": _strings, "body": _strings, "author": _strings},
    "messages:edit": {"id": _strings, "body": _strings},
    "messages:remove": {"id": _strings},
    "messages:get": {"id": _strings},
    "messages:echo": {"value": json_values},
    "messages:clock": {},
    "messages:paged_opts": {"channel": _strings, "paginationOpts": _pagination},
    "counters:get": {"name": _strings},
    "counters:increment": {"name": _strings},
    "actions:shout": {"channel": _strings, "body": _strings},
    "actions:slow_sum": {"a": _numbers, "b": _numbers},
    "admin/users:message_total": {},
    "admin/users:wipe_channel": {"channel": _strings},
}
"""Each function's arguments, with values that fit the declared types but are odd (empty,
long, non-ASCII, negative, extreme), so that calls get past validation and run."""

KINDS = {
    path: "action"
    if path.startswith("actions:")
    else "query"
    if path.split(":")[1] in ("list", "page", "count", "get", "echo", "clock", "paged_opts")
    or path == "admin/users:message_total"
    else "mutation"
    for path in SIGNATURES
}


@st.composite
def typed_calls(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(sorted(SIGNATURES)))
    fields = SIGNATURES[path]
    args = {name: draw(strategy) for name, strategy in fields.items() if draw(st.integers(0, 9))}
    call: dict[str, Any] = {"path": path, "args": args}
    if draw(st.integers(0, 3)) == 0:
        call["format"] = "json"
    return call


@st.composite
def call_bodies(draw: st.DrawFn) -> bytes:
    """A JSON body for ``/api/*``: mostly ``{path, args, format}`` calls, some broken."""
    kind = draw(st.integers(0, 12))
    if kind >= 10:
        return json.dumps(draw(typed_calls())).encode()
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    if kind == 2:  # deep nesting, as raw text (json.dumps would recurse)
        levels = draw(st.sampled_from([15, 16, 17, 64, 65, 600, 1100, 20_000]))
        leaf = draw(st.sampled_from(["1", '"x"', "{}", "[]", '{"$integer":"AQAAAAAAAAA="}']))
        args = nested_text(levels, leaf, obj=draw(st.booleans()))
        path = draw(st.sampled_from(FUNCTIONS))
        return f'{{"path":{json.dumps(path)},"args":{{"value":{args}}}}}'.encode()
    if kind == 3:  # broken JSON text
        return draw(
            st.sampled_from(
                [
                    b'{"path":"messages:echo","args":{"value":NaN}}',
                    b'{"path":"messages:echo","args":{"value":Infinity}}',
                    b'{"path":"messages:echo","args":{"value":"\\ud800"}}',
                    b'{"path":"messages:echo","args":{"value":1e999}}',
                    b'{"path":"messages:echo","args":',
                    b'{"path":"messages:echo"}}}',
                    b'{"path":"messages:echo","args":{"a":1,"a":2}}',
                    b"\xff\xfe{}",
                    b"null",
                    b"[]",
                    b"",
                ]
            )
        )
    body: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        body["path"] = draw(st.one_of(st.sampled_from(FUNCTIONS), json_values))
    if draw(st.integers(0, 9)):
        args: Any = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(ARG_NAMES), json_values, max_size=4),
                st.dictionaries(st.text(max_size=20), json_values, max_size=3),
                json_values,
                st.lists(st.dictionaries(st.sampled_from(ARG_NAMES), json_values), max_size=2),
            )
        )
        body["args"] = args
    if draw(st.integers(0, 3)) == 0:
        body["format"] = draw(
            st.one_of(st.sampled_from(["json", "convex_encoded_json", "xml"]), json_values)
        )
    if draw(st.integers(0, 5)) == 0:
        body["ts"] = draw(
            st.one_of(st.sampled_from(["AQAAAAAAAAA=", "////////", "x"]), json_values)
        )
    return json.dumps(body).encode()


ARG_NAMES = [
    "channel",
    "body",
    "author",
    "limit",
    "id",
    "value",
    "name",
    "a",
    "b",
    "paginationOpts",
]

_path_chars = st.sampled_from([*"abcxyz/._-~%:?#&=+@!$'()*,;[]{}|\\^`\"<> ", "\x7f"])


@st.composite
def targets(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        target = draw(st.sampled_from(ROUTES))
    elif kind <= 6:
        target = "/" + draw(st.text(_path_chars, max_size=40))
    elif kind == 7:
        target = draw(st.sampled_from(ROUTES)) + "/" + "a" * draw(st.integers(1000, 20_000))
    elif kind == 8:
        target = draw(st.sampled_from(["*", "http://x/api/query", "/%", "/%zz", "/\u00e9", ""]))
    else:
        target = draw(st.sampled_from(ROUTES)) + "%" + draw(st.text(_path_chars, max_size=6))
    if draw(st.integers(0, 3)) == 0:
        query = draw(
            st.sampled_from(
                [
                    "cursor=x",
                    "table=messages",
                    "table=",
                    "limit=-1",
                    "limit=abc",
                    "limit=99999999999",
                    "tables=messages,counters",
                    "a=%ff%fe",
                    "&&&==",
                    "x=" + "q" * 3000,
                ]
            )
        )
        target += "?" + query
    return target


@st.composite
def clean_headers(draw: st.DrawFn, admin_key: str) -> list[tuple[str, str]]:
    """What a real client sends: maybe the admin key, a content type, an idempotency key."""
    out: list[tuple[str, str]] = [("Content-Type", "application/json")]
    if draw(st.integers(0, 3)) == 0:
        out.append(("Authorization", f"Convex {admin_key}"))
    if draw(st.integers(0, 5)) == 0:
        out.append(("Idempotency-Key", draw(st.text(_token_chars, min_size=1, max_size=20))))
    if draw(st.integers(0, 5)) == 0:
        out.append(("Origin", "http://localhost:5173"))
    return out


_token_chars = st.sampled_from([*"abcdefghijklmnopqrstuvwxyz0123456789-_.~"])


@st.composite
def headers(draw: st.DrawFn, admin_key: str) -> list[tuple[str, str]]:
    """Odd headers: wrong credentials, upgrades, duplicates, oversized, control bytes."""
    out: list[tuple[str, str]] = []
    if draw(st.integers(0, 2)) == 0:
        out.append(
            (
                "Authorization",
                draw(
                    st.sampled_from(
                        [
                            f"Convex {admin_key}",
                            f"Bearer {admin_key}",
                            "Convex wrong",
                            "Bearer a.b.c",
                            "Basic eDp5",
                            "Convex",
                            "",
                            f"Convex {admin_key}:identity",
                        ]
                    )
                ),
            )
        )
    if draw(st.integers(0, 3)) == 0:
        out.append(("Content-Type", draw(st.sampled_from(["application/json", "text/plain", "x"]))))
    if draw(st.integers(0, 5)) == 0:
        out.append(("Origin", draw(st.sampled_from(["http://a.example", "null", "\u00e9"]))))
    if draw(st.integers(0, 6)) == 0:
        out.append(("Idempotency-Key", draw(st.text(max_size=30))))
    if draw(st.integers(0, 8)) == 0:
        out.append(("Upgrade", "websocket"))
        out.append(("Connection", "Upgrade"))
        out.append(("Sec-WebSocket-Version", "13"))
        if draw(st.booleans()):
            out.append(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
    if draw(st.integers(0, 8)) == 0:
        out.append(("Access-Control-Request-Headers", draw(st.text(max_size=30))))
    if draw(st.integers(0, 8)) == 0:
        out.append(("Last-Event-ID", draw(st.text(max_size=30))))
    if draw(st.integers(0, 8)) == 0:
        out.append(("If-None-Match", draw(st.text(max_size=30))))
    if draw(st.integers(0, 10)) == 0:
        out.append(("X-Big", "b" * draw(st.sampled_from([1000, 70_000, 300_000]))))
    if draw(st.integers(0, 10)) == 0:
        out += [(f"X-Many-{i}", "v") for i in range(draw(st.sampled_from([50, 101, 400])))]
    if draw(st.integers(0, 10)) == 0:
        out += draw(st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=20))))
    return out


def _latin1(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def http_requests(draw: st.DrawFn, admin_key: str = "livebase-e2e-admin-key") -> FuzzRequest:
    """One whole request, ready to send on a fresh connection."""
    typed: bytes | None = None
    if draw(st.booleans()):  # a function call: the API's main door
        method = "POST"
        if draw(st.booleans()):  # well typed, to the right endpoint: it runs
            call = draw(typed_calls())
            kind = KINDS[call["path"]]
            target = draw(st.sampled_from([f"/api/{kind}", f"/api/{kind}", "/api/function"]))
            typed = json.dumps(call).encode()
        else:
            target = draw(st.sampled_from(CALL_ROUTES))
    else:
        method = draw(
            st.one_of(
                st.sampled_from(METHODS + ["POST"] * 6),
                st.sampled_from(["get", "FOO", "PRI", "CONNECT", "G\x00T", "POST "]),
            )
        )
        target = draw(targets())
    version = draw(st.sampled_from(["HTTP/1.1"] * 20 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x"]))
    clean = draw(st.integers(0, 4)) < (4 if typed is not None else 2)
    hdrs = draw(clean_headers(admin_key) if clean else headers(admin_key))
    body = draw(call_bodies()) if method.upper() in ("POST", "PUT", "PATCH") else b""
    if typed is not None:
        body = typed
    if method == "GET" and draw(st.integers(0, 10)) == 0:
        body = draw(call_bodies())
    framing = draw(st.sampled_from(["length"] * 10 + ["chunked"] * 3 + ["none", "both"]))
    continue_100 = draw(st.integers(0, 10)) == 0
    head = [f"{method} {target} {version}", "Host: fuzz"]
    head += [f"{name}: {value}" for name, value in hdrs]
    if continue_100:
        head.append("Expect: 100-continue")
    head.append("Connection: close")
    payload = body
    if framing in ("length", "both") or (framing == "none" and not body):
        head.append(f"Content-Length: {len(body)}")
    if framing in ("chunked", "both"):
        head.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=5)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        payload = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
    if framing == "none" and body:
        payload = b""  # a body with no framing is not sent (the server would wait for it)
    data = _latin1("\r\n".join(head) + "\r\n\r\n") + payload
    what = f"{method} {target[:80]} [{framing}] {payload[:120]!r}"
    return FuzzRequest(data, what)


def read_status(sock: socket.socket, deadline: float) -> tuple[int | None, bytes]:
    """The status of the first non-1xx response (None if the server closed first) and what
    arrived; reading stops once a response head is in (the body is not needed)."""
    buf = b""
    while True:
        while b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0]
            parts = line.split(b" ")
            if len(parts) < 2 or not parts[1].isdigit():
                return -1, buf  # not HTTP: a protocol violation by the server
            status = int(parts[1])
            if 100 <= status < 200 and status != 101:
                buf = rest  # 100 Continue: the real answer follows
                continue
            return status, buf
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer; got {buf[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return None, buf
        if not chunk:
            return None, buf
        buf += chunk


def send_request(port: int, data: bytes, timeout: float = 10.0) -> Outcome:
    """Send ``data`` on a new connection and wait for the answer (or the close)."""
    started = time.monotonic()
    deadline = started + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early; the answer (if any) is still readable
        status, got = read_status(sock, deadline)
    return Outcome(status, time.monotonic() - started, got[:300].decode("latin-1"))


__all__ = [
    "CALL_ROUTES",
    "FUNCTIONS",
    "KINDS",
    "ROUTES",
    "SIGNATURES",
    "FuzzRequest",
    "Outcome",
    "call_bodies",
    "clean_headers",
    "headers",
    "http_requests",
    "json_values",
    "nested_text",
    "read_status",
    "send_request",
    "targets",
    "typed_calls",
]
