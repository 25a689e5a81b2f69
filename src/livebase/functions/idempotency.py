"""Who called what: the fingerprint an idempotency record is bound to.

A mutation called with an idempotency key (HTTP ``Idempotency-Key``, or a sync session's
``sessionId`` and ``requestId``) stores its outcome under that key, and a resent call gets the
stored outcome instead of running again. The outcome may hold anything the function returned to
*its* caller, so it is replayed only to the same caller (admin, anonymous, or one user identity)
calling the same function with the same arguments; the engine compares this fingerprint and
refuses any other call with ``IdempotencyKeyReusedError``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from livebase.values.types import Value
from livebase.values.wire import to_wire


def caller_of(*, admin: bool, identity: dict[str, Any] | None) -> Any:
    """The caller as JSON: ``"admin"``, ``"anonymous"`` or the verified identity's claims."""
    if admin:
        return "admin"
    if identity is None:
        return "anonymous"
    return {"identity": to_wire(identity)}


def call_fingerprint(
    path: str, args: Value, *, admin: bool, identity: dict[str, Any] | None
) -> str:
    """SHA-256 over the caller, the canonical function path and the arguments (wire JSON with
    sorted keys, so the same call always gives the same fingerprint)."""
    caller = caller_of(admin=admin, identity=identity)
    call = {"caller": caller, "path": path, "args": to_wire(args)}
    return hashlib.sha256(orjson.dumps(call, option=orjson.OPT_SORT_KEYS)).hexdigest()


__all__ = ["call_fingerprint", "caller_of"]
