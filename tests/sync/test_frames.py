"""``livebase.sync.frames``: every client frame is checked for presence, type and range before the
session acts on it, and each rejection names the field and the problem."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from livebase.errors import InvalidValueError
from livebase.sync.frames import (
    U32_MAX,
    AddQuery,
    Authenticate,
    Connect,
    Event,
    FrameError,
    ModifyQuerySet,
    RemoveQuery,
    Request,
    close_reason,
    decode_args,
    parse_frame,
)

SESSION = str(uuid.uuid4())


def parse(frame: dict[str, Any]) -> Any:
    return parse_frame(json.dumps(frame))


def rejection(frame: dict[str, Any] | str) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_frame(frame if isinstance(frame, str) else json.dumps(frame))
    return info.value


# -- what the official clients send (reference §2.1) ---------------------------------------------


def test_connect_from_js_and_from_rust() -> None:
    js = {
        "connectionCount": 1,
        "lastCloseReason": "InternalServerError",
        "clientTs": 1764000000123,
        "type": "Connect",
        "sessionId": SESSION,
        "maxObservedTimestamp": "s6HJ80vv7Rg=",
    }
    frame = parse(js)
    assert isinstance(frame, Connect)
    assert frame.session_id == SESSION and frame.connection_count == 1
    assert frame.max_observed_ts is not None and frame.max_observed_ts > 0
    rust = {"type": "Connect", "sessionId": SESSION, "connectionCount": 0, "clientTs": 0}
    assert parse({**rust, "lastCloseReason": "InitialConnect"}) == Connect(
        SESSION, 0, "InitialConnect", None
    )
    assert parse({**rust, "lastCloseReason": None}).last_close_reason is None


def test_modify_query_set_with_adds_and_removes() -> None:
    frame = parse(
        {
            "type": "ModifyQuerySet",
            "baseVersion": 0,
            "newVersion": 1,
            "modifications": [
                {"type": "Add", "queryId": 7, "udfPath": "messages:list", "args": [{"a": 1}]},
                {
                    "type": "Add",
                    "queryId": 8,
                    "udfPath": "messages.js:page",
                    "args": [{}],
                    "journal": None,
                    "componentPath": None,
                },
                {"type": "Add", "queryId": 9, "udfPath": "m:p", "args": [{}], "journal": "j"},
                {"type": "Remove", "queryId": 3},
            ],
        }
    )
    assert frame == ModifyQuerySet(
        0,
        1,
        (
            AddQuery(7, "messages:list", {"a": 1}, None),
            AddQuery(8, "messages.js:page", {}, None),
            AddQuery(9, "m:p", {}, "j"),
            RemoveQuery(3),
        ),
    )
    # The Rust client sends an empty ModifyQuerySet on reconnect.
    empty = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []}
    assert parse(empty) == ModifyQuerySet(0, 1, ())


def test_mutation_action_authenticate_and_event() -> None:
    mutation = {"type": "Mutation", "requestId": 0, "udfPath": "m:s", "args": [{"x": 1}]}
    assert parse(mutation) == Request("Mutation", 0, "m:s", {"x": 1})
    action = {**mutation, "type": "Action", "requestId": U32_MAX, "componentPath": None}
    assert parse(action) == Request("Action", U32_MAX, "m:s", {"x": 1})
    user = {"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": "a.b.c"}
    assert parse(user) == Authenticate(0, "User", "a.b.c")
    admin = {**user, "tokenType": "Admin", "impersonating": {"subject": "u"}}
    assert parse(admin) == Authenticate(0, "Admin", "a.b.c", {"subject": "u"})
    logout = {"type": "Authenticate", "baseVersion": 1, "tokenType": "None"}
    assert parse(logout) == Authenticate(1, "None", None)
    event = {"type": "Event", "eventType": "ClientConnect", "event": {"anything": [1]}}
    assert parse(event) == Event("ClientConnect")


def test_unknown_fields_are_ignored() -> None:
    frame = {"type": "Mutation", "requestId": 1, "udfPath": "m:s", "args": [{}], "newField": 1}
    assert parse(frame) == Request("Mutation", 1, "m:s", {})


# -- rejections -----------------------------------------------------------------------------------

MUTATION = {"type": "Mutation", "requestId": 0, "udfPath": "m:s", "args": [{}]}
QUERY_SET = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.7, "Mutation.requestId must be an integer in 0..4294967295, got 1.7"),
        (1e300, "Mutation.requestId must be an integer in 0..4294967295, got 1e+300"),
        (2.0, "Mutation.requestId must be an integer in 0..4294967295, got 2.0"),
        (True, "Mutation.requestId must be an integer in 0..4294967295, got true"),
        (None, "Mutation.requestId must be an integer in 0..4294967295, got null"),
        ("1", "Mutation.requestId must be an integer in 0..4294967295, got '1'"),
        (-1, "Mutation.requestId must be an integer in 0..4294967295, got -1"),
        (2**32, "Mutation.requestId must be an integer in 0..4294967295, got 4294967296"),
        ([1], "Mutation.requestId must be an integer in 0..4294967295, got an array"),
    ],
)
def test_request_ids_are_u32_integers(value: Any, message: str) -> None:
    error = rejection({**MUTATION, "requestId": value})
    assert error.reason == message
    assert error.field == "Mutation.requestId"
    assert error.code == 1002 and error.fatal


def test_a_missing_field_is_named_as_missing() -> None:
    frame = dict(MUTATION)
    del frame["requestId"]
    assert rejection(frame).reason == (
        "Mutation.requestId is missing (expected an integer in 0..4294967295)"
    )
    del frame["udfPath"]
    frame["requestId"] = 0
    assert rejection(frame).reason == "Mutation.udfPath is missing (expected a string)"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "must be an array holding one object, got an object"),
        ([], "must be an array holding one object, got 0 elements"),
        ([{}, {}], "must be an array holding one object, got 2 elements"),
        ([5], "must be an array holding one object, got an array holding 5"),
        ([None], "must be an array holding one object, got an array holding null"),
    ],
)
def test_args_are_an_array_of_one_object(args: Any, problem: str) -> None:
    assert rejection({**MUTATION, "type": "Action", "args": args}).reason == (
        f"Action.args {problem}"
    )


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({**MUTATION, "udfPath": ""}, "Mutation.udfPath"),
        ({**MUTATION, "udfPath": "x" * 1025}, "Mutation.udfPath"),
        ({**MUTATION, "componentPath": 3}, "Mutation.componentPath"),
        ({**QUERY_SET, "newVersion": True}, "ModifyQuerySet.newVersion"),
        ({**QUERY_SET, "baseVersion": "0"}, "ModifyQuerySet.baseVersion"),
        ({**QUERY_SET, "modifications": {}}, "ModifyQuerySet.modifications"),
        ({**QUERY_SET, "modifications": [1]}, "ModifyQuerySet.modifications[0]"),
        ({**QUERY_SET, "modifications": [{"type": "Add"}]}, "ModifyQuerySet.modifications[0]"),
        (
            {**QUERY_SET, "modifications": [{"type": "Remove", "queryId": 0}, {"type": "X"}]},
            "ModifyQuerySet.modifications[1].type",
        ),
        (
            {
                **QUERY_SET,
                "modifications": [
                    {"type": "Add", "queryId": 0, "udfPath": "a:b", "args": [{}], "journal": 5}
                ],
            },
            "ModifyQuerySet.modifications[0].journal",
        ),
        ({"type": "Authenticate", "baseVersion": 0, "tokenType": "Jwt"}, "Authenticate.tokenType"),
        ({"type": "Authenticate", "baseVersion": 0, "tokenType": "User"}, "Authenticate.value"),
        ({"type": "Authenticate", "tokenType": "None"}, "Authenticate.baseVersion"),
        (
            {
                "type": "Authenticate",
                "baseVersion": 0,
                "tokenType": "Admin",
                "value": "k",
                "impersonating": "u",
            },
            "Authenticate.impersonating",
        ),
        ({"type": "Event"}, "Event.eventType"),
        ({"type": "Connect", "connectionCount": 0}, "Connect.sessionId"),
        ({"type": "Connect", "sessionId": "abc", "connectionCount": 0}, "Connect.sessionId"),
        ({"type": "Connect", "sessionId": SESSION}, "Connect.connectionCount"),
        (
            {"type": "Connect", "sessionId": SESSION, "connectionCount": 0, "clientTs": "now"},
            "Connect.clientTs",
        ),
        (
            {
                "type": "Connect",
                "sessionId": SESSION,
                "connectionCount": 0,
                "maxObservedTimestamp": "//////////8=",
            },
            "Connect.maxObservedTimestamp",
        ),
        ({"type": "Nope"}, "frame.type"),
        ({"type": 1}, "frame.type"),
        ({}, "frame.type"),
    ],
)
def test_each_rejection_names_the_field(frame: dict[str, Any], field: str) -> None:
    error = rejection(frame)
    assert error.field.startswith(field), error.reason
    assert error.reason.startswith(field), error.reason


@pytest.mark.parametrize(
    ("text", "code", "start"),
    [
        ("{", 1007, "frame is not valid JSON"),
        ("", 1007, "frame is not valid JSON"),
        ('{"a": NaN}', 1007, "frame is not valid JSON"),
        ('"\\ud800"', 1007, "frame is not valid JSON"),
        ("[" * 1100 + "]" * 1100, 1007, "frame is not valid JSON"),
        ("[1]", 1002, "frame must be a JSON object, got an array"),
        ("null", 1002, "frame must be a JSON object, got null"),
    ],
)
def test_text_that_is_not_a_json_object(text: str, code: int, start: str) -> None:
    error = rejection(text)
    assert error.code == code
    assert error.reason.startswith(start)


def test_long_client_strings_are_not_echoed_whole() -> None:
    error = rejection({"type": "x" * 10_000})
    assert len(error.reason) < 100
    assert "(10000 chars)" in error.reason


# -- arguments ------------------------------------------------------------------------------------


def nested(depth: int, leaf: Any = 1.0) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_counts_the_arguments_object_and_not_special_values() -> None:
    assert decode_args({"a": nested(15)}, 16) == {"a": nested(15)}
    decode_args({"a": nested(15, {"$integer": "AQAAAAAAAAA="})}, 16)
    decode_args({"a": nested(14, {"b": {"$bytes": ""}})}, 16)
    with pytest.raises(InvalidValueError, match=r"arguments: a\[0\].* nested deeper than 16"):
        decode_args({"a": nested(16)}, 16)
    with pytest.raises(InvalidValueError, match=r"arguments: b.* nested deeper than 2 levels"):
        decode_args({"a": [], "b": [[]]}, 2)


def test_decode_args() -> None:
    assert decode_args({"n": {"$integer": "BQAAAAAAAAA="}, "f": 3}) == {"n": 5, "f": 3.0}
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        decode_args({"v": nested(200_000)})
    with pytest.raises(InvalidValueError):
        decode_args({"$bad": 1, "x": 2})
    with pytest.raises(InvalidValueError):
        decode_args({"v": {"$integer": "short"}})
    with pytest.raises(InvalidValueError, match="arguments must be an object, got int64"):
        decode_args({"$integer": "BQAAAAAAAAA="})


# -- close reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["short", "a" * 123, "a" * 124, "ü" * 100, "😀" * 50, "a😀" * 40])
def test_close_reasons_fit_in_123_bytes(text: str) -> None:
    reason = close_reason(text)
    assert len(reason.encode("utf-8")) <= 123
    if len(text.encode("utf-8")) <= 123:
        assert reason == text
    else:
        assert reason.endswith("...")
        assert text.startswith(reason.removesuffix("..."))
