"""Settings: every limit and knob with its default, bound and ``LIVEBASE_*`` environment name.

Defaults are at least as generous as Convex's published limits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from livebase.values.types import MAX_WIRE_NESTING

FUNCTION_WALL_FACTOR = 5.0
"""A query or mutation's time limit counts its own CPU time: on a machine busy with other work
a call gets less of the CPU per second and is not failed for it. In wall-clock time it is
stopped at this many times the limit all the same (a call that waits without computing)."""


@dataclass(frozen=True)
class Limits:
    """Per-call limits; a call that exceeds one fails with ``LimitExceeded`` naming the limit."""

    max_document_bytes: int = 1 << 20
    """Size of one stored document (1 MiB)."""
    max_nesting: int = 16
    """Depth of nested arrays/objects in a value: stored documents, and arguments as they are
    decoded (1..64; 64 is Convex's limit for any value)."""
    max_documents_scanned: int = 32_000
    """Documents a query or mutation may read, including rows skipped by ``.filter``."""
    max_bytes_read: int = 16 << 20
    max_bytes_written: int = 16 << 20
    max_documents_written: int = 16_000
    max_function_seconds: float = 1.0
    """CPU time of one query or mutation (user code plus database work, on its thread), and
    ``FUNCTION_WALL_FACTOR`` times that in wall-clock time."""
    max_action_seconds: float = 600.0
    max_args_bytes: int = 16 << 20
    max_http_body_bytes: int = 20 << 20
    """Request body of an app's own HTTP route (``http.py``); larger bodies get a 413."""
    max_log_lines: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.max_nesting <= MAX_WIRE_NESTING:
            raise ValueError(
                f"LIVEBASE_MAX_NESTING={self.max_nesting}: must be 1..{MAX_WIRE_NESTING}"
            )


@dataclass(frozen=True)
class Settings:
    limits: Limits = field(default_factory=Limits)
    mutation_retries: int = 4
    """How often a mutation that lost a write race is re-run before its caller sees an error."""
    action_isolation: str = "process"
    """Where actions run: ``process`` (default), a pool of worker processes that the server
    kills at an action's time limit and whose CPU use never holds the server's loop; or
    ``thread``, a pool of threads in the server process (see ``docs/functions.md``)."""
    action_processes: int = 0
    """Worker processes running actions at once (``process`` isolation); more wait. 0: one per
    CPU, 2 to 4."""
    action_nice: int = 10
    """How much lower the CPU priority of action worker processes is than the server's (Unix
    ``nice``, 0..19): when actions keep every core busy, clients' requests still come first."""
    inline_budget_ms: float = 20.0
    """How long a query or mutation may hold the server's event loop before it counts as slow
    (logged once per function, counted in ``livebase_slow_function_calls_total``); 0: off."""
    query_isolation: str = "budget"
    """Where queries and mutations run: ``budget`` (default), on the event loop until one has
    computed for ``inline_budget_ms``, then (and for a while after) in a worker process; or
    ``process``, always in a worker process (about 0.5 ms more a call; for apps whose functions
    may spend seconds in one C call, which nothing can interrupt on the loop)."""
    query_processes: int = 0
    """Worker processes running slow queries and mutations (over ``inline_budget_ms``) off the
    server's event loop; more wait. 0: one per CPU, 2 to 4; -1: never (they hold the loop)."""
    action_threads: int = 32
    """Actions running at the same time with ``thread`` isolation (a thread each); more wait."""
    scheduler_parallelism: int = 8
    """Scheduled jobs run at the same time (actions overlap; mutations still commit in order)."""
    scheduled_job_retention_seconds: float = 7 * 86400.0
    """How long finished rows stay in ``_scheduled_functions``."""
    change_retention_seconds: float = 7 * 86400.0
    """How long the commit log keeps changes for ``/api/changes`` (the newest 10,001 commits are
    always kept); an older change-stream cursor gets ``CursorExpired``."""
    idempotency_retention_seconds: float = 86400.0
    """How long a mutation's outcome stays stored under its idempotency key (an HTTP
    ``Idempotency-Key``, or a sync session's request): a call resent later runs again."""
    http_max_request_target: int = 8 << 10
    """Bytes of a request target (path and query); longer gets 414."""
    http_max_head_bytes: int = 64 << 10
    """Bytes of a request line plus headers; larger gets 431."""
    http_max_headers: int = 100
    """Headers in one request; more gets 431."""
    http_head_timeout_seconds: float = 20.0
    """A request head must be complete this long after its first byte, else 408 and close."""
    http_body_timeout_seconds: float = 30.0
    """A request body that gets no byte for this long, or that after this long still arrives
    slower than ``http_body_min_rate``, gets 408 and the connection is closed."""
    http_body_min_rate: float = 1024.0
    """Bytes per second a request body must keep up after its first ``http_body_timeout``."""
    http_idle_timeout_seconds: float = 75.0
    """A keep-alive connection with no request for this long is closed."""
    sqlite_cache_mib: int = 64
    """SQLite's page cache, per connection (the embedded database keeps two): memory the server
    may fill with database pages it reads or writes often. The operating system caches the file
    too, so a smaller cache costs little more than a copy from its cache."""
    dev: bool = False
    """Set by ``livebase dev`` (``LIVEBASE_DEV=1``): a bug in a function or HTTP route reaches
    its caller with its type, message and the app's own traceback frames, not only ``Server
    Error`` and a request id (``functions.dev_errors``)."""
    # -- the built-in issuer (livebase.auth.builtin; docs/auth.md, "Built-in accounts") --
    auth_issuer: str = ""
    """The built-in issuer's URL: the ``iss`` of its tokens and the base of its endpoints in
    the discovery document. Set it to the URL clients reach the server at; empty: the server's
    own listen address (``http://127.0.0.1:3210`` for ``livebase dev``)."""
    auth_access_token_seconds: int = 900
    """Lifetime of an access token (a signed JWT, not revocable)."""
    auth_refresh_token_seconds: int = 30 * 86400
    """Lifetime of a refresh token; each use gives a new one with a fresh lifetime."""
    auth_account_failures: int = 5
    """Failed sign-ins per account within ``auth_failure_window_seconds`` before it is locked
    for the rest of the window (429)."""
    auth_address_failures: int = 20
    """Failed sign-ins per client address within the window before that address is locked."""
    auth_failure_window_seconds: int = 900
    auth_client_ip_header: str = ""
    """Behind a reverse proxy: the header it puts the client's address in (``x-forwarded-for``,
    ``x-real-ip``), used to rate-limit sign-ins per address. Only set it when the proxy
    overwrites the header: a client could send any value."""
    # -- end of the built-in issuer's settings --

    def __post_init__(self) -> None:
        if self.action_isolation not in ("process", "thread"):
            raise ValueError(
                f"LIVEBASE_ACTION_ISOLATION={self.action_isolation!r}: use process or thread"
            )
        if not 0 <= self.action_nice <= 19:
            raise ValueError(f"LIVEBASE_ACTION_NICE={self.action_nice}: must be 0..19")
        if self.action_processes < 0:
            raise ValueError(f"LIVEBASE_ACTION_PROCESSES={self.action_processes}: must be >= 0")
        if self.query_isolation not in ("budget", "process"):
            raise ValueError(
                f"LIVEBASE_QUERY_ISOLATION={self.query_isolation!r}: use budget or process"
            )
        if self.query_processes < -1:
            raise ValueError(f"LIVEBASE_QUERY_PROCESSES={self.query_processes}: must be >= -1")
        if self.inline_budget_ms < 0:
            raise ValueError(f"LIVEBASE_INLINE_BUDGET_MS={self.inline_budget_ms}: must be >= 0")
        if self.action_threads < 1:
            raise ValueError(f"LIVEBASE_ACTION_THREADS={self.action_threads}: must be >= 1")
        for name in (
            "auth_access_token_seconds",
            "auth_refresh_token_seconds",
            "auth_account_failures",
            "auth_address_failures",
            "auth_failure_window_seconds",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"LIVEBASE_{name.upper()}={getattr(self, name)}: must be >= 1")


def _env_value(name: str, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        flag = raw.strip().lower()
        if flag not in ("1", "true", "yes", "0", "false", "no", ""):
            raise ValueError(f"{name}={raw!r}: expected 1 or 0")
        return flag in ("1", "true", "yes")
    try:
        return type(default)(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a {type(default).__name__}") from None


def settings_from_env() -> Settings:
    """Read ``LIVEBASE_MAX_DOCUMENT_BYTES`` etc. (the field name upper-cased) over the defaults."""
    base = Limits()
    overrides = {
        f.name: _env_value(f"LIVEBASE_{f.name.upper()}", getattr(base, f.name))
        for f in fields(base)
    }
    knobs = {
        f.name: _env_value(f"LIVEBASE_{f.name.upper()}", getattr(Settings, f.name))
        for f in fields(Settings)
        if f.name != "limits"
    }
    return Settings(limits=replace(base, **overrides), **knobs)
