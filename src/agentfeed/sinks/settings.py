"""Which sinks are switched on, and how, from the environment.

- PostHog: ``AGENTFEED_POSTHOG_HOST`` (``https://eu.i.posthog.com``) and
  ``AGENTFEED_POSTHOG_API_KEY`` (the project key, ``phc_...``); optional
  ``AGENTFEED_POSTHOG_DISTINCT_ID`` (default: a hash of user@host).
- MQTT: ``AGENTFEED_MQTT_URL`` (``mqtt://[user:password@]host[:1883]`` or ``mqtts://``);
  optional ``AGENTFEED_MQTT_NODE`` (the device's id in topics, default the host name) and
  ``AGENTFEED_MQTT_DISCOVERY_PREFIX`` (default ``homeassistant``).
- Webhook: ``AGENTFEED_WEBHOOK_URL`` and ``AGENTFEED_WEBHOOK_SECRET`` (the HMAC key).

A setting given without its partner, or one that does not parse, is a ``SettingsError`` naming
the variable and what is wrong: a sink is never half switched on.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

POSTHOG_HOST = "AGENTFEED_POSTHOG_HOST"
POSTHOG_API_KEY = "AGENTFEED_POSTHOG_API_KEY"
POSTHOG_DISTINCT_ID = "AGENTFEED_POSTHOG_DISTINCT_ID"
MQTT_URL = "AGENTFEED_MQTT_URL"
MQTT_NODE = "AGENTFEED_MQTT_NODE"
MQTT_DISCOVERY_PREFIX = "AGENTFEED_MQTT_DISCOVERY_PREFIX"
WEBHOOK_URL = "AGENTFEED_WEBHOOK_URL"
WEBHOOK_SECRET = "AGENTFEED_WEBHOOK_SECRET"
METRICS_PORT = "AGENTFEED_SINKS_METRICS_PORT"

SWITCHES = (POSTHOG_HOST, POSTHOG_API_KEY, MQTT_URL, WEBHOOK_URL, WEBHOOK_SECRET)
"""Any of these set means sinks are wanted (``agentfeed serve`` starts ``agentfeed sinks``)."""

_TOPIC_ID = re.compile(r"[^a-zA-Z0-9_-]+")


class SettingsError(ValueError):
    """A sink setting that is missing its partner or does not parse."""


@dataclass(frozen=True)
class PosthogSettings:
    host: str
    api_key: str
    distinct_id: str


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    node: str
    discovery_prefix: str


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str


@dataclass(frozen=True)
class SinkSettings:
    posthog: PosthogSettings | None
    mqtt: MqttSettings | None
    webhook: WebhookSettings | None
    metrics_port: int | None

    @property
    def names(self) -> list[str]:
        """The switched-on sinks' names, as they appear in metrics and the page."""
        on = {"posthog": self.posthog, "mqtt": self.mqtt, "webhook": self.webhook}
        return [name for name, value in on.items() if value is not None]


def wanted(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return any(env.get(name, "").strip() for name in SWITCHES)


def topic_id(text: str) -> str:
    """``text`` usable as an MQTT topic level and a Home Assistant id (``[a-zA-Z0-9_-]``)."""
    return _TOPIC_ID.sub("_", text).strip("_") or "agentfeed"


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _pair(env: Mapping[str, str], first: str, second: str) -> tuple[str, str] | None:
    a, b = _get(env, first), _get(env, second)
    if a is None and b is None:
        return None
    if a is None or b is None:
        missing, given = (first, second) if a is None else (second, first)
        raise SettingsError(f"{given} is set but {missing} is not: set both, or neither")
    return a, b


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name}={value!r}: expected an http:// or https:// URL")
    return value.rstrip("/")


def default_distinct_id() -> str:
    """A stable id for this developer that does not give away the user or host name."""
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    return "agentfeed-" + hashlib.sha256(who.encode()).hexdigest()[:16]


def _posthog(env: Mapping[str, str]) -> PosthogSettings | None:
    pair = _pair(env, POSTHOG_HOST, POSTHOG_API_KEY)
    if pair is None:
        return None
    host, key = pair
    distinct = _get(env, POSTHOG_DISTINCT_ID) or default_distinct_id()
    return PosthogSettings(_http_url(POSTHOG_HOST, host), key, distinct)


def _mqtt(env: Mapping[str, str]) -> MqttSettings | None:
    url = _get(env, MQTT_URL)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise SettingsError(
            f"{MQTT_URL}={url!r}: expected mqtt://[user:password@]host[:port] (or mqtts://)"
        )
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise SettingsError(f"{MQTT_URL}={url!r}: {exc}") from None
    node = topic_id(_get(env, MQTT_NODE) or socket.gethostname())
    prefix = _get(env, MQTT_DISCOVERY_PREFIX) or "homeassistant"
    if "#" in prefix or "+" in prefix:
        raise SettingsError(f"{MQTT_DISCOVERY_PREFIX}={prefix!r}: no MQTT wildcards")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return MqttSettings(parts.hostname, port, tls, username, password, node, prefix.strip("/"))


def _webhook(env: Mapping[str, str]) -> WebhookSettings | None:
    pair = _pair(env, WEBHOOK_URL, WEBHOOK_SECRET)
    if pair is None:
        return None
    url, secret = pair
    return WebhookSettings(_http_url(WEBHOOK_URL, url), secret)


def _metrics_port(env: Mapping[str, str]) -> int | None:
    raw = _get(env, METRICS_PORT)
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{METRICS_PORT}={raw!r}: expected a TCP port (1-65535)")
    return int(raw)


def load(env: Mapping[str, str] | None = None) -> SinkSettings:
    """The sinks the environment switches on (``SettingsError`` for a bad setting)."""
    env = os.environ if env is None else env
    return SinkSettings(_posthog(env), _mqtt(env), _webhook(env), _metrics_port(env))
