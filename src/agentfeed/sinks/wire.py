"""Helpers the sinks share: record fields that stay home, stable ids, times, and one POST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from .base import Record, Unavailable, http_failure

NAMESPACE = uuid.UUID("5b1f3c1e-6a0d-4f43-9f0e-6a6765e7f3c1")
"""agentfeed's uuid5 namespace: one event id always gives the same derived UUID."""
INTERNAL = frozenset({"doc"})
"""Record fields that name things only this server knows (the document id)."""
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def event_uuid(event_id: str) -> str:
    """The UUID derived from an event id (PostHog's ``uuid``): a resend carries the same one."""
    return str(uuid.uuid5(NAMESPACE, event_id))


def iso(ms: float) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC with milliseconds (``...T10:15:03.123Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def public_fields(record: Record) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in INTERNAL}


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], where: str
) -> None:
    """POST ``body``; ``Unavailable`` when the server cannot be reached, the failure an answer
    that is not 2xx means (``base.http_failure``)."""
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{where} cannot be reached: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise http_failure(response.status_code, response.text, where)


class HttpSink:
    """What the HTTP sinks share: an ``httpx.AsyncClient`` opened and closed with the sink."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "open() the sink first"
        return self._http

    async def open(self) -> None:
        self._http = httpx.AsyncClient(timeout=TIMEOUT)

    async def after_batch(self) -> None:
        return None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
