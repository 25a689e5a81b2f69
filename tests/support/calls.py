"""Calling a running server's functions over HTTP in tests, and waiting for a condition."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx


def admin_authorization(admin_key: str, identity: dict[str, Any] | None = None) -> str:
    """The ``Authorization`` header of the admin, acting as ``identity`` (``{"subject": ...,
    "issuer": ...}`` and any claims) when one is given."""
    if identity is None:
        return f"Convex {admin_key}"
    encoded = base64.b64encode(json.dumps(identity).encode()).decode()
    return f"Convex {admin_key}:{encoded}"


def call(
    url: str,
    admin_key: str,
    kind: str,
    path: str,
    args: dict[str, Any],
    *,
    identity: dict[str, Any] | None = None,
) -> Any:
    """``POST /api/<kind>`` as the admin (internal functions allowed), acting as ``identity``
    when one is given; the value in JSON format, or a failed assertion showing the error body."""
    response = httpx.post(
        f"{url}/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers={"authorization": admin_authorization(admin_key, identity)},
        timeout=30,
    )
    body = response.json()
    assert body.get("status") == "success", body
    return body["value"]


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll ``predicate`` every 20 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.02)


async def wait_until_async(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """``wait_until`` on an event loop: poll ``predicate`` every 20 ms (letting the loop run in
    between) until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        await asyncio.sleep(0.02)


async def assert_stops_when_cancelled_as_woken(
    task: asyncio.Task[Any], wake: Callable[[], asyncio.Event | None]
) -> None:
    """Cancel a loop that waits on an event in the very iteration its event is set, and check it
    ends. On Python 3.11 ``asyncio.wait_for`` returns the event's result and drops such a
    cancellation, so a ``while True`` loop built on it never stops (a server hangs on SIGTERM)."""
    await wait_until_async(lambda: (event := wake()) is not None and event._waiters)  # type: ignore[attr-defined]
    event = wake()
    assert event is not None
    event.set()
    task.cancel()
    try:
        async with asyncio.timeout(10):
            await asyncio.shield(task)
    except asyncio.CancelledError:
        pass
    except TimeoutError:
        task.cancel()
        raise AssertionError("the loop ignored a cancellation that came as it was woken") from None
    assert task.cancelled()
