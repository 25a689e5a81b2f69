"""A ``livebase serve`` of an app whose ``auth.py`` trusts a local OIDC issuer (its URL filled
in for ``ISSUER``) and the built-in accounts, with one account made through the CLI, as the
user-token tests need it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.apps import write_app
from tests.support.oidc_issuer import OidcIssuer
from tests.support.server import LivebaseServer


@contextmanager
def serve_signed_in_app(
    base: Path,
    files: dict[str, str],
    issuer: OidcIssuer,
    *,
    admin_key: str,
    email: str,
    password: str,
) -> Iterator[LivebaseServer]:
    app = write_app(
        base / "app", {**files, "auth.py": files["auth.py"].replace("ISSUER", issuer.url)}
    )
    with LivebaseServer.launch(base / "s", app=app, admin_key=admin_key) as server:
        added = subprocess.run(
            [sys.executable, "-m", "livebase", "users", "add", email,
             "--password-stdin", "--url", server.url, "--admin-key", admin_key],
            input=password, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        yield server
