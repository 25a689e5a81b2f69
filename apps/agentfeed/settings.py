"""agentfeed's settings, from the environment of the server process.

- ``AGENTFEED_KEY``: when set, ``POST /event``, ``POST /activity`` and ``GET /raw/...`` need the
  header ``X-Agentfeed-Key: <key>`` (401 otherwise). When unset, they are open. (Livebase does
  not tell an app whether it runs under ``livebase dev`` or ``serve``, so the key cannot yet be
  required by default outside dev: set it for any server others can reach.)
- ``AGENTFEED_OWNER_KEY``: the owner key. A public function called with ``ownerKey`` equal to
  it sees (and may change) everything; without it, only public projects, redacted. When unset,
  nobody is the owner through the public functions (the admin key still reaches the data
  through internal functions).
- ``AGENTFEED_IDLE_MINUTES`` (default 30): an active session that receives nothing for this long
  is ended by a cron (reason ``idle``).
"""

from __future__ import annotations

import hmac
import os

KEY_ENV = "AGENTFEED_KEY"
KEY_HEADER = "x-agentfeed-key"
OWNER_KEY_ENV = "AGENTFEED_OWNER_KEY"
OWNER_KEY_HEADER = "x-agentfeed-owner-key"
IDLE_ENV = "AGENTFEED_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0


def api_key() -> str | None:
    return os.environ.get(KEY_ENV) or None


def authorized(given: str | None) -> bool:
    """Whether a request with this key header may post (constant-time comparison)."""
    key = api_key()
    if key is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def owner_key() -> str | None:
    return os.environ.get(OWNER_KEY_ENV) or None


def is_owner_key(given: str) -> bool:
    """Whether ``given`` is the owner key (constant-time; never true when none is set)."""
    key = owner_key()
    return key is not None and hmac.compare_digest(given.encode(), key.encode())


def idle_minutes() -> float:
    raw = os.environ.get(IDLE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_IDLE_MINUTES
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{IDLE_ENV}={raw!r}: expected a number of minutes") from None
    if not minutes > 0:
        raise ValueError(f"{IDLE_ENV}={raw!r}: expected a positive number of minutes")
    return minutes
