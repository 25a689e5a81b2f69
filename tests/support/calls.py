"""Calling a running server's functions over HTTP in tests, and waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


def call(url: str, admin_key: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    """``POST /api/<kind>`` as the admin (internal functions allowed); the value in JSON
    format, or a failed assertion showing the error body."""
    response = httpx.post(
        f"{url}/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers={"authorization": f"Convex {admin_key}"},
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
