"""Built-in accounts in tests: make one through the admin API, sign in at ``/auth/token``; and a
``livebase serve`` of an app whose ``auth.py`` trusts a local OIDC issuer (its URL filled in for
``ISSUER``) and the built-in accounts, with one account made through the CLI, as the user-token
tests need it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.apps import write_app
from tests.support.oidc_issuer import OidcIssuer
from tests.support.server import LivebaseServer


def add_account(url: str, admin_key: str, email: str, password: str) -> None:
    """Make a built-in account (``POST /api/admin/users`` with the admin key)."""
    response = httpx.post(
        f"{url}/api/admin/users",
        json={"email": email, "password": password},
        headers={"authorization": f"Convex {admin_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def password_sign_in(url: str, email: str, password: str) -> str:
    """An access token for a built-in account (``POST /auth/token``, password grant)."""
    form = {"grant_type": "password", "username": email, "password": password}
    response = httpx.post(f"{url}/auth/token", data=form, timeout=60)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


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
