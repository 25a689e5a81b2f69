"""The README's first run, in its order, in a fresh ``HOME``: ``agentfeed serve --port P`` (with
``AGENTFEED_OWNER_EMAIL`` and ``AGENTFEED_OWNER_PASSWORD``: the banner says the owner's account
was made and where the feed is), then ``agentfeed install-hook --url http://127.0.0.1:P``, then
the installed hook command run as Claude Code runs it (through a shell, the event on stdin, a
bare environment). The event is accepted (nothing spooled); over HTTP the owner (a bearer token
from ``/auth/token``) sees it and the public does not; and it shows on the page, in headless
Chromium, once signed in there with that account (still after a reload)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.agentfeed.serving import Serve, agentfeed_command, fresh_env
from tests.agentfeed_app.conftest import sign_in

from .conftest import run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]

EMAIL = "first-run@agentfeed.test"
PASSWORD = "first run password 0123456789"


def feed(url: str, authorization: str | None) -> list[dict[str, object]]:
    """The newest page of ``events:feed`` over HTTP, as the caller ``authorization`` names."""
    headers = {"authorization": authorization} if authorization else {}
    body = {
        "path": "events:feed",
        "args": {"paginationOpts": {"numItems": 10, "cursor": None}},
        "format": "json",
    }
    answer = httpx.post(f"{url}/api/query", json=body, headers=headers, timeout=30).json()
    assert answer.get("status") == "success", answer
    page: list[dict[str, object]] = answer["value"]["page"]
    return page


def test_serve_then_install_hook_then_an_event_shows_on_the_page(
    tmp_path: Path, chromium_path: Path, node_packages: Path
) -> None:
    home = tmp_path / "home"
    owner_env = {"AGENTFEED_OWNER_EMAIL": EMAIL, "AGENTFEED_OWNER_PASSWORD": PASSWORD}
    with Serve(home, **owner_env) as serve:
        banner = serve.wait_banner()
        lines = banner.splitlines()
        assert f"agentfeed: owner account {EMAIL} made: sign in on the page" in lines, banner
        feed_line = f"agentfeed: your feed: {serve.url}/ "
        assert any(line.startswith(feed_line) for line in lines), banner
        assert "?key=" not in banner, banner

        install = subprocess.run(
            [*agentfeed_command(), "install-hook", "--url", serve.url],
            env=fresh_env(home), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert install.returncode == 0, install.stderr

        settings = json.loads((home / ".claude" / "settings.json").read_text())
        command = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"]
        prompt = f"first run {uuid.uuid4()}"
        payload = {
            "hook_event_name": "UserPromptSubmit",
            "session_id": str(uuid.uuid4()),
            "cwd": str(tmp_path / "project"),
            "prompt": prompt,
        }
        run = subprocess.run(
            ["sh", "-c", command],
            input=json.dumps(payload).encode(),
            env={"PATH": os.environ["PATH"], "HOME": str(home)},
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        assert run.returncode == 0 and run.stdout == b"" and run.stderr == b"", run.stderr
        assert not (home / ".agentfeed" / "spool.jsonl").exists(), "the event was spooled"
        assert "key accepted" in install.stdout, install.stdout

        token = sign_in(serve.url, EMAIL, PASSWORD)
        owners = feed(serve.url, f"Bearer {token}")
        assert [e.get("prompt") for e in owners] == [prompt], owners
        assert feed(serve.url, None) == [], "the public sees the private project's event"

        config = {
            "url": f"{serve.url}/",
            "chromium": str(chromium_path),
            "text": prompt,
            "screenshot": str(tmp_path / "first-run.png"),
            "email": EMAIL,
            "password": PASSWORD,
        }
        seen = run_node("see_event.mjs", config, tmp_path, timeout=120)
        assert seen["ok"], json.dumps(seen, indent=1)
        assert seen["role"] == "owner" and seen["owner"] is True and seen["who"] == EMAIL, seen
        assert seen["reloadedRole"] == "owner", seen
