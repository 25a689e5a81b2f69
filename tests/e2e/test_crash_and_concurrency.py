"""Durability and concurrency against a real server process: ``kill -9`` loses no acknowledged
mutation and leaves nothing half-written; 8 concurrent clients x 500 read-increment-write
mutations end at exactly 4000; a client that disconnects mid-mutation and retries with its
idempotency key is applied exactly once; oversize bodies are refused."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.calls import wait_until

from .livebase_process import ADMIN_KEY, Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def _int(value: dict) -> int:
    import base64
    import struct

    return struct.unpack("<q", base64.b64decode(value["$integer"]))[0]


@pytest.fixture
def server_factory(tmp_path: Path):
    servers: list[Server] = []

    def make(durability: str) -> Server:
        s = Server(tmp_path / "data", durability)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.kill()


@pytest.mark.parametrize("durability", ["normal", "fsync-per-commit"])
def test_kill_9_loses_no_acknowledged_mutation(server_factory, durability: str) -> None:
    server = server_factory(durability)
    server.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not stop.is_set():
                body = {
                    "path": "messages:send",
                    "format": "convex_encoded_json",
                    "args": {"channel": "crash", "body": f"w{n}-{i}"},
                }
                try:
                    r = client.post(server.url + "/api/mutation", json=body)
                except httpx.HTTPError:
                    return  # the server died with this request in flight: not acknowledged
                if r.status_code == 200 and r.json()["status"] == "success":
                    acknowledged.append(r.json()["value"])
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    # Kill once enough writes were acknowledged to prove something; the writers keep going, so
    # mutations are in flight when the server dies.
    wait_until(lambda: len(acknowledged) > 50)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acknowledged) > 50

    restarted = server_factory(durability)
    restarted.data = server.data
    restarted.start()
    listed = restarted.call("query", "messages:list", {"channel": "crash"})["value"]
    ids_by_index = {doc["_id"] for doc in listed}
    assert set(acknowledged) <= ids_by_index
    # Nothing half-written: every stored message is reachable both through its index and by id.
    total = restarted.call("query", "admin/users:message_total", {})["value"]  # a number
    assert total == len(ids_by_index)
    for doc_id in acknowledged[:: max(1, len(acknowledged) // 20)]:
        got = restarted.call("query", "messages:get", {"id": doc_id})["value"]
        assert got is not None and got["_id"] == doc_id


def test_eight_clients_increment_one_counter_to_exactly_4000(server_factory) -> None:
    server = server_factory("normal")
    server.start()
    host, port = "127.0.0.1", server.port
    body = json.dumps(
        {"path": "counters:increment", "args": {"name": "hot"}, "format": "convex_encoded_json"}
    )
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        for _ in range(500):
            conn.request("POST", "/api/mutation", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
            if data.get("status") != "success":
                errors.append(str(data))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert _int(server.call("query", "counters:get", {"name": "hot"})["value"]) == 4000


def test_disconnect_mid_mutation_then_retry_applies_once(server_factory) -> None:
    server = server_factory("normal")
    server.start()
    body = json.dumps(
        {"path": "counters:increment", "args": {"name": "d"}, "format": "convex_encoded_json"}
    ).encode()
    for attempt in range(20):
        key = f"retry-{attempt}"
        request = (
            f"POST /api/mutation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Convex {ADMIN_KEY}\r\n"  # the retry below is the same caller
            f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request)  # and hang up without reading the answer
        result = server.call(
            "mutation", "counters:increment", {"name": "d"}, **{"Idempotency-Key": key}
        )
        assert result["status"] == "success"
        assert _int(result["value"]) == attempt + 1
    assert _int(server.call("query", "counters:get", {"name": "d"})["value"]) == 20


def test_oversize_body_is_refused_and_server_keeps_serving(server_factory) -> None:
    server = server_factory("normal")
    server.start()
    huge = "x" * (40 << 20)
    r = httpx.post(
        server.url + "/api/mutation",
        content=json.dumps({"path": "messages:send", "args": {"channel": "a", "body": huge}}),
        timeout=60,
    )
    assert r.status_code == 413
    assert r.json()["code"] == "RequestTooLarge"
    big_doc = "y" * (2 << 20)  # fits the request limit, not the 1 MiB document limit
    result = server.call("mutation", "messages:send", {"channel": "a", "body": big_doc})
    assert result["status"] == "error"
    assert "DocumentTooLarge" in result["errorMessage"]
    assert server.call("query", "messages:count", {"channel": "a"})["status"] == "success"
