"""The Convex-style HTTP function API of ``livebase serve``, spoken raw with httpx.

Request: ``POST /api/{query,mutation,action}`` with ``{"path", "args", "format"}``; ``args`` is an
object (Python client) or a one-element array (JS client). Response: HTTP 200 with
``{"status": "success", "value", "logLines"}`` or ``{"status": "error", "errorMessage",
"errorData"?}``; a request the server cannot run at all gets 4xx with ``{"code", "message"}``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FORMAT = "convex_encoded_json"
BUG_TEXT = "this is a bug in the app"


def int64(n: int) -> dict[str, str]:
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def int64_value(encoded: dict[str, str]) -> int:
    assert set(encoded) == {"$integer"}, encoded
    raw = base64.b64decode(encoded["$integer"], validate=True)
    assert len(raw) == 8, encoded
    return int(struct.unpack("<q", raw)[0])


def ts_value(encoded: str) -> int:
    raw = base64.b64decode(encoded, validate=True)
    assert len(raw) == 8, encoded
    return int(struct.unpack("<Q", raw)[0])


@pytest.fixture
def http(chat_server: ChatServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chat_server.url, timeout=15.0) as client:
        yield client


@pytest.fixture
def channel() -> str:
    return f"http-{uuid.uuid4().hex[:12]}"


def call(
    http: httpx.Client,
    kind: str,
    path: str,
    args: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"path": path, "args": args, "format": FORMAT}
    return http.post(f"/api/{kind}", json=body, headers=headers)


def success(response: httpx.Response) -> Any:
    """The decoded ``value`` of a 200 success response (with the raw JSON still encoded)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["value"]


def error_body(response: httpx.Response, status: int) -> dict[str, Any]:
    """A non-function error: the given HTTP status and a ``{"code", "message"}`` body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str), body
    assert isinstance(body.get("message"), str), body
    assert body["code"] != ""
    assert body["message"] != ""
    return body


def send(http: httpx.Client, channel: str, body: str, **headers: str) -> httpx.Response:
    return call(http, "mutation", "messages:send", {"channel": channel, "body": body}, headers)


def count(http: httpx.Client, channel: str) -> Any:
    return success(call(http, "query", "messages:count", {"channel": channel}))


# --- endpoints and argument shapes -------------------------------------------------------------


def test_version(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.text.strip() != ""


def test_args_as_object_and_as_one_element_array(http: httpx.Client, channel: str) -> None:
    as_object = call(http, "query", "messages:echo", {"value": "x"})
    as_array = call(http, "query", "messages:echo", [{"value": "x"}])
    assert success(as_object) == "x"
    assert success(as_array) == "x"

    first = success(send_array(http, channel, "array args"))
    second = success(send(http, channel, "object args"))
    assert isinstance(first, str)
    assert isinstance(second, str)
    assert first != second
    assert count(http, channel) == 2


def send_array(http: httpx.Client, channel: str, body: str) -> httpx.Response:
    return call(http, "mutation", "messages:send", [{"channel": channel, "body": body}])


def test_success_response_shape(http: httpx.Client, channel: str) -> None:
    response = send(http, channel, "shape")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "success"
    assert isinstance(body["value"], str)
    assert "errorMessage" not in body
    assert isinstance(body["logLines"], list)


def test_action_endpoint(http: httpx.Client, channel: str) -> None:
    value = success(call(http, "action", "actions:shout", {"channel": channel, "body": "hey"}))
    assert set(value) == {"id", "count"}
    assert isinstance(value["id"], str)
    assert value["count"] == 1
    docs = success(call(http, "query", "messages:list", {"channel": channel}))
    assert [d["body"] for d in docs] == ["HEY"]


# --- value encoding ----------------------------------------------------------------------------


class _JsonInt:
    """Marks a JSON integer literal found while parsing a response."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JSON integer {self.text}"


def json_integers(value: Any) -> list[_JsonInt]:
    if isinstance(value, _JsonInt):
        return [value]
    if isinstance(value, list):
        return [i for item in value for i in json_integers(item)]
    if isinstance(value, dict):
        return [i for item in value.values() for i in json_integers(item)]
    return []


def raw_value(response: httpx.Response) -> Any:
    """``value`` parsed keeping JSON integer literals visible as ``_JsonInt``."""
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_int=_JsonInt)
    assert body["status"] == "success", body
    return body["value"]


def test_floats_are_written_with_a_decimal_point(http: httpx.Client) -> None:
    response = call(http, "query", "messages:echo", {"value": 1.0})
    assert re.search(r'"value"\s*:\s*1\.0\b', response.text), response.text
    assert json_integers(raw_value(response)) == []

    nested = {"a": 2.0, "b": [0.0, -3.0, 0.5, 1e20, 12345678.0], "c": {"d": 2.0**53}}
    response = call(http, "query", "messages:echo", {"value": nested})
    value = raw_value(response)
    assert json_integers(value) == [], response.text
    assert value == nested


def test_a_python_int_result_is_a_json_number(http: httpx.Client, channel: str) -> None:
    """``return len(rows)`` is a float64 number on the wire (what a JavaScript client can use),
    written with its decimal point; an int64 only where the app says so."""
    for body in ("one", "two", "three"):
        success(send(http, channel, body))
    response = call(http, "query", "messages:count", {"channel": channel})
    assert type(raw_value(response)) is float and raw_value(response) == 3
    assert '"value":3.0' in response.text
    response = call(http, "query", "counters:get", {"name": f"none-{channel}"})
    assert raw_value(response) == int64(0)  # returns=v.int64()


@pytest.mark.parametrize(
    "value",
    [
        int64(0),
        int64(-1),
        int64(2**63 - 1),
        int64(-(2**63)),
        {"$bytes": ""},
        {"$bytes": base64.b64encode(bytes(range(256))).decode()},
        {"$float": base64.b64encode(struct.pack("<d", float("nan"))).decode()},
        {"$float": base64.b64encode(struct.pack("<d", float("inf"))).decode()},
        {"$float": base64.b64encode(struct.pack("<d", -0.0)).decode()},
        {"list": [int64(5), {"$bytes": "AAE="}, 1.5, None, True, "s"], "obj": {"k": int64(7)}},
    ],
    ids=[
        "int64-zero",
        "int64-minus-one",
        "int64-max",
        "int64-min",
        "bytes-empty",
        "bytes-all",
        "float-nan",
        "float-inf",
        "float-minus-zero",
        "nested",
    ],
)
def test_encoded_values_round_trip(http: httpx.Client, value: Any) -> None:
    response = call(http, "query", "messages:echo", {"value": value})
    assert raw_value(response) == value


# --- errors that never reach a function --------------------------------------------------------


def test_bad_json_body_is_a_400(http: httpx.Client) -> None:
    response = http.post(
        "/api/query", content=b'{"path": "messages:list", "args": ', headers=_json_headers()
    )
    body = error_body(response, 400)
    assert body["code"] == "BadJsonBody"


def test_body_without_a_path_is_a_400(http: httpx.Client) -> None:
    response = http.post("/api/query", json={"args": {}, "format": FORMAT})
    error_body(response, 400)


def _json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["messages:no_such_function", "no_such_module:list"])
def test_unknown_function_is_a_404(http: httpx.Client, path: str) -> None:
    body = error_body(call(http, "query", path, {}), 404)
    assert body["code"] == "FunctionNotFound"


def test_query_endpoint_does_not_run_a_mutation(http: httpx.Client, channel: str) -> None:
    response = call(http, "query", "messages:send", {"channel": channel, "body": "sneaky"})
    assert response.status_code != 200 or response.json()["status"] == "error", response.text
    assert count(http, channel) == 0


def test_internal_function_without_admin_key_is_a_404(http: httpx.Client) -> None:
    body = error_body(call(http, "query", "admin/users:message_total", {}), 404)
    assert body["code"] == "FunctionNotFound"
    body = error_body(
        call(http, "mutation", "admin/users:wipe_channel", {"channel": "general"}), 404
    )
    assert body["code"] == "FunctionNotFound"


def test_internal_function_with_wrong_admin_key_fails(http: httpx.Client) -> None:
    response = call(
        http,
        "query",
        "admin/users:message_total",
        {},
        headers={"Authorization": "Convex wrong-key"},
    )
    assert response.status_code in (401, 403, 404), response.text
    error_body(response, response.status_code)


def test_internal_function_with_admin_key(
    http: httpx.Client, chat_server: ChatServer, channel: str
) -> None:
    admin = {"Authorization": f"Convex {chat_server.admin_key}"}
    success(send(http, channel, "for the total"))
    value = success(call(http, "query", "admin/users:message_total", {}, headers=admin))
    assert type(value) is float and value >= 1

    wiped = success(
        call(http, "mutation", "admin/users:wipe_channel", {"channel": channel}, headers=admin)
    )
    assert wiped == 1
    assert count(http, channel) == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"channel": "c", "body": 5.0}, "body"),
        ({"channel": int64(3), "body": "x"}, "channel"),
        ({"channel": "c", "body": "x", "author": True}, "author"),
        ({"body": "x"}, "channel"),
    ],
)
def test_bad_args_are_a_400_naming_the_field(
    http: httpx.Client, args: dict[str, Any], field: str
) -> None:
    body = error_body(call(http, "mutation", "messages:send", args), 400)
    assert field in body["message"], body


def test_bad_args_from_type_hints_name_the_field(http: httpx.Client) -> None:
    body = error_body(call(http, "query", "messages:list", {"channel": "c", "limit": 2.5}), 400)
    assert "limit" in body["message"] and "expected integer" in body["message"], body
    assert success(call(http, "query", "messages:list", {"channel": "c", "limit": 2.0})) == []


def test_invalid_encoded_value_is_a_400(http: httpx.Client) -> None:
    response = call(http, "query", "messages:echo", {"value": {"$set": []}})
    error_body(response, 400)


# --- idempotency -------------------------------------------------------------------------------


def test_idempotency_key_dedupes_a_mutation(http: httpx.Client, channel: str) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    ids = [success(send(http, channel, "once", **{"Idempotency-Key": key})) for _ in range(3)]
    assert isinstance(ids[0], str)
    assert ids == [ids[0]] * 3
    assert count(http, channel) == 1

    other = success(send(http, channel, "once", **{"Idempotency-Key": f"idem-{uuid.uuid4().hex}"}))
    assert other != ids[0]
    assert count(http, channel) == 2

    without = [success(send(http, channel, "no key")) for _ in range(2)]
    assert without[0] != without[1]
    assert count(http, channel) == 4


# --- consistent queries ------------------------------------------------------------------------


def query_ts(http: httpx.Client) -> str:
    response = http.post("/api/query_ts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ts"}, body
    assert isinstance(body["ts"], str)
    return str(body["ts"])


def query_at_ts(http: httpx.Client, path: str, args: Any, ts: str) -> httpx.Response:
    return http.post(
        "/api/query_at_ts", json={"path": path, "args": args, "format": FORMAT, "ts": ts}
    )


def test_query_ts_and_query_at_ts(http: httpx.Client, channel: str) -> None:
    success(send(http, channel, "first"))
    success(send(http, channel, "second"))

    ts = query_ts(http)
    before = ts_value(ts)
    assert before > 0

    # Args in both shapes, several queries at one timestamp (what consistentQuery does).
    assert success(query_at_ts(http, "messages:count", [{"channel": channel}], ts)) == 2
    docs = success(query_at_ts(http, "messages:list", {"channel": channel}, ts))
    assert [d["body"] for d in docs] == ["first", "second"]
    assert success(query_at_ts(http, "messages:echo", {"value": int64(9)}, ts)) == int64(9)

    success(send(http, channel, "third"))
    assert ts_value(query_ts(http)) > before


def test_query_at_ts_reads_the_snapshot_at_that_timestamp(http: httpx.Client, channel: str) -> None:
    # consistentQuery: every query of one client reads at the ts it got from /api/query_ts,
    # so a commit made after that ts must not be visible to (nor break) later queries at it.
    success(send(http, channel, "before the snapshot"))
    ts = query_ts(http)

    success(send(http, channel, "after the snapshot"))

    assert success(query_at_ts(http, "messages:count", [{"channel": channel}], ts)) == 1
    docs = success(query_at_ts(http, "messages:list", {"channel": channel}, ts))
    assert [d["body"] for d in docs] == ["before the snapshot"]
    assert count(http, channel) == 2


# --- function errors and logs ------------------------------------------------------------------


def test_log_lines_of_a_mutation(http: httpx.Client, channel: str) -> None:
    response = send(http, channel, "logged")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert f"[LOG] sending to {channel}" in body["logLines"], body


def test_convex_error_response(http: httpx.Client, channel: str) -> None:
    response = send(http, channel, " ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "error", body
    assert isinstance(body["errorMessage"], str)
    assert body["errorData"] == {"code": "EmptyMessage", "channel": channel}
    assert "value" not in body
    assert count(http, channel) == 0


def test_plain_exception_is_a_generic_error(http: httpx.Client, chat_server: ChatServer) -> None:
    response = call(http, "query", "messages:boom", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "error", body
    assert isinstance(body["errorMessage"], str)
    assert body["errorMessage"] != ""
    assert "errorData" not in body
    assert BUG_TEXT not in response.text
    assert "Traceback" not in response.text
    # The details go to the server's own log instead.
    assert chat_server.wait_for_log(BUG_TEXT), chat_server.log_text()[-4000:]
