"""What each call with a request id was given and gave back, for the dashboard's "open call":
its function, who called (``anonymous``, ``user`` or ``admin``), its arguments and result (as
JSON text, capped, with the values of secret-looking keys such as ``password`` or ``token``
redacted), its duration and outcome.

A call has a request id when it wrote log lines or failed (the ids the function log links to).
The records are a bounded ring in this process's memory: the newest ``RECORDS_KEPT`` calls.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from livebase.values.wire import to_wire

RECORDS_KEPT = 2000
VALUE_CAP = 4096
"""Characters of an argument or result kept; the rest is cut with a note of how much."""
SECRET_KEY = re.compile(r"token|password|passwd|secret|authorization|api[_-]?key|cookie", re.I)
REDACTED = "[redacted]"

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class CallRecord:
    request_id: str
    path: str
    kind: str
    caller: str
    args: str
    result: str | None
    duration_ms: float
    outcome: str
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "path": self.path,
            "kind": self.kind,
            "caller": self.caller,
            "args": self.args,
            "result": self.result,
            "durationMs": self.duration_ms,
            "outcome": self.outcome,
            "error": self.error,
        }


def redact(value: Any) -> Any:
    """``value`` with the value of every key that names a secret replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and SECRET_KEY.search(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def capped_json(value: Any, cap: int = VALUE_CAP) -> str:
    """``value`` as JSON text (Convex values in their JSON form), at most ``cap`` characters."""
    try:
        text = json.dumps(to_wire(redact(value)), ensure_ascii=False)
    except Exception:  # a value the wire form cannot carry: still say something
        text = json.dumps(repr(value))
    if len(text) <= cap:
        return text
    return f"{text[:cap]}… ({len(text) - cap} more characters)"


class CallRecords:
    """The newest ``RECORDS_KEPT`` calls' records, by request id."""

    def __init__(self, kept: int = RECORDS_KEPT) -> None:
        self.kept = kept
        self._records: OrderedDict[str, CallRecord] = OrderedDict()

    def add(self, record: CallRecord) -> None:
        self._records[record.request_id] = record
        while len(self._records) > self.kept:
            self._records.popitem(last=False)

    def get(self, request_id: str) -> CallRecord | None:
        return self._records.get(request_id)


def caller_kind(admin: bool, identity: dict[str, Any] | None) -> str:
    if identity is not None:
        return "user"
    return "admin" if admin else "anonymous"


def recorded(kind: str) -> Callable[[F], F]:
    """Record each call of a ``Runner.run_*`` method (``(self, path, args, *, admin,
    identity, ...)``) that ends with a request id in the runner's ``calls``."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        async def run(self: Any, path: str, args: Any, *rest: Any, **options: Any) -> Any:
            started = time.perf_counter()
            result = await method(self, path, args, *rest, **options)
            if result.request_id:
                failed = result.error is not None
                self.calls.add(
                    CallRecord(
                        result.request_id,
                        path,
                        kind,
                        caller_kind(bool(options.get("admin")), options.get("identity")),
                        capped_json(args),
                        None if failed else capped_json(result.value),
                        round((time.perf_counter() - started) * 1000, 3),
                        "failure" if failed else "success",
                        str(result.error) if failed else None,
                    )
                )
            return result

        return cast(F, run)

    return wrap


__all__ = ["CallRecord", "CallRecords", "capped_json", "recorded", "redact"]
