"""The webhook sink: each batch POSTed as JSON to ``AGENTFEED_WEBHOOK_URL``, signed with
HMAC-SHA256 under ``AGENTFEED_WEBHOOK_SECRET``.

The body is ``{"type": "agentfeed.events", "events": [...]}`` (the records, oldest first). The
headers:

- ``X-Agentfeed-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Agentfeed-Signature``: ``sha256=`` + the lowercase hex HMAC-SHA256, keyed with the
  secret, of the signing string ``<timestamp>.<body>`` (the timestamp header's value, a dot,
  the raw body bytes). A receiver recomputes it, compares in constant time, and refuses a
  timestamp more than a few minutes old (a replayed request);
- ``X-Agentfeed-Delivery``: a UUID derived from the batch's event ids: the same batch sent again
  (a retry, a restart) has the same one.

A 2xx answer is success. 400, 409, 413, 415, 422 and 500 mean the receiver refused the content
(the batch is split and a record refused ``runner.ATTEMPTS`` times becomes a dead letter); any
other answer, a timeout or no connection means it is unavailable (retried until it answers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from livebase import __version__

from .base import Record
from .settings import WebhookSettings
from .wire import HttpSink, event_uuid, post, public_fields

MAX_BATCH = 100
SIGNATURE_HEADER = "X-Agentfeed-Signature"
TIMESTAMP_HEADER = "X-Agentfeed-Timestamp"
DELIVERY_HEADER = "X-Agentfeed-Delivery"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookSink(HttpSink):
    name = "webhook"
    max_batch = MAX_BATCH

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        super().__init__()

    async def deliver(self, records: list[Record]) -> None:
        body = json.dumps(
            {"type": "agentfeed.events", "events": [public_fields(r) for r in records]},
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"agentfeed/{__version__}",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.settings.secret, timestamp, body),
            DELIVERY_HEADER: event_uuid(",".join(r["id"] for r in records)),
        }
        await post(self.http, self.settings.url, body, headers, "the webhook")
