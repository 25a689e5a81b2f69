"""Drives a livebase server with the official Python WebSocket client (PyPI ``convex`` 0.8.1).

Usage: python ws_scenario.py <scenario> <server url> <channel> [admin key]

The client blocks inside compiled code while holding the GIL, so a server that never answers
hangs this process: the test runs it as a subprocess with a timeout. Each step prints one line
``@@ {"step": name, ...}`` as soon as it finishes (the client's own log output also goes to
stdout, hence the marker), so a hang shows which step it was stuck in.

Scenarios:
  subscribe  client A subscribes to messages:list; client B sends a message; A's iterator yields
             the new list.
  calls      query, mutation, action; int64 and bytes round trips through messages:echo; a
             plain function error.
  convex_error  a mutation raising a ConvexError, then another mutation.
  admin      an internal query fails without auth and works after set_admin_auth.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from convex import ConvexClient, ConvexError, ConvexInt64


def printable(value: Any) -> Any:
    """A JSON view of a client value that keeps its Python type visible."""
    if isinstance(value, ConvexInt64):
        return {"int64": str(value.value)}
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return {"pyint": str(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    return {"unknown": repr(value), "type": type(value).__name__}


def describe_error(exc: BaseException) -> dict[str, Any]:
    return {
        "error": type(exc).__name__,
        "isConvexError": isinstance(exc, ConvexError),
        "message": str(exc),
        "data": printable(getattr(exc, "data", None)),
    }


def emit(step: str, **fields: Any) -> None:
    sys.stdout.write("@@ " + json.dumps({"step": step, **fields}) + "\n")
    sys.stdout.flush()


def run_step(step: str, fn: Any) -> Any:
    try:
        value = fn()
    except Exception as exc:
        emit(step, **describe_error(exc))
        return None
    emit(step, value=printable(value))
    return value


def subscribe(url: str, channel: str) -> None:
    a = ConvexClient(url)
    b = ConvexClient(url)
    sub = a.subscribe("messages:list", {"channel": channel})
    run_step("initial", lambda: next(sub))
    run_step("mutation", lambda: b.mutation("messages:send", {"channel": channel, "body": "py B"}))
    # The next value A's iterator yields must already contain B's message.
    run_step("update", lambda: next(sub))
    run_step(
        "second_mutation",
        lambda: b.mutation("messages:send", {"channel": channel, "body": "py B2"}),
    )
    run_step("second_update", lambda: next(sub))
    sub.unsubscribe()


def calls(url: str, channel: str) -> None:
    c = ConvexClient(url)
    run_step(
        "mutation",
        lambda: c.mutation("messages:send", {"channel": channel, "body": "hello", "author": "py"}),
    )
    run_step("query", lambda: c.query("messages:list", {"channel": channel}))
    run_step("count", lambda: c.query("messages:count", {"channel": channel}))
    run_step("action", lambda: c.action("actions:shout", {"channel": channel, "body": "hey"}))
    run_step("action_sum", lambda: c.action("actions:slow_sum", {"a": 1.5, "b": 2}))
    run_step("echo_int64", lambda: c.query("messages:echo", {"value": ConvexInt64(2**62 + 5)}))
    run_step(
        "echo_int64_extremes",
        lambda: c.query(
            "messages:echo",
            {"value": [ConvexInt64(-(2**63)), ConvexInt64(2**63 - 1), ConvexInt64(0)]},
        ),
    )
    run_step(
        "echo_bytes", lambda: c.query("messages:echo", {"value": bytes([0, 1, 2, 127, 128, 255])})
    )
    run_step(
        "echo_nested",
        lambda: c.query(
            "messages:echo",
            {"value": {"i": ConvexInt64(-7), "b": b"\x09\x08", "f": 1.5, "n": 3, "s": "héllo"}},
        ),
    )
    run_step("plain_error", lambda: c.query("messages:boom", {}))
    # The client still works after errors.
    run_step("count_after_errors", lambda: c.query("messages:count", {"channel": channel}))


def convex_error(url: str, channel: str) -> None:
    c = ConvexClient(url)
    # A mutation that raises a ConvexError (AppError with data): the Rust client completes such
    # a mutation only on the Transition after its MutationResponse.
    run_step("convex_error", lambda: c.mutation("messages:send", {"channel": channel, "body": " "}))
    run_step("after_error", lambda: c.mutation("messages:send", {"channel": channel, "body": "ok"}))


def admin(url: str, channel: str, admin_key: str) -> None:
    c = ConvexClient(url)
    c.mutation("messages:send", {"channel": channel, "body": "counted"})
    run_step("internal_without_auth", lambda: c.query("admin/users:message_total", {}))
    c.set_admin_auth(admin_key)
    run_step("internal_with_admin", lambda: c.query("admin/users:message_total", {}))
    run_step("public_with_admin", lambda: c.query("messages:count", {"channel": channel}))


def main() -> None:
    scenario, url, channel = sys.argv[1], sys.argv[2], sys.argv[3]
    if scenario == "subscribe":
        subscribe(url, channel)
    elif scenario == "calls":
        calls(url, channel)
    elif scenario == "convex_error":
        convex_error(url, channel)
    elif scenario == "admin":
        admin(url, channel, sys.argv[4])
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    emit("done")
    sys.stdout.flush()
    # Skip interpreter teardown of the compiled client's runtime threads.
    import os

    os._exit(0)


if __name__ == "__main__":
    main()
