"""The official Convex JS HTTP client (npm ``convex`` 1.48.0) against ``livebase serve``.

``tests/clients/js/http_scenario.mjs`` runs every step and prints what it saw as one JSON object;
each test below checks one part of it, so a failure names the step that broke.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(120)]

BUG_TEXT = "this is a bug in the app"


@pytest.fixture(scope="module")
def scenario(chat_server: ChatServer, js_client_dir: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    channel = f"js-{uuid.uuid4().hex[:12]}"
    result = subprocess.run(
        [node, "http_scenario.mjs", chat_server.url, chat_server.admin_key, channel],
        cwd=js_client_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        results: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"http_scenario.mjs printed no JSON (exit {result.returncode}).\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    results["_returncode"] = result.returncode
    results["_stderr"] = result.stderr
    assert results["channel"] == channel
    return results


def test_scenario_exits_cleanly(scenario: dict[str, Any]) -> None:
    assert scenario["failures"] == [], scenario["_stderr"]
    assert scenario["_returncode"] == 0, scenario["_stderr"]


def test_mutation_returns_a_document_id(scenario: dict[str, Any]) -> None:
    assert scenario["mutation"]["type"] == "string"
    assert isinstance(scenario["mutation"]["value"], str)
    assert scenario["mutation"]["value"] != ""


def test_query_lists_the_sent_message(scenario: dict[str, Any]) -> None:
    docs = scenario["query"]["value"]
    assert len(docs) == 1
    doc = docs[0]
    assert doc["_id"] == scenario["mutation"]["value"]
    assert doc["channel"] == scenario["channel"]
    assert doc["body"] == "hello from js"
    assert doc["author"] == "node"
    types = scenario["query"]["types"][0]
    assert types["_id"] == "string"
    assert types["_creationTime"] == "number"
    assert doc["_creationTime"] > 1.6e12  # milliseconds since the epoch, as in Convex


def test_query_with_a_number_limit(scenario: dict[str, Any]) -> None:
    # `limit: int | None`: the hint `int` is a whole float64, which a JS number is.
    assert scenario["queryWithLimit"] == {"length": 1}


def test_fractional_limit_is_refused_naming_the_argument(scenario: dict[str, Any]) -> None:
    got = scenario["queryWithFractionalLimit"]
    assert got["isError"] is True and got["isConvexError"] is False, got
    assert "ArgumentValidationError" in got["message"], got
    assert "limit: expected integer" in got["message"], got


def test_count_is_a_number(scenario: dict[str, Any]) -> None:
    # len(rows) is a float64: a JS number, which JSON.stringify and `+ 1` take (a bigint would
    # have been printed as the string "1", and both of those would have thrown).
    assert scenario["count"] == {"value": 1, "type": "number", "json": '{"n":1}', "plusOne": 2}


def test_bigint_round_trip(scenario: dict[str, Any]) -> None:
    assert scenario["echoBigint"] == {
        "value": "1234567890123456789",
        "type": "bigint",
        "equal": True,
    }


def test_int64_extremes_round_trip(scenario: dict[str, Any]) -> None:
    got = scenario["echoInt64Extremes"]
    assert got["value"] == [str(-(2**63)), str(2**63 - 1), "0", "-1"]
    assert got["types"] == ["bigint"] * 4
    assert got["equal"] is True


def test_array_buffer_round_trip(scenario: dict[str, Any]) -> None:
    got = scenario["echoBytes"]
    assert got["type"] == "ArrayBuffer"
    assert got["sent"] == base64.b64encode(bytes([0, 1, 2, 127, 128, 254, 255])).decode()
    assert got["value"] == got["sent"]


def test_nested_value_round_trip(scenario: dict[str, Any]) -> None:
    got = scenario["echoNested"]
    assert got["value"] == {
        "big": "42",
        "float": 1.5,
        "whole": 3,
        "text": "héllo ✓",
        "flag": True,
        "nothing": None,
        "list": ["1", "x", base64.b64encode(bytes([9, 8, 7])).decode(), [2.25]],
        "inner": {"deeper": {"n": "-7"}},
    }
    assert got["types"] == {
        "big": "bigint",
        "float": "number",
        "whole": "number",  # a JS number is a float64 and must come back as one, not a bigint
        "text": "string",
        "flag": "boolean",
        "nothing": "null",
        "list": ["bigint", "string", "ArrayBuffer", ["number"]],
        "inner": {"deeper": {"n": "bigint"}},
    }


def test_special_floats_round_trip(scenario: dict[str, Any]) -> None:
    got = scenario["echoSpecialFloats"]
    assert got["value"] == ["NaN", "Infinity", "-Infinity", "-0"]
    assert got["types"] == ["number"] * 4


def test_action(scenario: dict[str, Any]) -> None:
    got = scenario["action"]
    assert got["types"] == {"id": "string", "count": "number"}
    assert got["value"]["count"] == 2
    assert got["value"]["id"] != scenario["mutation"]["value"]


def test_consistent_query(scenario: dict[str, Any]) -> None:
    got = scenario["consistentQuery"]
    assert got["countType"] == "number"
    assert got["count"] == 2
    assert got["listLength"] == 2
    assert sorted(got["bodies"]) == ["LOUD NOISES", "hello from js"]


def test_convex_error_carries_data(scenario: dict[str, Any]) -> None:
    got = scenario["convexError"]
    assert got["isConvexError"] is True, got
    assert got["name"] == "ConvexError"
    assert got["hasData"] is True
    assert got["data"] == {"code": "EmptyMessage", "channel": scenario["channel"]}
    assert got["dataTypes"] == {"code": "string", "channel": "string"}


def test_plain_error_is_not_a_convex_error(scenario: dict[str, Any]) -> None:
    got = scenario["plainError"]
    assert got["isError"] is True
    assert got["isConvexError"] is False, got
    assert got["hasData"] is False
    assert got["message"] != ""
    assert "fetch failed" not in got["message"]
    assert BUG_TEXT not in got["message"]


def test_unknown_function_is_an_error(scenario: dict[str, Any]) -> None:
    got = scenario["unknownFunction"]
    assert got["isError"] is True
    assert got["isConvexError"] is False
    # A 404 makes the JS client throw Error(<response body>).
    assert "FunctionNotFound" in got["message"], got


def test_internal_function_needs_admin_auth(scenario: dict[str, Any]) -> None:
    denied = scenario["internalWithoutAdmin"]
    assert denied["isError"] is True
    assert denied["isConvexError"] is False
    assert "FunctionNotFound" in denied["message"], denied
    allowed = scenario["internalWithAdmin"]
    assert allowed["type"] == "number"  # len(rows)
    assert allowed["value"] >= 2  # at least the two messages of this scenario


def test_log_lines_reach_the_client_logger(scenario: dict[str, Any]) -> None:
    channel = scenario["channel"]
    lines = [entry["args"] for entry in scenario["logged"]]
    assert [
        "%c[CONVEX M(messages:send)] [LOG]",
        "color:rgb(0, 145, 255)",
        f"sending to {channel}",
    ] in lines, lines
    unparsable = [args for args in lines if "Could not parse console.log" in " ".join(args)]
    assert unparsable == []
