"""``ActivityStore``: agentfeed's stored activity as a small Python API over Livebase's public
protocol (the Python client, ``livebase.client.SyncClient``), so a pipeline stage can run in
another process or on another machine.

    store = ActivityStore("http://127.0.0.1:3210", token=owner_token, stage="summaries")
    store.insert({"source": "ci", "type": "build", "summary": "main is green"})
    for activity in store.get_unprocessed(limit=50):
        ...                                    # the stage's work
        store.mark_processed([activity["event_id"]])
    store.query(ActivityFilter(project="/home/me/app", since=yesterday_ms))

The store signs in as the owner (an access token from ``POST /auth/token``). A stage sees every
event stored after it was registered (``register_stage``, done when the store is made with a
``stage``), exactly once until it marks it processed; the queue entry is written in the same
transaction as the event (a trigger on the server), so none is missed. Errors from the server
are ``ActivityStoreError`` with its code and message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal, Self

from livebase.client import FunctionError, SyncClient

UNREGISTER_BATCH = 1000
"""Queue rows ``pipeline:unregister_stage`` drops per call (the server's limit)."""

Activity = dict[str, Any]
"""A stored event as agentfeed keeps it (``event_id``, ``type``, ``source``, ``timestamp``,
``summary``, ``session_id``, ``project``, ``raw``...)."""


class ActivityStoreError(RuntimeError):
    """The server refused a call; ``code`` is its reason (``UnknownStage``, ``Forbidden``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ActivityFilter:
    """Stored events matching every field given (``None``: any); ``since``/``until`` bound the
    event's ``timestamp`` (milliseconds since the epoch, ``until`` excluded)."""

    project: str | None = None
    session_id: str | None = None
    type: str | None = None
    tool_name: str | None = None
    source: str | None = None
    origin: Literal["hook", "activity"] | None = None
    since: float | None = None
    until: float | None = None

    def to_args(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Inserted:
    """What ``insert`` did: ``stored``, ``duplicate`` (an ``id`` seen before) or ``rejected``
    (``reason`` says why, and the payload is kept with the owner's rejected posts)."""

    status: str
    event_id: str | None
    reason: str | None = None


class ActivityStore:
    """insert / get_unprocessed / mark_processed / query (and unregister) over one agentfeed
    server."""

    def __init__(self, url: str, *, token: str, stage: str | None = None) -> None:
        self.stage = stage
        self._client = SyncClient(url)
        self._client.set_auth(token)
        try:
            if stage is not None:
                self._call("mutation", "pipeline:register_stage", {"stage": stage})
        except BaseException:
            self._client.close()
            raise

    def _call(self, kind: str, path: str, args: dict[str, Any]) -> Any:
        call = self._client.mutation if kind == "mutation" else self._client.query
        try:
            return call(path, args)
        except FunctionError as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            code = str(data.get("code", "ServerError"))
            raise ActivityStoreError(code, str(data.get("message", exc.message))) from None

    def _stage(self, stage: str | None) -> str:
        chosen = stage or self.stage
        if chosen is None:
            raise ValueError("name a stage: ActivityStore(..., stage=...) or stage=...")
        return chosen

    def insert(self, activity: Activity) -> Inserted:
        """Store one activity in the ``POST /activity`` shape (``source`` and ``type``
        required; ``id``, ``summary``, ``sessionId``, ``cwd``, ``project``, ``timestamp``,
        ``details`` optional)."""
        result = self._call("mutation", "pipeline:insert", {"activity": activity})
        return Inserted(result["status"], result.get("event_id"), result.get("reason"))

    def get_unprocessed(self, limit: int = 100, *, stage: str | None = None) -> list[Activity]:
        """The stage's queued events, oldest first, at most ``limit`` (1..1000)."""
        args = {"stage": self._stage(stage), "limit": limit}
        found: list[Activity] = self._call("query", "pipeline:unprocessed", args)
        return found

    def mark_processed(self, event_ids: list[str], *, stage: str | None = None) -> int:
        """Take these events off the stage's queue; returns how many were on it."""
        args = {"stage": self._stage(stage), "event_ids": list(event_ids)}
        return int(self._call("mutation", "pipeline:mark_processed", args))

    def query(
        self,
        where: ActivityFilter | None = None,
        *,
        limit: int = 100,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[Activity]:
        """Stored events matching ``where``, by time, at most ``limit`` (1..1000)."""
        args = {"filter": (where or ActivityFilter()).to_args(), "limit": limit, "order": order}
        found: list[Activity] = self._call("query", "pipeline:find", args)
        return found

    def unregister(self, *, stage: str | None = None) -> int:
        """Stop queueing events for the stage and drop its queue; returns how many queued
        events it dropped."""
        chosen, dropped = self._stage(stage), 0
        while True:
            batch = int(self._call("mutation", "pipeline:unregister_stage", {"stage": chosen}))
            dropped += batch
            if batch < UNREGISTER_BATCH:
                return dropped

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
