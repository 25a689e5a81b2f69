"""The official Python HTTP client (PyPI ``convex`` 0.8.1, ``convex.http_client``) against livebase.

Facts about that client the assertions rely on (read from its source):

* Python ``int`` arguments are sent as float64 (``7`` -> ``7.0``); ``ConvexInt64`` as ``$integer``.
* ``$integer`` results come back as ``ConvexInt64``, ``$bytes`` as ``bytes``, every other number
  as a ``float``.
* It rejects JSON integers in a result, so every float64 must have a decimal point or exponent.
* A function error with ``errorData`` raises ``convex.ConvexError("Convex error", data)`` (``data``
  is the raw JSON), one without raises ``convex.http_client.ConvexExecutionError(errorMessage)``.
* A non-2xx response raises a plain ``Exception(f"{status} {code}: {message}")``.

Livebase's number contract (docs/functions.md, "Numbers"): a function's Python ``int``
(``len(rows)``) is a float64, so this client gets a ``float``; only ``Int64`` values (and whole
numbers where a validator says ``v.int64()``) are ``ConvexInt64``.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

import pytest
from convex import ConvexError, ConvexInt64
from convex.http_client import ConvexExecutionError, ConvexHttpClient

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

BUG_TEXT = "this is a bug in the app"


@pytest.fixture
def client(chat_server: ChatServer) -> ConvexHttpClient:
    return ConvexHttpClient(chat_server.url)


@pytest.fixture
def channel() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


def test_mutation_then_query(client: ConvexHttpClient, channel: str) -> None:
    message_id = client.mutation(
        "messages:send", {"channel": channel, "body": "hi from python", "author": "py"}
    )
    assert isinstance(message_id, str)
    assert message_id != ""

    docs = client.query("messages:list", {"channel": channel})
    assert isinstance(docs, list)
    assert len(docs) == 1
    doc = docs[0]
    assert doc["_id"] == message_id
    assert doc["channel"] == channel
    assert doc["body"] == "hi from python"
    assert doc["author"] == "py"
    assert isinstance(doc["_creationTime"], float)

    assert client.query("messages:get", {"id": message_id}) == doc


def _is_float(value: object, expected: float) -> bool:
    """A float64 result as this client gives it: a ``float`` (never a ``ConvexInt64``)."""
    return type(value) is float and value == expected


def test_count_is_a_float64(client: ConvexHttpClient, channel: str) -> None:
    # messages:count returns len(rows): a Python int in the function, a float64 on the wire.
    assert _is_float(client.query("messages:count", {"channel": channel}), 0.0)
    client.mutation("messages:send", {"channel": channel, "body": "one"})
    client.mutation("messages:send", {"channel": channel, "body": "two"})
    count = client.query("messages:count", {"channel": channel})
    assert not isinstance(count, ConvexInt64)
    assert _is_float(count, 2.0)


def test_int_argument_takes_a_python_int(client: ConvexHttpClient, channel: str) -> None:
    # `limit: int | None` is a whole float64: the client sends 2 as 2.0, and the function gets 2.
    for body in ("a", "b", "c"):
        client.mutation("messages:send", {"channel": channel, "body": body})
    docs = client.query("messages:list", {"channel": channel, "limit": 2})
    assert [d["body"] for d in docs] == ["a", "b"]


def test_int_argument_refuses_a_fraction_naming_the_field(
    client: ConvexHttpClient, channel: str
) -> None:
    with pytest.raises(Exception) as info:
        client.query("messages:list", {"channel": channel, "limit": 2.5})
    assert type(info.value) is Exception
    assert str(info.value).startswith("400 ArgumentValidationError: "), str(info.value)
    assert "limit: expected integer" in str(info.value)


@pytest.mark.parametrize("n", [0, 1, -1, 2**53 + 1, 2**62 + 3, -(2**63), 2**63 - 1])
def test_int64_round_trip(client: ConvexHttpClient, n: int) -> None:
    back = client.query("messages:echo", {"value": ConvexInt64(n)})
    assert isinstance(back, ConvexInt64)
    assert back.value == n


def test_python_int_arrives_as_float(client: ConvexHttpClient) -> None:
    back = client.query("messages:echo", {"value": 7})
    assert isinstance(back, float)
    assert back == 7.0


@pytest.mark.parametrize("x", [1.0, 0.0, 2.5, -3.0, 1e20, 1e-7, 2.0**53])
def test_float_round_trip(client: ConvexHttpClient, x: float) -> None:
    # The client raises ValueError("Bad JSON value") if the server writes e.g. `1` for 1.0.
    back = client.query("messages:echo", {"value": x})
    assert isinstance(back, float)
    assert back == x


def test_special_floats_round_trip(client: ConvexHttpClient) -> None:
    back = client.query("messages:echo", {"value": [math.nan, math.inf, -math.inf, -0.0]})
    assert isinstance(back, list)
    assert math.isnan(back[0])
    assert back[1] == math.inf
    assert back[2] == -math.inf
    assert back[3] == 0.0
    assert math.copysign(1.0, back[3]) == -1.0


def test_bytes_round_trip(client: ConvexHttpClient) -> None:
    data = bytes(range(256))
    back = client.query("messages:echo", {"value": data})
    assert isinstance(back, bytes)
    assert back == data
    assert client.query("messages:echo", {"value": b""}) == b""


def test_nested_round_trip(client: ConvexHttpClient) -> None:
    value = {
        "ints": [ConvexInt64(1), ConvexInt64(-(2**40))],
        "blob": b"\x00\x01\xfe\xff",
        "f": 1.5,
        "s": "héllo ✓",
        "none": None,
        "yes": True,
        "inner": {"deeper": {"list": [[], {}, "x"]}},
    }
    assert client.query("messages:echo", {"value": value}) == value


def test_action(client: ConvexHttpClient, channel: str) -> None:
    client.mutation("messages:send", {"channel": channel, "body": "before"})
    out = client.action("actions:shout", {"channel": channel, "body": "quiet words"})
    assert isinstance(out, dict)
    assert set(out) == {"id", "count"}
    assert isinstance(out["id"], str)
    assert _is_float(out["count"], 2.0)
    docs = client.query("messages:list", {"channel": channel})
    assert [d["body"] for d in docs] == ["before", "QUIET WORDS"]
    assert docs[1]["_id"] == out["id"]


def test_action_with_float_result(client: ConvexHttpClient) -> None:
    assert client.action("actions:slow_sum", {"a": 1, "b": 2.5}) == 3.5
    whole = client.action("actions:slow_sum", {"a": 1, "b": 2})
    assert isinstance(whole, float)
    assert whole == 3.0


def test_convex_error_with_data(client: ConvexHttpClient, channel: str) -> None:
    with pytest.raises(ConvexError) as info:
        client.mutation("messages:send", {"channel": channel, "body": " "})
    assert info.value.data == {"code": "EmptyMessage", "channel": channel}
    # Nothing was written.
    assert _is_float(client.query("messages:count", {"channel": channel}), 0.0)


def test_plain_exception_is_an_execution_error_without_details(
    client: ConvexHttpClient,
) -> None:
    with pytest.raises(ConvexExecutionError) as info:
        client.query("messages:boom")
    assert not isinstance(info.value, ConvexError)
    message = str(info.value)
    assert message != ""
    assert BUG_TEXT not in message


def test_unknown_function_is_a_404(client: ConvexHttpClient) -> None:
    with pytest.raises(Exception) as info:
        client.query("messages:no_such_function")
    assert type(info.value) is Exception
    assert str(info.value).startswith("404 FunctionNotFound: "), str(info.value)


def test_internal_function_without_admin_auth_is_not_found(client: ConvexHttpClient) -> None:
    with pytest.raises(Exception) as info:
        client.query("admin/users:message_total")
    assert type(info.value) is Exception
    assert str(info.value).startswith("404 FunctionNotFound: "), str(info.value)


def test_internal_function_with_admin_auth(chat_server: ChatServer, channel: str) -> None:
    public = ConvexHttpClient(chat_server.url)
    public.mutation("messages:send", {"channel": channel, "body": "counted"})

    admin = ConvexHttpClient(chat_server.url)
    admin.set_admin_auth(chat_server.admin_key)
    total = admin.query("admin/users:message_total")
    assert type(total) is float
    assert total >= 1

    public.mutation("messages:send", {"channel": channel, "body": "counted too"})
    assert _is_float(admin.query("admin/users:message_total"), total + 1)

    # The admin key also works for internal mutations, and for public functions.
    wiped = admin.mutation("admin/users:wipe_channel", {"channel": channel})
    assert _is_float(wiped, 2.0)
    assert _is_float(admin.query("messages:count", {"channel": channel}), 0.0)

    admin.clear_auth()
    with pytest.raises(Exception) as info:
        admin.query("admin/users:message_total")
    assert str(info.value).startswith("404 "), str(info.value)


def test_wrong_admin_key_cannot_call_internal_functions(chat_server: ChatServer) -> None:
    client = ConvexHttpClient(chat_server.url)
    client.set_admin_auth("not-the-admin-key")
    with pytest.raises(Exception) as info:
        client.query("admin/users:message_total")
    assert type(info.value) is Exception
    assert str(info.value)[:4] in {"401 ", "403 ", "404 "}, str(info.value)


def test_counter_increment_returns_int64(client: ConvexHttpClient) -> None:
    # counters:get and counters:increment declare returns=v.int64(): int64 even for 0 and for
    # the plain int the mutation computes.
    name = f"counter-{uuid.uuid4().hex[:12]}"
    assert client.query("counters:get", {"name": name}) == ConvexInt64(0)
    first = client.mutation("counters:increment", {"name": name})
    assert isinstance(first, ConvexInt64)
    assert first.value == 1
    assert client.mutation("counters:increment", {"name": name}) == ConvexInt64(2)
    assert client.mutation("counters:increment", {"name": name}) == ConvexInt64(3)
    got = client.query("counters:get", {"name": name})
    assert isinstance(got, ConvexInt64)
    assert got.value == 3
