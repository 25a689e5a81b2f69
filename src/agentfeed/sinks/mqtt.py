"""The MQTT sink (``aiomqtt``): lightweight activity notifications under ``agentfeed/``, the
summary state and Home Assistant discovery under ``homeassistant/``.

Topics, with ``<node>`` from ``AGENTFEED_MQTT_NODE`` (default the host name):

- ``agentfeed/<node>/activity`` — one message per event, QoS 1, **not** retained: ``{id, source,
  type, event_type, summary, timestamp, project, session_id, ref}``; ``ref`` is the path of the
  full payload on the server (``/raw/<event id>``). Nothing else of the content: notifications
  stay small whatever the project's forwarding level. A message repeated after a crash has the
  same ``id``.
- ``agentfeed/<node>/state`` — retained, QoS 1, after a batch (at most once a second) and
  every minute: ``active_sessions``, ``events_today``, ``cost_today_usd``,
  ``current_intent``, ``current_project``, ``last_event_at`` (``sinks/outbox:home_state``).
- ``agentfeed/<node>/availability`` — ``online`` (retained) once connected; ``offline`` on a
  clean stop, and as the connection's last will (retained, QoS 1) when the process dies.
- ``<prefix>/device/agentfeed_<node>/config`` — Home Assistant discovery (``homeassistant.py``),
  retained, QoS 1; sent again when Home Assistant announces itself on ``<prefix>/status``.

A publish that fails (the broker went away) closes the connection and raises ``Unavailable``:
the runner retries the batch, and the next attempt connects anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from . import homeassistant
from .base import Record, Unavailable
from .settings import MqttSettings
from .wire import iso

log = logging.getLogger("agentfeed.sinks")

MAX_BATCH = 200
QOS = 1
CONNECT_TIMEOUT = 10.0
STATE_REFRESH = 60.0
"""Seconds between two state publishes when no event comes."""
STATE_EVERY = 1.0
"""Seconds between two state publishes at most: a burst of batches costs one state query a
second, not one each."""

StateReader = Callable[[], Awaitable[dict[str, Any]]]


def notification(record: Record) -> dict[str, Any]:
    """The activity message of one record."""
    message: dict[str, Any] = {
        "id": record["id"],
        "source": record.get("source"),
        "type": record["type"],
        "event_type": homeassistant.event_type(record["type"]),
        "summary": record["summary"],
        "timestamp": iso(record["timestamp"]),
        "ref": record["raw_ref"],
    }
    for key in ("project_name", "session_id"):
        if record.get(key) is not None:
            message["project" if key == "project_name" else key] = record[key]
    return message


class MqttSink:
    name = "mqtt"
    max_batch = MAX_BATCH

    def __init__(self, settings: MqttSettings, read_state: StateReader) -> None:
        self.settings = settings
        self.read_state = read_state
        self.base = f"agentfeed/{settings.node}"
        self.availability = f"{self.base}/availability"
        self.activity = f"{self.base}/activity"
        self.state = f"{self.base}/state"
        self.status = f"{settings.discovery_prefix}/status"
        self._client: aiomqtt.Client | None = None
        self._listener: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._state_later: asyncio.Task[None] | None = None
        self._state_sent = 0.0

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=f"agentfeed-{s.node}",
            will=aiomqtt.Will(self.availability, "offline", qos=QOS, retain=True),
            tls_context=ssl.create_default_context() if s.tls else None,
            timeout=CONNECT_TIMEOUT,
        )

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        client = self._new_client()
        try:
            await client.__aenter__()
        except (aiomqtt.MqttError, OSError) as exc:
            raise Unavailable(
                f"MQTT broker {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self._client = client
        try:
            await client.publish(self.availability, "online", qos=QOS, retain=True)
            await self._announce(client)
            await client.subscribe(self.status, qos=QOS)
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise Unavailable(f"MQTT broker: {exc}") from exc
        self._listener = asyncio.ensure_future(self._listen(client))
        self._refresher = asyncio.ensure_future(self._refresh(client))
        log.info("sink mqtt: connected to %s:%s", self.settings.host, self.settings.port)
        return client

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Discovery config, then the current state (both retained)."""
        topic = homeassistant.config_topic(self.settings.discovery_prefix, self.settings.node)
        config = homeassistant.discovery(self.settings.node, self.base)
        await client.publish(topic, json.dumps(config), qos=QOS, retain=True)
        await self._publish_state(client)

    async def _publish_state(self, client: aiomqtt.Client) -> None:
        state = await self.read_state()
        await client.publish(self.state, json.dumps(state), qos=QOS, retain=True)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Home Assistant's birth message (``online`` on ``<prefix>/status``): announce again."""
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                if message.payload in (b"online", "online"):
                    with contextlib.suppress(aiomqtt.MqttError):
                        await self._announce(client)

    async def _refresh(self, client: aiomqtt.Client) -> None:
        """The state again every ``STATE_REFRESH`` seconds, events or not: the day's counters
        roll over and the pipeline revises the current intent on its own schedule."""
        while True:
            await asyncio.sleep(STATE_REFRESH)
            try:
                await self._publish_state(client)
            except aiomqtt.MqttError:
                return  # the next delivery reconnects
            except Exception as exc:  # the server may be restarting: try at the next round
                log.info("sink mqtt: refreshing the state failed: %s", exc)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        for task in (self._listener, self._refresher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._listener = self._refresher = None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    async def deliver(self, records: list[Record]) -> None:
        client = await self._connect()
        try:
            for record in records:
                payload = json.dumps(notification(record), ensure_ascii=False)
                await client.publish(self.activity, payload, qos=QOS, retain=False)
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise Unavailable(f"MQTT publish failed: {exc}") from exc

    async def after_batch(self) -> None:
        """Publish the state now, or, if it went out less than ``STATE_EVERY`` seconds ago,
        once that much time has passed (one pending publish covers any number of batches)."""
        if self._state_later is not None and not self._state_later.done():
            return
        wait = self._state_sent + STATE_EVERY - time.monotonic()
        self._state_later = asyncio.ensure_future(self._state_after(max(0.0, wait)))
        if wait <= 0:
            await self._state_later

    async def _state_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        client = self._client
        if client is None:
            return
        self._state_sent = time.monotonic()
        try:
            await self._publish_state(client)
        except aiomqtt.MqttError as exc:  # the next batch reconnects and announces again
            log.info("sink mqtt: publishing the state failed: %s", exc)
            await self._drop()

    async def close(self) -> None:
        if self._state_later is not None and not self._state_later.done():
            self._state_later.cancel()
            await asyncio.gather(self._state_later, return_exceptions=True)
            if self._client is not None:  # the last batches' state still goes out
                await self._state_after(0.0)
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(self.availability, "offline", qos=QOS, retain=True)
        await self._drop()
