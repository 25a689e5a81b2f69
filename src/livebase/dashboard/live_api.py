"""The dashboard's live figures that no table holds: the function log (its head, lines after a
cursor, one call's lines) and the health counters of ``/metrics``.

They read no table, so no commit re-runs them. ``LivePush`` re-runs them instead: a new log line
re-runs every subscription to ``logHead`` (at most every ``LOG_PUSH_SECONDS``), and while someone
watches ``health`` its subscriptions are re-run every second; the page is pushed what changed
and never polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livebase.dashboard.defs import PREFIX, optional_number, system_def
from livebase.errors import BadRequestError
from livebase.functions.registry import FunctionDef
from livebase.values.validators import v

if TYPE_CHECKING:
    from livebase.server import Deployment

LOG_HEAD = f"{PREFIX}:logHead"
ADMIN_VERSIONS = f"{PREFIX}:adminVersions"
HEALTH = f"{PREFIX}:health"
LOG_PUSH_SECONDS = 0.1
"""Log lines written within this time reach the page in one push (a busy app writes many)."""
HEALTH_SECONDS = 1.0
HEALTH_IDLE_SECONDS = 3.0
"""With no re-run of ``health`` for this long nobody watches it: the ticking stops."""
MAX_CALL_LINES = 1000


class LivePush:
    """Re-runs the log and health subscriptions of one deployment when their figures change."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._log_push_due = False
        self._health_asked = 0.0
        self._health_ticking = False

    def _invalidate(self, path: str) -> None:
        sync = getattr(self.deployment, "sync", None)
        if sync is not None:
            sync.manager.invalidate(lambda shared: shared.path == path)

    def log_written(self) -> None:
        """A log line was recorded (``LogStore.on_record``, on the event loop)."""
        if self._log_push_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside the server's loop: nobody subscribes there
            return
        self._log_push_due = True
        loop.call_later(LOG_PUSH_SECONDS, self._push_logs)

    def _push_logs(self) -> None:
        self._log_push_due = False
        self._invalidate(LOG_HEAD)

    def health_read(self) -> None:
        """``health`` ran: keep re-running its subscriptions every second while it is read."""
        self._health_asked = time.monotonic()
        if self._health_ticking:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._health_ticking = True
        loop.call_later(HEALTH_SECONDS, self._tick)

    def _tick(self) -> None:
        if time.monotonic() - self._health_asked > HEALTH_IDLE_SECONDS:
            self._health_ticking = False
            return
        self._invalidate(HEALTH)
        asyncio.get_running_loop().call_later(HEALTH_SECONDS, self._tick)


class AdminVersions:
    """Counters of changes to what no table holds but the dashboard shows live: environment
    variables (``env``) and built-in accounts (``users``). A change re-runs the subscriptions to
    ``adminVersions``; the Environment and Users panels then read their list again."""

    def __init__(self, invalidate: Callable[[str], None]) -> None:
        self._invalidate = invalidate
        self.versions = {"env": 0, "users": 0}

    def bump(self, what: str) -> None:
        self.versions[what] += 1
        self._invalidate(ADMIN_VERSIONS)


def parse_metrics(text: str) -> dict[str, float]:
    """Sum every sample of each metric in a Prometheus text rendering (labels folded);
    histograms give ``name_sum`` and ``name_count``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        if name.endswith("_bucket"):
            continue
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def live_functions(deployment: Deployment) -> list[FunctionDef]:
    push = LivePush(deployment)

    def log_head(ctx: Any) -> dict[str, Any]:
        store = deployment.runner.logs
        store.on_record = push.log_written  # set anew after a reload: one listener
        return {"last": store.last, "oldest": store.oldest}

    def logs(ctx: Any, tick: float = 0, after: float = 0, limit: float = 500) -> dict[str, Any]:
        found, cursor = deployment.runner.logs.after(
            int(after), limit=max(1, min(int(limit), 2000))
        )
        return {
            "entries": [e.to_json() for e in found if not e.path.startswith("_system/")],
            "cursor": cursor,
        }

    def call(ctx: Any, requestId: str) -> dict[str, Any] | None:
        """Every line the call ``requestId`` wrote, how it ended and, while the runner keeps
        them, its arguments, result and timing (None once its lines have left the log)."""
        if not requestId:
            raise BadRequestError("requestId must not be empty")
        store = deployment.runner.logs
        found, _ = store.after(store.oldest - 1, limit=store.limit)
        lines = [e for e in found if e.request_id == requestId][:MAX_CALL_LINES]
        if not lines:
            return None
        record = deployment.runner.calls.get(requestId)
        failure = next((e.message for e in lines if e.failure), None)
        first = lines[0]
        return {
            "requestId": requestId,
            "path": first.path,
            "kind": first.kind,
            "source": first.source,
            "timestamp": round(first.ts * 1000, 3),
            "outcome": "failure" if failure is not None else "success",
            "error": failure,
            "lines": [e.to_json() for e in lines if not e.failure],
            "record": record.to_json() if record is not None else None,
        }

    failures = {"cursor": 0, "total": 0}

    def health(ctx: Any, tick: float = 0) -> dict[str, Any]:
        push.health_read()
        store = deployment.runner.logs
        while True:  # failed calls since the dashboard first asked, counted once each
            found, cursor = store.after(failures["cursor"], level="ERROR", limit=5000)
            failures["total"] += sum(1 for e in found if e.failure)
            if cursor == failures["cursor"]:
                break
            failures["cursor"] = cursor
        figures = parse_metrics(deployment.metrics.render())
        figures["livebase_function_failures_total"] = float(failures["total"])
        return {"at": time.time() * 1000, "figures": figures}

    def admin_versions(ctx: Any) -> dict[str, int]:
        found = getattr(deployment, "admin_versions", None)
        return dict(found.versions) if found is not None else {"env": 0, "users": 0}

    return [
        system_def("logHead", "query", {}, log_head),
        system_def("adminVersions", "query", {}, admin_versions),
        system_def(
            "logs",
            "query",
            {"tick": optional_number(), "after": optional_number(), "limit": optional_number()},
            logs,
        ),
        system_def("call", "query", {"requestId": v.string()}, call),
        system_def("health", "query", {"tick": optional_number()}, health),
    ]
