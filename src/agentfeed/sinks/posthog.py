"""The PostHog sink: events to PostHog's batch capture API (``POST <host>/batch/``).

One request per batch: ``{"api_key", "historical_migration": false, "batch": [...]}``, each
event with ``event`` (``agentfeed_`` + the hook type in snake case, e.g.
``agentfeed_post_tool_use``), ``timestamp`` (when it happened), ``uuid`` (uuid5 of the event
id, so a batch sent again after a crash or a retry is the same events to PostHog, never new
ones) and ``properties``: ``distinct_id`` (``AGENTFEED_POSTHOG_DISTINCT_ID``, default a hash of
user@host), ``$session_id`` (the agent session, PostHog's session property), the record's
fields, and person properties (``$set``: source and last project; ``$set_once``: first seen).
"""

from __future__ import annotations

import json
import re
from typing import Any

from livebase import __version__

from .base import Record
from .settings import PosthogSettings
from .wire import HttpSink, event_uuid, iso, post, public_fields

MAX_BATCH = 100
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def event_name(kind: str) -> str:
    """``PostToolUse`` -> ``agentfeed_post_tool_use``."""
    return "agentfeed_" + re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", kind).lower()).strip("_")


def capture(record: Record, distinct_id: str) -> dict[str, Any]:
    """One event of the ``batch`` array."""
    when = iso(record["timestamp"])
    properties: dict[str, Any] = {
        "distinct_id": distinct_id,
        "$lib": "agentfeed",
        "$lib_version": __version__,
        **{
            f"agentfeed_{k}" if k.startswith("$") else k: v
            for k, v in public_fields(record).items()
        },
        "event_id": record["id"],
        "$set": {"agentfeed_source": record.get("source"), "agentfeed_last_seen": when},
        "$set_once": {"agentfeed_first_seen": when},
    }
    properties.pop("id", None)
    if record.get("session_id"):
        properties["$session_id"] = record["session_id"]
    if record.get("project_name"):
        properties["$set"]["agentfeed_last_project"] = record["project_name"]
    return {
        "event": event_name(record["type"]),
        "properties": properties,
        "timestamp": when,
        "uuid": event_uuid(record["id"]),
    }


class PosthogSink(HttpSink):
    name = "posthog"
    max_batch = MAX_BATCH

    def __init__(self, settings: PosthogSettings) -> None:
        self.settings = settings
        self.url = f"{settings.host}/batch/"
        super().__init__()

    async def deliver(self, records: list[Record]) -> None:
        body = {
            "api_key": self.settings.api_key,
            "historical_migration": False,
            "batch": [capture(record, self.settings.distinct_id) for record in records],
        }
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": f"agentfeed/{__version__}"}
        await post(self.http, self.url, data, headers, "PostHog")
