"""Hostile and malformed HTTP input against a real ``livebase serve`` process (issue 11).

Each defect the hardening fixed has a test here that failed before: a 64 MB header or URL was
read into memory (and the memory kept), trickled heads and bodies held their connections open
forever, 17 MB of arguments were accepted, 600-deep arguments were a 500 with a RecursionError
traceback in the log, and ``/metrics`` answered anyone. The deadlines are shortened to 1 s here
(``LIVEBASE_HTTP_*_SECONDS``) so the slow-client tests finish quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LivebaseServer, base_env

from .conftest import TEST_ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

METRICS_TOKEN = "metrics-token-for-the-hardening-test"
DEADLINE = 1.0
API_ENDPOINTS = ["/api/query", "/api/mutation", "/api/action", "/api/function"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    env = base_env(
        LIVEBASE_METRICS_TOKEN=METRICS_TOKEN,
        LIVEBASE_HTTP_HEAD_TIMEOUT_SECONDS=str(DEADLINE),
        LIVEBASE_HTTP_BODY_TIMEOUT_SECONDS=str(DEADLINE),
    )
    base = tmp_path_factory.mktemp("hardening")
    with LivebaseServer.launch(base, admin_key=TEST_ADMIN_KEY, env=env) as srv:
        yield srv


def settled_within(predicate: Callable[[], bool], timeout: float) -> None:
    """Give the server up to ``timeout`` seconds to hand memory back; the caller then asserts."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def rss_mib(server: LivebaseServer) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def assert_no_traceback(server: LivebaseServer, since: int) -> None:
    log = server.log_text()[since:]
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split(" ")[1]), headers, body


async def send_huge(port: int, first: bytes, megabytes: int) -> tuple[int, dict[str, str], bytes]:
    """Send ``first`` and then ``megabytes`` MiB of ``a``; the answer, read while sending, and
    the connection must end after it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        writer.write(first)
        for _ in range(megabytes):
            writer.write(b"a" * (1 << 20))
            await writer.drain()

    sending = asyncio.ensure_future(send())
    try:
        answer = await asyncio.wait_for(read_answer(reader), 15.0)
        assert await asyncio.wait_for(reader.read(), 15.0) == b""  # closed after the answer
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answer


@pytest.mark.parametrize(
    ("first", "status", "code"),
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 431, "RequestHeaderFieldsTooLarge"),
        (b"GET /", 414, "RequestTargetTooLong"),
    ],
    ids=["64MB-header", "64MB-url"],
)
def test_a_64_mb_head_is_refused_and_its_memory_is_not_kept(
    server: LivebaseServer, first: bytes, status: int, code: str
) -> None:
    since = len(server.log_text())
    httpx.get(f"{server.url}/version")
    before = rss_mib(server)
    got, headers, body = asyncio.run(send_huge(server.port, first, 64))
    assert got == status and headers["connection"] == "close"
    assert json.loads(body)["code"] == code
    settled_within(lambda: rss_mib(server) - before < 16, timeout=10)
    grown = rss_mib(server) - before
    assert grown < 16, f"the server kept {grown:.0f} MiB after a refused 64 MB head"
    assert httpx.get(f"{server.url}/version").status_code == 200
    assert_no_traceback(server, since)


async def _slow_clients(port: int, heads: int, bodies: int) -> tuple[list[Any], float]:
    """``heads`` connections sending a header line every 0.2 s, ``bodies`` sending a body
    byte every 0.2 s; each result is the status the server answered (or None if it only
    closed), and the time the last one ended."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def one(trickle_body: bool) -> int | None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def trickle() -> None:
            if trickle_body:
                writer.write(
                    b"POST /api/query HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{"
                )
            else:
                writer.write(b"POST /api/query HTTP/1.1\r\nHost: t\r\n")
            for _ in range(300):  # 60 s of trickling unless the server ends it
                await asyncio.sleep(0.2)
                writer.write(b" " if trickle_body else b"X-Slow: yes\r\n")

        sending = asyncio.ensure_future(trickle())
        try:
            status, _, _ = await asyncio.wait_for(read_answer(reader), 30.0)
            assert await asyncio.wait_for(reader.read(), 10.0) == b""
            return status
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    results = await asyncio.gather(
        *[one(False) for _ in range(heads)], *[one(True) for _ in range(bodies)]
    )
    return list(results), loop.time() - started


def test_trickled_heads_and_bodies_are_answered_408_and_closed(server: LivebaseServer) -> None:
    since = len(server.log_text())
    results, took = asyncio.run(_slow_clients(server.port, heads=50, bodies=20))
    assert results == [408] * 70
    assert took < DEADLINE + 5, f"slow clients held their connections {took:.1f} s"
    assert httpx.get(f"{server.url}/version").status_code == 200
    assert_no_traceback(server, since)


def test_17_mb_of_arguments_are_refused_on_every_endpoint(server: LivebaseServer) -> None:
    big = "x" * (17 << 20)
    httpx.get(f"{server.url}/version")
    before = rss_mib(server)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for endpoint in [*API_ENDPOINTS, "/api/run/messages/echo"]:
            body = {"path": "messages:echo", "args": {"value": big}}
            response = http.post(endpoint, json=body)
            assert response.status_code == 400, (endpoint, response.text[:300])
            error = response.json()
            assert error["code"] == "ArgumentsTooLarge", error
            assert "16777216" in error["message"], error
        settled_within(lambda: rss_mib(server) - before < 24, timeout=10)
        grown = rss_mib(server) - before
        assert grown < 24, f"the server kept {grown:.0f} MiB after five refused 17 MB calls"
        # Just under the limit still works.
        fits = {"path": "messages:echo", "args": {"value": "y" * (15 << 20)}}
        response = http.post("/api/query", json=fits)
        assert response.status_code == 200 and response.json()["status"] == "success"


def nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@pytest.mark.parametrize("levels", [16, 600, 5000])
def test_deeply_nested_arguments_are_a_400_naming_the_limit(
    server: LivebaseServer, levels: int
) -> None:
    """The arguments object is the first level: ``{"value": [[...]]}`` may hold 15 arrays."""
    since = len(server.log_text())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for endpoint in [*API_ENDPOINTS, "/api/run/messages/echo"]:
            for fmt in ("convex_encoded_json", "json"):
                body = (
                    f'{{"path":"messages:echo","format":"{fmt}",'
                    f'"args":{{"value":{nested(levels)}}}}}'
                )
                response = http.post(endpoint, content=body)
                assert response.status_code == 400, (endpoint, response.text[:300])
                error = response.json()
                if levels <= 1000:
                    assert error["code"] == "InvalidValue", error
                    assert "nested deeper than 16 levels" in error["message"], error
                else:  # deeper than any JSON the parser takes
                    assert error["code"] == "BadJsonBody", error
        ok = '{"path":"messages:echo","args":{"value":' + nested(15) + "}}"
        assert http.post("/api/query", content=ok).json()["status"] == "success"
    assert_no_traceback(server, since)


def test_metrics_need_the_admin_key_or_the_metrics_token(server: LivebaseServer) -> None:
    url = f"{server.url}/metrics"
    refused = httpx.get(url)
    assert refused.status_code == 401
    assert "livebase_function_executions_total" not in refused.text
    assert refused.headers["www-authenticate"].startswith("Bearer")
    for wrong in ["Bearer nope", f"Bearer {TEST_ADMIN_KEY}x", "Convex nope", "Basic Zm9vOmJhcg=="]:
        assert httpx.get(url, headers={"Authorization": wrong}).status_code == 401, wrong
    for good in [f"Convex {TEST_ADMIN_KEY}", f"Bearer {TEST_ADMIN_KEY}", f"Bearer {METRICS_TOKEN}"]:
        response = httpx.get(url, headers={"Authorization": good})
        assert response.status_code == 200, good
        assert "livebase_commits_total" in response.text
    # The token is for /metrics only: it is not an admin key.
    response = httpx.post(
        f"{server.url}/api/query",
        json={"path": "messages:echo", "args": {"value": 1}},
        headers={"Authorization": f"Convex {METRICS_TOKEN}"},
    )
    assert response.status_code == 401
