"""agentfeed's settings, from the environment of the server process.

- ``AGENTFEED_KEY``: ``POST /event``, ``POST /activity``, ``/import/*`` and ``GET /raw/...`` need
  the header ``X-Agentfeed-Key: <key>`` (401 otherwise). When unset: under ``livebase dev`` they
  are open; otherwise (``livebase serve``, ``agentfeed serve``) the key is the one kept in
  ``$AGENTFEED_HOME/server_key`` (default ``~/.agentfeed``), made when the server starts, which
  ``agentfeed install-hook`` on the same machine picks up by itself.
- The owner does not prove itself here: it signs in (``auth.py``, ``access.py``).
- ``AGENTFEED_IDLE_MINUTES`` (default 30): an active session that receives nothing for this long
  is ended by a cron (reason ``idle``).

Key files are made with mode 0600 in a home directory made with mode 0700.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from livebase import is_dev

KEY_ENV = "AGENTFEED_KEY"
KEY_HEADER = "x-agentfeed-key"
IDLE_ENV = "AGENTFEED_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0


SERVER_KEY_FILE = "server_key"
_keys: dict[Path, str] = {}


def agentfeed_home() -> Path:
    return Path(os.environ.get("AGENTFEED_HOME") or Path.home() / ".agentfeed").absolute()


def started_by_cli() -> bool:
    """Whether the ``livebase`` command (``serve`` or ``dev``) runs this app: it sets
    ``LIVEBASE_DEV`` before loading it. Embedded or loaded by a test, the variable is unset."""
    return os.environ.get("LIVEBASE_DEV") in ("0", "1")


def api_key() -> str | None:
    """The key posts need: ``AGENTFEED_KEY``; else none in development; else the server key."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env
    if is_dev():
        return None
    return server_key()


def _key_file(name: str, *, create: bool) -> str | None:
    """The key kept in ``$AGENTFEED_HOME/<name>``; made (0600, ``af_`` + 32 random characters)
    if missing and ``create``, else None if missing."""
    path = agentfeed_home() / name
    if path in _keys:
        return _keys[path]
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = "af_" + secrets.token_urlsafe(24)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            key = path.read_text().strip()
        else:
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
    if key:
        _keys[path] = key
    return key or None


def server_key() -> str:
    """The key kept in ``$AGENTFEED_HOME/server_key`` (0600), made on first use."""
    key = _key_file(SERVER_KEY_FILE, create=True)
    assert key is not None, f"{agentfeed_home() / SERVER_KEY_FILE} is empty"
    return key


def make_keys() -> None:
    """At start under the ``livebase`` command: make the server key before the first request
    (``install-hook`` reads it), unless ``AGENTFEED_KEY`` is set or under ``livebase dev``."""
    if started_by_cli() and not os.environ.get(KEY_ENV) and not is_dev():
        server_key()


def authorized(given: str | None) -> bool:
    """Whether a request with this key header may post (constant-time comparison)."""
    key = api_key()
    if key is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def idle_minutes() -> float:
    return minutes_setting(IDLE_ENV, DEFAULT_IDLE_MINUTES)


def minutes_setting(name: str, default: float) -> float:
    """A positive number of minutes from the environment variable ``name`` (``default`` when
    unset); a clear error naming it otherwise."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number of minutes") from None
    if not minutes > 0:
        raise ValueError(f"{name}={raw!r}: expected a positive number of minutes")
    return minutes
