"""``/_dashboard`` in headless Chromium against a real server (a copy of examples/chat plus
``app_extra``): sign in with the admin key, scroll 12,000 documents (virtualised, a window of
rows from the server), an index range with a server-side filter and sort, JSONL and CSV imports
with a progress bar and bad lines named, insert and edit a document and see a plain subscribed
client update, delete it after a confirmation, run a function as a user and as anonymous, watch a
log line appear and open the call that wrote it, cancel a scheduled job, cron history, live health
charts, schema and indexes, files (download, delete), environment variables (masked, set,
delete), users (add, disable, enable, reset password), keyboard navigation, and an axe-core
check of every panel in both themes at 1280 and 390 px with no serious or critical violation.
Screenshots go to ``docs/dashboard/`` when ``LIVEBASE_DASHBOARD_SCREENSHOTS=1`` (else to a
temporary folder).

``tests/clients/dashboard/drive.mjs`` (playwright-core, axe-core from npm) does the browser side;
the first run on a new machine runs ``npm ci`` there and needs Debian's ``chromium``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import CHAT_APP, LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER_DIR = REPO_ROOT / "tests" / "clients" / "dashboard"
EXTRA = Path(__file__).parent / "app_extra"
CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "dashboard-test-admin-key"


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm must be on PATH for the dashboard test")
    lock = DRIVER_DIR / "package-lock.json"
    marker = DRIVER_DIR / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=DRIVER_DIR, check=True, timeout=600
        )


def _call(server: LivebaseServer, kind: str, path: str, args: dict) -> object:
    r = httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers={"Authorization": f"Convex {ADMIN_KEY}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["value"]


def start_chat_server(tmp_path: Path) -> LivebaseServer:
    """After checking for Chromium and the driver's packages: a started server of a copy of
    examples/chat plus ``app_extra`` (built-in accounts, a cron, ...) with ``ADMIN_KEY``."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    _npm_ci()
    app = tmp_path / "app"
    shutil.copytree(CHAT_APP, app, ignore=shutil.ignore_patterns(".livebase", "__pycache__"))
    for extra in EXTRA.glob("*.py"):
        shutil.copy(extra, app / extra.name)
    server = LivebaseServer(app, data=tmp_path / "data", admin_key=ADMIN_KEY)
    return server.start()


def test_dashboard_in_chromium(tmp_path: Path) -> None:
    server = start_chat_server(tmp_path)
    try:
        for start in range(0, 12000, 4000):
            _call(
                server, "mutation", "dash:seed", {"channel": "bulk", "count": 4000, "start": start}
            )
        job = _call(server, "mutation", "dash:later", {"channel": "general", "body": "later"})
        shots = (
            REPO_ROOT / "docs" / "dashboard"
            if os.environ.get("LIVEBASE_DASHBOARD_SCREENSHOTS") == "1"
            else tmp_path / "shots"
        )
        result = subprocess.run(
            ["node", "drive.mjs", server.url, str(shots), str(CHROMIUM)],
            cwd=DRIVER_DIR,
            env={**os.environ, "DASHBOARD_ADMIN_KEY": ADMIN_KEY},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.stdout.strip(), f"no output from the driver; stderr:\n{result.stderr[-4000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["ok"], json.dumps(report, indent=2)[:20000]
        # the job the dashboard cancelled is cancelled on the server too
        state = _call(server, "query", "_system/dashboard:schedules", {})
        assert isinstance(state, dict)
        jobs = {j["_id"]: j for j in state["jobs"]}
        assert jobs[report["checks"]["schedules: cancel a pending job"]["id"]]["state"]["kind"] == (
            "canceled"
        )
        assert job in jobs
        assert len(list(shots.glob("*.png"))) == 37  # 9 panels x 2 widths x 2 themes, sign-in
    finally:
        server.stop()
