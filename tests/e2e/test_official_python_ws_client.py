"""The official Python WebSocket client (PyPI ``convex`` 0.8.1 ``ConvexClient``) against livebase.

That client is a blocking wrapper around compiled Rust code that holds the GIL while it waits, so
a misbehaving server would hang the test process. Each scenario therefore runs in a subprocess
(``tests/clients/py/ws_scenario.py``) with a timeout; it prints one ``@@ {json}`` line per step.

Facts about the client the assertions rely on (reference §8): Python ``int`` arguments are sent as
float64 (``3`` arrives as ``3.0``), ``ConvexInt64`` as ``$integer``; every float64 in a result is a
Python ``float`` and every int64 a ``ConvexInt64``; a ConvexError raises
``convex.ConvexError(message, data)``, any other function error a plain ``Exception``. Livebase's
number contract (docs/functions.md, "Numbers"): a function's Python ``int`` (``len(rows)``) is a
float64, so this client gets a ``float``; only ``Int64`` values are ``ConvexInt64``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import ChatServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SCRIPT = Path(__file__).resolve().parents[1] / "clients" / "py" / "ws_scenario.py"
# Generous: it only tells a hung client from a working one, on a machine that may be busy.
SCENARIO_TIMEOUT = 60.0
BUG_TEXT = "this is a bug in the app"


def _run(server: ChatServer, scenario: str, channel: str) -> dict[str, dict[str, Any]]:
    """Run one scenario; returns its steps by name. Fails (not hangs) if the client blocks."""
    command = [sys.executable, str(SCRIPT), scenario, server.url, channel, server.admin_key]
    env = {**os.environ, "RUST_LOG": "warn"}
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT,
            check=False,
            env=env,
        )
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        steps = [
            json.loads(line[3:])["step"] for line in out.splitlines() if line.startswith("@@ ")
        ]
        pytest.fail(
            f"the official Python client hung for {SCENARIO_TIMEOUT:.0f} s in scenario "
            f"{scenario!r} after steps {steps}.\nstdout:\n{out}\nstderr:\n{err[-4000:]}\n"
            f"server log tail:\n{server.log_text()[-3000:]}"
        )
    steps: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("@@ "):
            record = json.loads(line[3:])
            steps[record["step"]] = record
    assert "done" in steps and code == 0, (
        f"scenario {scenario!r} exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    )
    return steps


def _ok(steps: dict[str, dict[str, Any]], name: str) -> Any:
    step = steps[name]
    assert "error" not in step, f"step {name!r} failed: {step}"
    return step["value"]


def _b64(data: bytes) -> dict[str, str]:
    return {"bytes": base64.b64encode(data).decode()}


@pytest.fixture
def channel() -> str:
    return f"pyws-{uuid.uuid4().hex[:10]}"


def test_subscribe_then_another_client_mutates(chat_server: ChatServer, channel: str) -> None:
    steps = _run(chat_server, "subscribe", channel)
    assert _ok(steps, "initial") == []
    message_id = _ok(steps, "mutation")
    assert isinstance(message_id, str)
    assert message_id != ""
    update = _ok(steps, "update")
    assert [(d["_id"], d["body"], d["channel"]) for d in update] == [(message_id, "py B", channel)]
    assert isinstance(update[0]["_creationTime"], float)
    second = _ok(steps, "second_update")
    assert [d["body"] for d in second] == ["py B", "py B2"]
    assert second[1]["_id"] == _ok(steps, "second_mutation")


def test_query_mutation_action_and_values(chat_server: ChatServer, channel: str) -> None:
    steps = _run(chat_server, "calls", channel)

    message_id = _ok(steps, "mutation")
    docs = _ok(steps, "query")
    assert len(docs) == 1
    assert docs[0]["_id"] == message_id
    assert docs[0]["body"] == "hello"
    assert docs[0]["author"] == "py"
    # messages:count returns len(rows): a float64 (printable() keeps a float a float, and shows
    # a ConvexInt64 as {"int64": ...}).
    count = _ok(steps, "count")
    assert isinstance(count, float) and count == 1.0

    shouted = _ok(steps, "action")
    assert isinstance(shouted["id"], str)
    assert isinstance(shouted["count"], float) and shouted["count"] == 2.0
    assert _ok(steps, "action_sum") == 3.5

    assert _ok(steps, "echo_int64") == {"int64": str(2**62 + 5)}
    assert _ok(steps, "echo_int64_extremes") == [
        {"int64": str(-(2**63))},
        {"int64": str(2**63 - 1)},
        {"int64": "0"},
    ]
    assert _ok(steps, "echo_bytes") == _b64(bytes([0, 1, 2, 127, 128, 255]))
    assert _ok(steps, "echo_nested") == {
        "i": {"int64": "-7"},
        "b": _b64(b"\x09\x08"),
        "f": 1.5,
        "n": 3.0,  # a Python int argument travels as float64
        "s": "héllo",
    }

    plain = steps["plain_error"]
    assert "error" in plain, plain
    assert plain["isConvexError"] is False
    assert plain["message"] != ""
    assert BUG_TEXT not in plain["message"]  # redacted, as over HTTP

    after = _ok(steps, "count_after_errors")
    assert isinstance(after, float) and after == 2.0


def test_convex_error_from_a_mutation(chat_server: ChatServer, channel: str) -> None:
    steps = _run(chat_server, "convex_error", channel)
    error = steps["convex_error"]
    assert error.get("isConvexError") is True, error
    assert error["data"] == {"code": "EmptyMessage", "channel": channel}
    assert isinstance(_ok(steps, "after_error"), str)


def test_admin_auth_reaches_internal_functions(chat_server: ChatServer, channel: str) -> None:
    steps = _run(chat_server, "admin", channel)
    denied = steps["internal_without_auth"]
    assert "error" in denied, f"an internal query must not run without admin auth: {denied}"
    assert denied["isConvexError"] is False
    total = _ok(steps, "internal_with_admin")
    assert isinstance(total, float) and total >= 1.0  # len(rows): a float64
    public = _ok(steps, "public_with_admin")
    assert isinstance(public, float) and public == 1.0
