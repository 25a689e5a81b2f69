"""A real React page in headless Chromium, live-updated by a mutation committed from Python.

``tests/clients/web`` bundles (esbuild) a page that renders ``useQuery("messages:list")`` inside
``ConvexProvider`` with ``new ConvexReactClient(backend)`` from npm ``convex`` 1.48.0, unmodified;
the backend URL comes from the page's query string. ``run_page.mjs`` drives it in Debian's
Chromium with ``playwright-core``: it prints ``{"event": "ready", ...}`` once the first result is
on screen, then waits for one line on stdin naming the message to expect. This side sends that
message over ``POST /api/mutation`` and the page must show it, without a reload, within a few
seconds; the script then takes a screenshot and prints ``{"event": "result", ...}`` with the
browser console, page errors and the sync WebSocket frames (shown here when the test fails).

The first run on a new machine installs Debian's ``chromium`` package (``apt-get``, as root) and
runs ``npm ci`` plus the build in ``tests/clients/web``; after that the test takes a few seconds.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.node import NodeProcess

if TYPE_CHECKING:
    from .conftest import ChatServer

# Generous because the first run on a new machine installs Chromium and the npm packages; once
# they are there the test itself takes well under 60 s (see the deadlines below).
pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = REPO_ROOT / "tests" / "clients" / "web"
DIST_DIR = WEB_DIR / "dist"
CHROMIUM = Path("/usr/bin/chromium")

# Generous, for a loaded machine (the driver's own waits are 60 s and 20 s).
READY_DEADLINE = 90.0  # page opened and the first query result shown
UPDATE_DEADLINE = 60.0  # mutation sent -> the driver reports (it waits 20 s for the update)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(cmd: list[str], cwd: Path | None, timeout: float, what: str) -> None:
    env = dict(os.environ)
    env.setdefault("DEBIAN_FRONTEND", "noninteractive")
    try:
        result = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{what}: `{' '.join(cmd)}` failed: {exc}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"{what}: `{' '.join(cmd)}` exited with {result.returncode}\n"
            f"stdout (tail):\n{result.stdout[-4000:]}\nstderr (tail):\n{result.stderr[-4000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's ``chromium`` at /usr/bin/chromium, installed with apt-get once if missing.

    Playwright's own browser download (``npx playwright install``) does not work on these
    machines, so playwright-core drives the distribution's build instead.
    """
    if not CHROMIUM.exists():
        apt_get = shutil.which("apt-get")
        if apt_get is None:
            pytest.fail(
                f"{CHROMIUM} is missing and apt-get is not available: install Chromium so that "
                f"{CHROMIUM} exists (Debian package `chromium`)",
                pytrace=False,
            )
        if os.geteuid() != 0:
            pytest.fail(
                f"{CHROMIUM} is missing and this test is not running as root, so it cannot "
                "install it: run `sudo apt-get update && sudo apt-get install -y chromium`",
                pytrace=False,
            )
        _run([apt_get, "update"], None, 600, "installing Chromium (apt-get update)")
        _run(
            [apt_get, "install", "-y", "chromium"],
            None,
            900,
            "installing Chromium (apt-get install -y chromium)",
        )
        if not CHROMIUM.exists():
            pytest.fail(
                f"apt-get install -y chromium succeeded but {CHROMIUM} is still missing",
                pytrace=False,
            )
    return CHROMIUM


def _newest_mtime(paths: list[Path]) -> float:
    return max(p.stat().st_mtime for p in paths if p.exists())


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """``tests/clients/web/dist`` built from the current sources (``npm ci`` + build if stale)."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm must be on PATH for the browser test (Node.js >= 18)")
    lock = WEB_DIR / "package-lock.json"
    installed_marker = WEB_DIR / "node_modules" / ".package-lock.json"
    needed = ["convex", "react", "react-dom", "esbuild", "playwright-core"]
    if (
        not installed_marker.exists()
        or installed_marker.stat().st_mtime < lock.stat().st_mtime
        or any(not (WEB_DIR / "node_modules" / n / "package.json").exists() for n in needed)
    ):
        _run([npm, "ci", "--no-audit", "--no-fund"], WEB_DIR, 600, "npm ci in tests/clients/web")
    sources = [
        *sorted((WEB_DIR / "src").rglob("*")),
        WEB_DIR / "build.mjs",
        lock,
        installed_marker,
    ]
    outputs = [DIST_DIR / "index.html", DIST_DIR / "app.js"]
    if any(not p.exists() for p in outputs) or min(
        p.stat().st_mtime for p in outputs
    ) < _newest_mtime(sources):
        _run([node, "build.mjs"], WEB_DIR, 120, "building tests/clients/web (node build.mjs)")
    return DIST_DIR


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def web_page_url(web_dist: Path) -> Iterator[str]:
    """Base URL of a static file server for ``dist`` (http.server on 127.0.0.1, in a thread)."""
    handler = functools.partial(_QuietHandler, directory=str(web_dist))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="web-dist-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class PageDriver(NodeProcess):
    """``node run_page.mjs <url> <screenshot> <chromium>`` with line access to its output."""

    def __init__(self, url: str, screenshot: Path, chromium: Path) -> None:
        super().__init__(
            WEB_DIR, "run_page.mjs", url, str(screenshot), str(chromium), max_line_chars=800
        )

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line, or None if the script ended or the deadline passed."""
        return self.read_event(time.monotonic() + timeout)

    def send(self, command: dict[str, Any]) -> None:
        self.send_line(json.dumps(command))

    def close(self, timeout: float = 25) -> None:
        # Let the script close Chromium itself (a killed node would orphan the browser).
        super().close(timeout)


def _diagnostics(event: dict[str, Any] | None, driver: PageDriver, server: ChatServer) -> str:
    parts: list[str] = []
    if event is not None:
        parts.append("failures:\n  " + "\n  ".join(event.get("failures", [])))
        parts.append("browser console:\n  " + "\n  ".join(event.get("console", [])))
        parts.append("page errors:\n  " + "\n  ".join(event.get("pageErrors", [])))
        parts.append("failed requests:\n  " + "\n  ".join(event.get("failedRequests", [])))
        parts.append("websockets:\n  " + "\n  ".join(event.get("wsEvents", [])))
        frames = event.get("wsFrames", [])
        parts.append(
            "sync frames (last 40):\n  "
            + "\n  ".join(f"{f['t']}ms {f['dir']}: {f['data']}" for f in frames[-40:])
        )
        shown = {"failures", "console", "pageErrors", "failedRequests", "wsEvents", "wsFrames"}
        rest = {k: v for k, v in event.items() if k not in shown}
        parts.append("result: " + json.dumps(rest))
    parts.append("driver " + driver.transcript())
    parts.append("server log (tail):\n" + server.log_text()[-3000:])
    return "\n\n".join(parts)


def _send_message(server: ChatServer, channel: str, body: str) -> None:
    args = {"channel": channel, "body": body}
    payload = {"path": "messages:send", "args": args, "format": "json"}
    response = httpx.post(f"{server.url}/api/mutation", json=payload, timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "success", response.text


def test_react_page_updates_live_after_a_python_mutation(
    chat_server: ChatServer,
    chromium_path: Path,
    web_page_url: str,
    tmp_path: Path,
) -> None:
    channel = f"web-{uuid.uuid4().hex[:10]}"
    seed = f"seeded before the page opened {uuid.uuid4().hex[:6]}"
    live = f"sent from Python while the page is open {uuid.uuid4().hex[:6]}"
    _send_message(chat_server, channel, seed)

    url = f"{web_page_url}?{urlencode({'backend': chat_server.url, 'channel': channel})}"
    screenshot = tmp_path / "react-page.png"
    driver = PageDriver(url, screenshot, chromium_path)
    result: dict[str, Any] | None = None
    try:
        ready = driver.next_event(READY_DEADLINE)
        if ready is None or ready.get("event") != "ready":
            final = ready if ready is not None and ready.get("event") == "result" else None
            pytest.fail(
                f"the page did not show the first messages:list result within "
                f"{READY_DEADLINE:.0f} s\n{_diagnostics(final, driver, chat_server)}",
                pytrace=False,
            )
        assert ready["count"] == 1 and ready["messages"] == [seed], (
            f"unexpected initial page content: {ready}\n{_diagnostics(None, driver, chat_server)}"
        )

        _send_message(chat_server, channel, live)
        driver.send({"expect": live, "count": 2})
        result = driver.next_event(UPDATE_DEADLINE)
        if result is None or result.get("event") != "result":
            pytest.fail(
                f"the page driver reported no result within {UPDATE_DEADLINE:.0f} s of the "
                f"mutation\n{_diagnostics(None, driver, chat_server)}",
                pytrace=False,
            )
        if not result.get("ok"):
            pytest.fail(
                "the page did not update live after the mutation\n"
                + _diagnostics(result, driver, chat_server),
                pytrace=False,
            )
        assert result["finalMessages"] == [seed, live]
        assert result["finalCount"] == 2
        assert result["sameLoad"] is True
        assert result["connection"]["isWebSocketConnected"] is True
        assert result["connection"]["connectionCount"] == 1, result["connection"]
        assert not result["pageErrors"], _diagnostics(result, driver, chat_server)
        sync_sockets = [e for e in result["wsEvents"] if "/api/1.48.0/sync" in e]
        assert sync_sockets, _diagnostics(result, driver, chat_server)

        data = screenshot.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_SIGNATURE), (
            f"screenshot {screenshot} is not a PNG ({len(data)} bytes)"
        )
    finally:
        driver.close()
