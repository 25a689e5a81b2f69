"""The agentfeed home (``$AGENTFEED_HOME``, default ``~/.agentfeed``): a private folder (0700)
that holds the hook, its config and spool, the server's data and keys (files 0600).

The server (``apps/agentfeed/settings.py``) makes ``server_key`` there when it starts;
``install-hook`` sends it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SERVER_KEY_FILE = "server_key"
PRIVATE_UMASK = 0o077
"""The umask ``agentfeed serve`` gives the server: what it creates is 0600 (folders 0700)."""


def agentfeed_home() -> Path:
    """``$AGENTFEED_HOME``, else ``~/.agentfeed`` (absolute, not resolved)."""
    env = os.environ.get("AGENTFEED_HOME")
    return Path(env).expanduser().absolute() if env else Path.home() / ".agentfeed"


def private_home(home: Path) -> Path:
    """Make ``home`` (and missing parents) with mode 0700; an existing home of ours that others
    may read (made by an earlier version, 0755) is made 0700 too. Returns ``home``."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = home.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        home.chmod(0o700)
    return home


def read_key(home: Path, name: str) -> str | None:
    """The key kept in ``home/name``, or None if there is none."""
    try:
        key = (home / name).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return key or None
