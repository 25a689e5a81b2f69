"""Sink settings from the environment: what switches each sink on, and clear errors for what
is half given or does not parse."""

from __future__ import annotations

import pytest

from agentfeed.sinks import settings


def test_nothing_set_means_no_sink() -> None:
    assert settings.load({}).names == []
    assert not settings.wanted({})


def test_each_sink_by_its_settings() -> None:
    env = {
        "AGENTFEED_POSTHOG_HOST": "https://eu.i.posthog.com/",
        "AGENTFEED_POSTHOG_API_KEY": "phc_x",
        "AGENTFEED_MQTT_URL": "mqtt://user:p%40ss@broker.local",
        "AGENTFEED_MQTT_NODE": "my laptop.local",
        "AGENTFEED_WEBHOOK_URL": "https://example.com/hook",
        "AGENTFEED_WEBHOOK_SECRET": "s",
    }
    config = settings.load(env)
    assert config.names == ["posthog", "mqtt", "webhook"] and settings.wanted(env)
    assert config.posthog is not None and config.posthog.host == "https://eu.i.posthog.com"
    assert config.posthog.distinct_id.startswith("agentfeed-")
    mqtt = config.mqtt
    assert mqtt is not None and (mqtt.host, mqtt.port, mqtt.tls) == ("broker.local", 1883, False)
    assert (mqtt.username, mqtt.password, mqtt.node) == ("user", "p@ss", "my_laptop_local")
    assert mqtt.discovery_prefix == "homeassistant"
    assert settings.load({"AGENTFEED_MQTT_URL": "mqtts://b"}).mqtt.port == 8883  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENTFEED_POSTHOG_HOST": "https://x"}, "AGENTFEED_POSTHOG_API_KEY is not"),
        ({"AGENTFEED_POSTHOG_API_KEY": "phc"}, "AGENTFEED_POSTHOG_HOST is not"),
        ({"AGENTFEED_WEBHOOK_URL": "https://x"}, "AGENTFEED_WEBHOOK_SECRET is not"),
        ({"AGENTFEED_WEBHOOK_SECRET": "s"}, "AGENTFEED_WEBHOOK_URL is not"),
        (
            {"AGENTFEED_WEBHOOK_URL": "ftp://x", "AGENTFEED_WEBHOOK_SECRET": "s"},
            "expected an http:// or https:// URL",
        ),
        ({"AGENTFEED_MQTT_URL": "http://broker"}, "expected mqtt://"),
        ({"AGENTFEED_MQTT_URL": "mqtt://b:99999"}, "AGENTFEED_MQTT_URL"),
        ({"AGENTFEED_SINKS_METRICS_PORT": "http"}, "expected a TCP port"),
    ],
)
def test_bad_settings_name_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.load(env)
