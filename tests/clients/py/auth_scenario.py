"""The official Python WebSocket client (PyPI ``convex`` 0.8.1, Rust inside) with user tokens.

Usage: python auth_scenario.py <scenario> <server url> <config json>

Like ``ws_scenario.py``: each step prints ``@@ {"step": name, ...}`` as soon as it finishes, and the
test runs this as a subprocess with a timeout (the client blocks in compiled code holding the
GIL, so a hang could not be timed out from a thread of the same process).

Scenarios:
  identity   config {"alice": JWT, "bob": JWT}: two clients, ``set_auth`` with each user's token,
             subscribe to the same queries with the same arguments (who:me, notes:mine); each
             sees its own results; a mutation and an action run as the user; then
             ``clear_auth`` turns alice's client anonymous, subscriptions included.
  bad_token  config {"token": JWT}: ``set_auth`` with a token the server refuses, then a query
             (which the client retries for ever: the test ends this process).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from convex import ConvexClient


def emit(step: str, **fields: Any) -> None:
    sys.stdout.write("@@ " + json.dumps({"step": step, **fields}) + "\n")
    sys.stdout.flush()


def run_step(step: str, fn: Callable[[], Any]) -> Any:
    try:
        value = fn()
    except Exception as exc:
        emit(step, error=type(exc).__name__, message=str(exc))
        return None
    emit(step, value=value)
    return value


def next_until(step: str, sub: Any, want: Callable[[Any], bool]) -> Any:
    """The subscription's values until one satisfies ``want`` (all of them are reported)."""
    seen: list[Any] = []
    while True:
        value = next(sub)
        seen.append(value)
        if want(value):
            emit(step, value=value, seen=seen)
            return value


def identity(url: str, config: dict[str, str]) -> None:
    alice = ConvexClient(url)
    alice.set_auth(config["alice"])
    bob = ConvexClient(url)
    bob.set_auth(config["bob"])

    alice_me = alice.subscribe("who:me", {})
    bob_me = bob.subscribe("who:me", {})
    # The very first value of each subscription: already the user's (never anonymous first).
    run_step("alice.sub.first", lambda: next(alice_me))
    run_step("bob.sub.first", lambda: next(bob_me))
    alice_notes = alice.subscribe("notes:mine", {})
    bob_notes = bob.subscribe("notes:mine", {})
    run_step("alice.notes.first", lambda: next(alice_notes))
    run_step("bob.notes.first", lambda: next(bob_notes))

    run_step("alice.query", lambda: alice.query("who:me", {}))
    run_step("alice.profile", lambda: alice.query("who:profile", {}))
    run_step("alice.add", lambda: alice.mutation("notes:add", {"body": "alice from python"}))
    next_until("alice.notes.added", alice_notes, lambda v: "alice from python" in v)
    run_step("bob.add", lambda: bob.mutation("notes:add", {"body": "bob from python"}))
    next_until("bob.notes.added", bob_notes, lambda v: "bob from python" in v)
    run_step("alice.act", lambda: alice.action("who:act", {}))
    run_step("bob.query", lambda: bob.query("who:me", {}))

    alice.clear_auth()
    next_until("cleared.sub", alice_me, lambda v: v is None)
    next_until("cleared.notes", alice_notes, lambda v: v == [])
    run_step("cleared.query", lambda: alice.query("who:me", {}))
    run_step("cleared.add", lambda: alice.mutation("notes:add", {"body": "anonymous python"}))
    # Bob is not affected by alice signing out.
    run_step("bob.after", lambda: bob.query("who:me", {}))


def bad_token(url: str, config: dict[str, str]) -> None:
    client = ConvexClient(url)
    client.set_auth(config["token"])
    emit("set_auth")
    run_step("query", lambda: client.query("who:me", {}))


def main() -> None:
    scenario, url, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if scenario == "identity":
        identity(url, config)
    elif scenario == "bad_token":
        bad_token(url, config)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    emit("done")
    sys.stdout.flush()
    # Skip interpreter teardown of the compiled client's runtime threads.
    os._exit(0)


if __name__ == "__main__":
    main()
