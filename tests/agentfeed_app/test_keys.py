"""The ingest key is on by default outside development: ``livebase serve`` without
``AGENTFEED_KEY`` uses the server key in ``$AGENTFEED_HOME/server_key`` (made on first start),
``livebase dev`` is open, and ``agentfeed install-hook`` on the same machine picks the key up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.agentfeed_app.conftest import APP
from tests.support.server import LivebaseServer, base_env


def event() -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "timestamp": 1_700_000_000_000,
        "hook_event_name": "UserPromptSubmit",
        "session_id": "s-keys",
        "cwd": "/home/u/app",
        "prompt": "hello",
    }


def test_serve_requires_the_server_key_and_dev_does_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in base_env(AGENTFEED_HOME=str(home)).items() if k != "AGENTFEED_KEY"}
    with LivebaseServer.launch(tmp_path / "serve", app=APP, env=env) as server:
        assert httpx.post(f"{server.url}/event", json=event()).status_code == 401
        key_file = home / "server_key"
        assert key_file.is_file() and oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text().strip()
        ok = httpx.post(f"{server.url}/event", json=event(), headers={"x-agentfeed-key": key})
        assert ok.status_code == 200 and ok.json()["status"] == "stored"
    with LivebaseServer.launch(tmp_path / "dev", app=APP, env=env, command="dev") as server:
        open_post = httpx.post(f"{server.url}/event", json=event())
        assert open_post.status_code == 200 and open_post.json()["status"] == "stored"


def test_install_hook_uses_the_local_server_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "server_key").write_text("af_local_key\n")
    config_dir = tmp_path / "claude"
    env = {
        **{k: v for k, v in os.environ.items() if k != "AGENTFEED_KEY"},
        "AGENTFEED_HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(config_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "agentfeed", "install-hook", "--url", "http://127.0.0.1:9"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((home / "config.json").read_text())
    assert config.get("key") == "af_local_key"
