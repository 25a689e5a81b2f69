"""Home Assistant MQTT discovery for agentfeed: one device-based discovery message
(``<prefix>/device/<device id>/config``, retained, QoS 1) declaring the sensors and the activity
event entity, following HA's documented MQTT discovery schema (device and origin blocks, each
component with ``platform`` and ``unique_id``; ``default_entity_id`` rather than the deprecated
``object_id``)."""

from __future__ import annotations

from typing import Any

from livebase import __version__

EVENT_TYPES: dict[str, str] = {
    "SessionStart": "session_started",
    "SessionEnd": "session_ended",
    "UserPromptSubmit": "prompt",
    "PreToolUse": "tool_started",
    "PostToolUse": "tool_finished",
    "PostToolUseFailure": "tool_failed",
    "PermissionRequest": "needs_input",
    "Notification": "notification",
    "Stop": "turn_finished",
    "StopFailure": "error",
    "SubagentStart": "subagent_started",
    "SubagentStop": "subagent_finished",
}
"""The HA ``event_type`` of each hook type; any other type is ``activity``."""
OTHER_EVENT_TYPE = "activity"


def event_type(kind: str) -> str:
    return EVENT_TYPES.get(kind, OTHER_EVENT_TYPE)


def all_event_types() -> list[str]:
    return sorted({*EVENT_TYPES.values(), OTHER_EVENT_TYPE})


def device_id(node: str) -> str:
    return f"agentfeed_{node}"


def config_topic(prefix: str, node: str) -> str:
    return f"{prefix}/device/{device_id(node)}/config"


def discovery(node: str, base: str) -> dict[str, Any]:
    """The device discovery payload for topics under ``base`` (``agentfeed/<node>``)."""
    dev = device_id(node)
    state = f"{base}/state"

    def sensor(key: str, name: str, **extra: Any) -> dict[str, Any]:
        return {
            "platform": "sensor",
            "name": name,
            "unique_id": f"{dev}_{key}",
            "default_entity_id": f"sensor.{dev}_{key}",
            "state_topic": state,
            "value_template": f"{{{{ value_json.{key} }}}}",
            **extra,
        }

    return {
        "device": {
            "identifiers": [dev],
            "name": f"agentfeed ({node})",
            "manufacturer": "Livebase",
            "model": "agentfeed",
            "sw_version": __version__,
        },
        "origin": {"name": "agentfeed", "sw_version": __version__},
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "components": {
            f"{dev}_active_sessions": sensor(
                "active_sessions", "Active sessions", state_class="measurement",
                unit_of_measurement="sessions", icon="mdi:robot",
            ),
            f"{dev}_events_today": sensor(
                "events_today", "Events today", state_class="total_increasing",
                unit_of_measurement="events", icon="mdi:counter",
            ),
            f"{dev}_cost_today": sensor(
                "cost_today_usd", "Cost today", device_class="monetary", state_class="total",
                unit_of_measurement="USD",
            ),
            f"{dev}_current_intent": sensor(
                "current_intent", "Current intent", icon="mdi:target",
            ),
            f"{dev}_activity": {
                "platform": "event",
                "name": "Activity",
                "unique_id": f"{dev}_activity",
                "default_entity_id": f"event.{dev}_activity",
                "state_topic": f"{base}/activity",
                "event_types": all_event_types(),
            },
        },
    }  # fmt: skip
