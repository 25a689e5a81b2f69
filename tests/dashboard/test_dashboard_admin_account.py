"""``/_dashboard`` signed in with an admin account in headless Chromium against a real server (a
copy of examples/chat with built-in accounts): a plain account is refused with what to do,
``livebase users grant-admin`` lets it use the panels, and ``livebase users revoke-admin`` from
the CLI signs the open page out at once. On the way, an account added and an environment variable
set from the CLI appear in the open Users and Environment panels without a reload (pushed). Its
secrets (password, session token, admin key) never reach a URL or the console; axe-core finds no
serious violation on the sign-in page. Screenshots go to ``docs/dashboard/accounts/`` when
``LIVEBASE_DASHBOARD_SCREENSHOTS=1``.

``tests/clients/dashboard/admin_account.mjs`` does the browser side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from .test_dashboard_browser import ADMIN_KEY, CHROMIUM, DRIVER_DIR, REPO_ROOT, start_chat_server

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]

PASSWORD = "a long enough password"


def test_sign_in_with_an_admin_account_in_chromium(tmp_path: Path) -> None:
    server = start_chat_server(tmp_path)
    try:
        email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
        added = httpx.post(
            f"{server.url}/api/admin/users",
            json={"email": email, "password": PASSWORD},
            headers={"authorization": f"Convex {ADMIN_KEY}"},
            timeout=60,
        )
        assert added.status_code == 200, added.text
        shots = (
            REPO_ROOT / "docs" / "dashboard" / "accounts"
            if os.environ.get("LIVEBASE_DASHBOARD_SCREENSHOTS") == "1"
            else tmp_path / "shots"
        )
        shots.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DASHBOARD_ADMIN_KEY": ADMIN_KEY,
            "DASHBOARD_EMAIL": email,
            "DASHBOARD_PASSWORD": PASSWORD,
            "DASHBOARD_PYTHON": sys.executable,
        }
        result = subprocess.run(
            ["node", "admin_account.mjs", server.url, str(shots), str(CHROMIUM)],
            cwd=DRIVER_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.stdout.strip(), f"no output from the driver; stderr:\n{result.stderr[-4000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["ok"], json.dumps(report, indent=2)[:20000]
        revoked = report["checks"]["revoke-admin from the CLI signs the open page out at once"]
        print(f"signed out {revoked['msAfterCli']} ms after revoke-admin was started")
        live = report["checks"]["Users and Environment panels: CLI changes appear without a reload"]
        print(f"CLI change on the page after: users {live['usersMs']} ms, env {live['envMs']} ms")
        # the role is gone on the server too
        users = httpx.get(
            f"{server.url}/api/admin/users",
            headers={"authorization": f"Convex {ADMIN_KEY}"},
            timeout=60,
        ).json()["users"]
        assert [u["admin"] for u in users if u["email"] == email] == [False]
    finally:
        server.stop()
