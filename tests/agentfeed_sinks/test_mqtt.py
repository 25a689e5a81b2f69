"""The MQTT sink on the real Mosquitto broker (127.0.0.1:1883), each test under topics of its
own node id: activity notifications (QoS 1, not retained, lightweight), the retained state and
Home Assistant discovery (checked against HA's documented schema), availability with a last
will, and a kill mid-stream."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import now_ms
from tests.agentfeed_app.test_capture import PROTOBUF, api_request_pb, logs_pb

from . import ha_schema
from .conftest import Sinks, post_events
from .fakes import MqttWatcher, clear_retained

NOTIFICATION_KEYS = {"id", "source", "type", "event_type", "summary", "timestamp", "ref"}


@pytest.fixture
def node() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:10]}"
    yield name
    clear_retained(
        f"agentfeed/{name}/availability",
        f"agentfeed/{name}/state",
        f"homeassistant/device/agentfeed_{name}/config",
    )


def env_for(node: str) -> dict[str, str]:
    return {"AGENTFEED_MQTT_URL": "mqtt://127.0.0.1:1883", "AGENTFEED_MQTT_NODE": node}


def watch(node: str) -> MqttWatcher:
    return MqttWatcher(f"agentfeed/{node}/#", f"homeassistant/device/agentfeed_{node}/config")


def activity_ids(watcher: MqttWatcher, node: str) -> list[str]:
    return [m.json()["id"] for m in watcher.on(f"agentfeed/{node}/activity")]


def test_notifications_state_discovery_and_last_will(
    af: Agentfeed, node: str, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    base = f"agentfeed/{node}"
    config_topic = f"homeassistant/device/agentfeed_{node}/config"
    watcher = watch(node)
    try:
        sinks = sinks_for(env_for(node)).running("mqtt")
        watcher.wait(lambda: watcher.on(config_topic), "the discovery config")
        session = f"s-{uuid.uuid4().hex[:8]}"
        secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
        ids = post_events(af, 4, session=session)
        # Claude Code's telemetry says what today cost: two API requests, $0.25 in all
        records = [
            api_request_pb(session, "p1", "claude-sonnet-4-5", (1, 1, 0, 0), cost, now_ms(), i)
            for i, cost in enumerate((0.2, 0.05))
        ]
        telemetry = httpx.post(
            f"{af.server.url}/v1/logs", content=logs_pb(*records), headers=PROTOBUF, timeout=60
        )
        assert telemetry.status_code == 200, telemetry.text
        ids += post_events(af, 1, session=session, prompt=f"deploy with token {secret}")
        watcher.wait(
            lambda: activity_ids(watcher, node) == ids, f"5 notifications\n{sinks.output()}"
        )
        messages = watcher.on(f"{base}/activity")
        for message in messages:
            assert message.qos == 1 and not message.retain
            body = message.json()
            assert NOTIFICATION_KEYS <= set(body) <= NOTIFICATION_KEYS | {"project", "session_id"}
            assert body["type"] == "UserPromptSubmit" and body["event_type"] == "prompt"
            assert body["ref"] == f"/raw/{body['id']}" and body["project"] == "app"
            assert body["timestamp"].endswith("Z") and body["session_id"] == session
        last = messages[-1].json()["summary"]
        assert secret not in last and "[redacted:" in last  # the summary is always redacted

        def state() -> dict[str, object] | None:
            found = watcher.on(f"{base}/state")
            body = found[-1].json() if found else None
            return body if body and body["events_today"] >= 5 else None

        current = watcher.wait(state, "the state after the batch")
        assert current["active_sessions"] >= 1 and current["cost_today_usd"] == 0.25
        assert current["current_project"] == "app"

        def intent() -> str | None:
            """The published intent once it is the pipeline's guess for the work in hand (the
            guess is revised as events are enriched; the state follows within a minute)."""
            active = af.query("activity:sessions", {"status": "active"})["sessions"]
            published = watcher.on(f"{base}/state")[-1].json()["current_intent"]
            expected = af.query("sinks/outbox:home_state")["current_intent"]
            return published if active and published == expected else None

        published = watcher.wait(intent, "the current intent", timeout=90)
        guessed = af.query("activity:sessions", {"status": "active"})["sessions"][0]
        assert secret not in published
        assert published != last  # the pipeline's guess, not the latest prompt
        if secret in guessed["guessed_intent"]:
            assert "[redacted:" in published
        else:
            assert published == guessed["guessed_intent"]
        assert watcher.on(f"{base}/availability")[-1].payload == b"online"
        (config,) = watcher.on(config_topic)[-1:]
        payload = config.json()
        assert ha_schema.problems(config.topic, payload) == []
        components = payload["components"]
        sensors = {c["value_template"] for c in components.values() if c["platform"] == "sensor"}
        assert sensors == {
            f"{{{{ value_json.{key} }}}}"
            for key in ("active_sessions", "events_today", "cost_today_usd", "current_intent")
        }
        event = next(c for c in components.values() if c["platform"] == "event")
        assert event["state_topic"] == f"{base}/activity" and "prompt" in event["event_types"]
        assert payload["availability_topic"] == f"{base}/availability"
        # what a Home Assistant connecting later gets: config, state and availability, retained
        late = watch(node)
        try:
            late.wait(lambda: len({m.topic for m in late.messages}) >= 3, "retained messages")
            assert {m.topic for m in late.messages if m.retain} == {
                config_topic,
                f"{base}/state",
                f"{base}/availability",
            }
            assert not late.on(f"{base}/activity")  # notifications are never retained
        finally:
            late.close()
        # killed: the broker publishes the last will
        sinks.kill9()
        watcher.wait(
            lambda: watcher.on(f"{base}/availability")[-1].payload == b"offline",
            "the last will",
        )
    finally:
        watcher.close()


def test_killed_and_restarted_mid_stream_delivers_every_event_in_order(
    af: Agentfeed, node: str, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    watcher = watch(node)
    try:
        sinks = sinks_for(env_for(node)).running("mqtt")
        total = 120
        ids: list[str] = []
        poster = threading.Thread(target=lambda: ids.extend(post_events(af, total)))
        poster.start()
        watcher.wait(lambda: len(activity_ids(watcher, node)) >= 20, "some notifications")
        sinks.kill9()
        poster.join()
        assert len(activity_ids(watcher, node)) < total
        sinks.start()

        def unique() -> list[str]:
            return list(dict.fromkeys(activity_ids(watcher, node)))

        watcher.wait(lambda: len(unique()) >= total, f"every event\n{sinks.output()}")
        assert unique() == ids  # every event, in order
        received = activity_ids(watcher, node)
        # only the batch in flight when the process died can come twice (same ids)
        assert len(received) - total <= 200
        assert sinks.terminate() == 0
        assert watcher.on(f"agentfeed/{node}/availability")[-1].payload == b"offline"
        assert (
            json.loads(watcher.on(f"agentfeed/{node}/state")[-1].payload)["events_today"] >= total
        )
    finally:
        watcher.close()
