"""Home Assistant's MQTT discovery schema, as its documentation states it (the MQTT integration
page, "MQTT Discovery" and the sensor and event platform pages), as a checker for the discovery
payloads agentfeed publishes: the topic format, abbreviations expanded, device-based discovery's
required ``device``/``origin``/``components``, each component's ``platform`` and
``unique_id``, each platform's required options and allowed values."""

from __future__ import annotations

import re
from typing import Any

TOPIC = re.compile(
    r"^(?P<prefix>[^#+]+)/(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config$"
)
ABBREVIATIONS = {
    "dev": "device", "o": "origin", "cmps": "components", "p": "platform",
    "uniq_id": "unique_id", "stat_t": "state_topic", "val_tpl": "value_template",
    "avty_t": "availability_topic", "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available", "dev_cla": "device_class",
    "stat_cla": "state_class", "unit_of_meas": "unit_of_measurement", "evt_typ": "event_types",
    "def_ent_id": "default_entity_id", "ids": "identifiers", "mf": "manufacturer",
    "mdl": "model", "sw": "sw_version", "name": "name",
}  # fmt: skip
PLATFORMS = {
    "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover",
    "device_tracker", "device_trigger", "event", "fan", "humidifier", "image", "lawn_mower",
    "light", "lock", "notify", "number", "scene", "select", "sensor", "siren", "switch",
    "tag", "text", "update", "vacuum", "valve", "water_heater",
}  # fmt: skip
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
MONETARY_STATE_CLASSES = {"total", None}


def expand(value: Any) -> Any:
    if isinstance(value, dict):
        return {ABBREVIATIONS.get(k, k): expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def problems(topic: str, payload: dict[str, Any]) -> list[str]:
    """What in a device-based discovery message breaks HA's documented schema (empty: none)."""
    found: list[str] = []
    match = TOPIC.match(topic)
    if match is None or match["component"] != "device":
        return [f"topic {topic!r} is not <prefix>/device/[<node_id>/]<object_id>/config"]
    config = expand(payload)
    device = config.get("device")
    if not isinstance(device, dict) or not (device.get("identifiers") or device.get("connections")):
        found.append("device needs identifiers or connections")
    origin = config.get("origin")
    if not isinstance(origin, dict) or not isinstance(origin.get("name"), str):
        found.append("device-based discovery needs origin with a name")
    if config.get("qos", 0) not in (0, 1, 2):
        found.append("qos must be 0, 1 or 2")
    components = config.get("components")
    if not isinstance(components, dict) or not components:
        return [*found, "components must be a non-empty object"]
    for key, component in components.items():
        found += [f"{key}: {p}" for p in _component(config, component)]
    return found


def _component(root: dict[str, Any], c: dict[str, Any]) -> list[str]:
    found = []
    platform = c.get("platform")
    if platform not in PLATFORMS:
        return [f"unknown platform {platform!r}"]
    if not isinstance(c.get("unique_id"), str) or not c["unique_id"]:
        found.append("unique_id is required in device-based discovery")
    if "object_id" in c:
        found.append("object_id is deprecated: use default_entity_id")
    entity = c.get("default_entity_id")
    if entity is not None and not re.fullmatch(rf"{platform}\.[a-z0-9_]+", entity):
        found.append(f"default_entity_id {entity!r} must be {platform}.<lowercase id>")
    state_topic = c.get("state_topic", root.get("state_topic"))
    if platform in ("sensor", "event") and not isinstance(state_topic, str):
        found.append("state_topic is required")
    if isinstance(state_topic, str) and ("#" in state_topic or "+" in state_topic):
        found.append("state_topic must not hold wildcards")
    if platform == "sensor":
        state_class = c.get("state_class")
        if state_class is not None and state_class not in STATE_CLASSES:
            found.append(f"state_class {state_class!r} is not one of {sorted(STATE_CLASSES)}")
        if c.get("device_class") == "monetary" and state_class not in MONETARY_STATE_CLASSES:
            found.append("a monetary sensor's state_class must be total (or none)")
        if "unit_of_measurement" in c and not isinstance(c["unit_of_measurement"], str):
            found.append("unit_of_measurement must be a string")
    if platform == "event":
        types = c.get("event_types")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            found.append("event_types must be a non-empty list of strings")
    return found
