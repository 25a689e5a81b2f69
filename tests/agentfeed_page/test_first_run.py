"""The README's first run, in its order, in a fresh ``HOME``: ``agentfeed serve --port P``, then
``agentfeed install-hook --url http://127.0.0.1:P``, then the installed hook command run as
Claude Code runs it (through a shell, the event on stdin, a bare environment). The event is
accepted (nothing spooled) and shows on the page opened at the owner link the banner printed,
in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.agentfeed.serving import Serve, agentfeed_command, fresh_env

from .conftest import run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]


def test_serve_then_install_hook_then_an_event_shows_on_the_page(
    tmp_path: Path, chromium_path: Path, node_packages: Path
) -> None:
    home = tmp_path / "home"
    with Serve(home) as serve:
        banner = serve.wait_banner()
        match = re.search(rf"{re.escape(serve.url)}/\?key=(\S+)", banner)
        assert match is not None, banner
        owner_link, owner_key = match.group(0), match.group(1)

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

        feed = httpx.post(
            f"{serve.url}/api/query",
            json={
                "path": "events:feed",
                "args": {"ownerKey": owner_key, "paginationOpts": {"numItems": 10, "cursor": None}},
                "format": "json",
            },
            timeout=30,
        ).json()
        assert [e.get("prompt") for e in feed["value"]["page"]] == [prompt], feed

        config = {
            "url": owner_link,
            "chromium": str(chromium_path),
            "text": prompt,
            "screenshot": str(tmp_path / "first-run.png"),
        }
        seen = run_node("see_event.mjs", config, tmp_path, timeout=120)
        assert seen["ok"], json.dumps(seen, indent=1)
        assert seen["role"] == "owner" and seen["owner"] is True
