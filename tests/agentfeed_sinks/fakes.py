"""Real local servers the sink tests deliver to: a PostHog capture endpoint speaking PostHog's
``/batch/`` request format (the only fake: PostHog is an external SaaS), a webhook receiver
that verifies agentfeed's signature, and an MQTT subscriber on the real Mosquitto broker."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import paho.mqtt.client as paho

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


class _Server:
    """A ``ThreadingHTTPServer`` on a free port, run in a thread; ``handle(path, headers,
    body) -> (status, json)`` answers each POST."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = owner.handle(self.path, dict(self.headers.items()), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class PosthogFake(_Server):
    """``POST /batch/`` as PostHog takes it: ``{"api_key", "batch": [{"event", "properties":
    {"distinct_id", ...}, "timestamp", "uuid"}], "historical_migration"?}``; 401 for another
    api key, 400 for a malformed request or an invalid ``uuid``, 200 ``{"status": 1}``.

    Test controls: ``unavailable`` (answer 503), ``refuse`` (event ids whose batch gets 400).
    ``requests`` keeps every accepted batch; ``events`` every accepted event in arrival order."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.unavailable = False
        self.refuse: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        super().__init__()

    def problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return "body must be an object with a batch array"
        for event in body["batch"]:
            if not isinstance(event, dict) or not isinstance(event.get("event"), str):
                return "every event needs an event name"
            props = event.get("properties")
            distinct = (props or {}).get("distinct_id") or event.get("distinct_id")
            if not isinstance(props, dict) or not isinstance(distinct, str) or not distinct:
                return "every event needs properties with a distinct_id"
            try:
                uuid.UUID(str(event["uuid"]))
            except (KeyError, ValueError):
                return "uuid missing or not a UUID"
            if "timestamp" in event and not _iso(event["timestamp"]):
                return "timestamp is not ISO 8601"
        return None

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path != "/batch/":
            return 404, {"error": "not found"}
        if self.unavailable:
            return 503, {"error": "unavailable"}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"type": "validation_error", "detail": "invalid JSON"}
        if not isinstance(request, dict) or request.get("api_key") != self.api_key:
            return 401, {"type": "authentication_error", "detail": "invalid API key"}
        problem = self.problem(request)
        if problem is not None:
            return 400, {"type": "validation_error", "detail": problem}
        ids = {e["properties"].get("event_id") for e in request["batch"]}
        if ids & self.refuse:
            with self.lock:
                self.refused += 1
            return 400, {"type": "validation_error", "detail": "refused by the test"}
        with self.lock:
            self.requests.append(request)
            self.events.extend(request["batch"])
        return 200, {"status": 1}

    def event_ids(self) -> list[str]:
        with self.lock:
            return [e["properties"]["event_id"] for e in self.events]

    def unique_ids(self) -> list[str]:
        """Event ids in order of first arrival, each once (PostHog keeps one event per uuid)."""
        seen: set[str] = set()
        out = []
        for event_id in self.event_ids():
            if event_id not in seen:
                seen.add(event_id)
                out.append(event_id)
        return out


class WebhookReceiver(_Server):
    """Verifies ``X-Agentfeed-Signature`` (HMAC-SHA256 of ``<timestamp>.<body>``) and a fresh
    ``X-Agentfeed-Timestamp``, as the docs tell a receiver to; 401 otherwise. ``fail_with``
    answers every request with that status (a receiver that is down or broken)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.fail_with: int | None = None
        self.batches: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        super().__init__()

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("X-Agentfeed-Timestamp", "")
        given = headers.get("X-Agentfeed-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        mac = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(given, "sha256=" + mac.hexdigest())

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.fail_with is not None:
            return self.fail_with, {"error": "failing on purpose"}
        if not self.verify(headers, body):
            with self.lock:
                self.bad_signatures += 1
            return 401, {"error": "bad signature"}
        with self.lock:
            self.batches.append(json.loads(body))
            self.headers.append(headers)
        return 200, {"ok": True}

    def event_ids(self) -> list[str]:
        with self.lock:
            return [e["id"] for batch in self.batches for e in batch["events"]]


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttWatcher:
    """A paho-mqtt subscriber on the real broker, collecting every message of ``topics``."""

    def __init__(self, *topics: str, port: int = MQTT_PORT) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4()}"
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(MQTT_HOST, port)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10), "the MQTT subscription was not acknowledged"

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(
                Message(message.topic, bytes(message.payload), message.qos, bool(message.retain))
            )

    def on(self, topic: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def wait(self, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {timeout} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def clear_retained(*topics: str) -> None:
    """Delete retained messages (an empty retained payload), so tests leave the broker clean."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
