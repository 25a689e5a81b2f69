"""Livebase's number contract (docs/functions.md, "Numbers") through the official Python clients
(PyPI ``convex`` 0.8.1): ``ConvexClient`` (WebSocket, Rust inside) and ``ConvexHttpClient``.

Usage: python numbers_scenario.py <server url> <tag>

Runs the same calls with both clients against the app of
``tests/e2e/test_official_clients_numbers.py``, each client on its own rows (``<tag>-py-ws``,
``<tag>-py-http``), then follows a live query with the WebSocket client. Like ``ws_scenario.py``,
each step prints ``@@ {"step": name, ...}`` as soon as it finishes (the WebSocket client blocks in
compiled code holding the GIL, so the test runs this as a subprocess with a timeout).

A step's value is printed so that its Python type stays visible: a ``float`` as a JSON float
(``2.0``), a ``ConvexInt64`` as ``{"int64": "<decimal>"}``, a plain ``int`` (which this client
never gives) as ``{"pyint": "<decimal>"}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from convex import ConvexClient, ConvexError, ConvexInt64
from convex.http_client import ConvexHttpClient


def printable(value: Any) -> Any:
    if isinstance(value, ConvexInt64):
        return {"int64": str(value.value)}
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return {"pyint": str(value)}
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    return {"unknown": repr(value), "type": type(value).__name__}


def emit(step: str, **fields: Any) -> None:
    sys.stdout.write("@@ " + json.dumps({"step": step, **fields}) + "\n")
    sys.stdout.flush()


def run_step(step: str, fn: Callable[[], Any]) -> Any:
    try:
        value = fn()
    except Exception as exc:
        emit(
            step,
            error=type(exc).__name__,
            isConvexError=isinstance(exc, ConvexError),
            message=str(exc),
            data=printable(getattr(exc, "data", None)),
        )
        return None
    emit(step, value=printable(value))
    return value


def calls(client: Any, kind: str, tag: str) -> None:
    own = f"{tag}-py-{kind}"
    p = f"{kind}."
    # A Python int for a v.number() field (the client sends 2 as 2.0), then one the server
    # writes itself ({"amount": 2} in the function's code).
    run_step(
        p + "store",
        lambda: client.mutation("numbers:store", {"tag": own, "kind": "py", "amount": 2}),
    )
    run_step(p + "seed", lambda: client.mutation("numbers:seed", {"tag": own}))
    run_step(p + "amounts", lambda: client.query("numbers:amounts", {"tag": own}))
    run_step(p + "count", lambda: client.query("numbers:count", {"tag": own}))
    run_step(p + "counts", lambda: client.query("numbers:counts", {"tag": own}))
    run_step(p + "take_int", lambda: client.mutation("numbers:take_int", {"n": 20}))
    run_step(p + "take_fraction", lambda: client.mutation("numbers:take_int", {"n": 2.5}))
    run_step(p + "int64_arg", lambda: client.query("numbers:int64_arg", {"n": ConvexInt64(5)}))
    run_step(p + "int64_arg_from_int", lambda: client.query("numbers:int64_arg", {"n": 5}))
    run_step(p + "int64_hint", lambda: client.query("numbers:int64_hint", {"n": ConvexInt64(5)}))
    run_step(p + "refuse", lambda: client.mutation("numbers:refuse", {}))
    run_step(p + "big", lambda: client.query("numbers:big", {}))
    run_step(p + "declared", lambda: client.query("numbers:declared", {}))
    run_step(p + "too_big", lambda: client.query("numbers:too_big", {}))


def subscription(client: ConvexClient, tag: str) -> None:
    own = f"{tag}-py-ws"
    sub = client.subscribe("numbers:count", {"tag": own})
    run_step("sub.first", lambda: next(sub))
    run_step(
        "sub.store",
        lambda: client.mutation("numbers:store", {"tag": own, "kind": "more", "amount": 1.5}),
    )
    run_step("sub.next", lambda: next(sub))
    sub.unsubscribe()


def main() -> None:
    url, tag = sys.argv[1], sys.argv[2]
    ws = ConvexClient(url)
    calls(ws, "ws", tag)
    calls(ConvexHttpClient(url), "http", tag)
    subscription(ws, tag)
    emit("done")
    # Skip interpreter teardown of the compiled client's runtime threads.
    os._exit(0)


if __name__ == "__main__":
    main()
