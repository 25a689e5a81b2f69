"""Commands that act on a running deployment (``livebase users``, ``env``, ``logs``,
``agentfeed owner``...): their shared options and a small client of the admin API.

They find the server the way ``livebase run`` does: ``--url`` (``LIVEBASE_URL``, else
``http://127.0.0.1:3210``) and the admin key from ``--admin-key``, ``LIVEBASE_ADMIN_KEY`` or the
data folder (``--data``). Every failure is one line on stderr, prefixed with the command's name.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any


def deployment_options(p: argparse.ArgumentParser, url_default: str) -> None:
    """``--url``, ``--admin-key``, ``--data`` and ``--timeout``."""
    p.add_argument("--url", default=url_default, help="the server (default: %(default)s)")
    p.add_argument("--admin-key", help="admin key (default: LIVEBASE_ADMIN_KEY or ./.livebase)")
    p.add_argument("--data", metavar="DIR", help="data folder to read the admin key from")
    p.add_argument("--timeout", type=float, default=60.0)


def _complain(text: str) -> None:
    sys.stderr.write(text + "\n")


class AdminClient:
    """A deployment's admin API for one command (``name`` prefixes what it prints).
    ``not_found`` is added to a 404's message (what the command needs the server to have)."""

    def __init__(
        self, name: str, url: str, admin_key: str, timeout: float, not_found: str = ""
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout
        self.not_found = not_found or " (is this a Livebase server of this version? check --url)"

    def call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of ``/api/<route>``; None after printing what went wrong."""
        request = urllib.request.Request(
            f"{self.url}/api/{route}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Convex {self.admin_key}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                data = json.loads(exc.read() or b"{}")
            except ValueError:
                data = {}
            code = data.get("code", exc.code) if isinstance(data, dict) else exc.code
            message = data.get("message", exc.reason) if isinstance(data, dict) else exc.reason
            hint = self.not_found if code == "NotFound" else ""
            _complain(f"{self.name}: {code}: {message}{hint}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            _complain(
                f"{self.name}: no Livebase server is running at {self.url} ({reason}); start "
                "it with `livebase serve APP_DIR` (or `livebase dev APP_DIR`), or pass --url"
            )
        return None
