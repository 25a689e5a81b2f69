"""The ingest key is on by default outside development: ``livebase serve`` without
``AGENTFEED_KEY`` uses the server key in ``$AGENTFEED_HOME/server_key``, made when it starts
(before any post), with the owner key; ``livebase dev`` is open; ``agentfeed install-hook`` on
the same machine picks the key up, and refuses (changing nothing) when it has no key for a
server that needs one or the server refuses the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.agentfeed_app.conftest import APP
from tests.support.server import LivebaseServer, base_env, free_port


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


def env_without_keys(home: Path, **extra: str) -> dict[str, str]:
    env = base_env(AGENTFEED_HOME=str(home))
    for name in ("AGENTFEED_KEY", "CLAUDE_CONFIG_DIR"):
        env.pop(name, None)
    return {**env, **extra}


def install_hook(tmp_path: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = env_without_keys(home, CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    return subprocess.run(
        [sys.executable, "-m", "agentfeed", "install-hook", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_keys_exist_before_the_first_post(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with LivebaseServer.launch(tmp_path / "serve", app=APP, env=env_without_keys(home)):
        path = home / "server_key"
        assert path.is_file(), "no server_key after the start"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert len(path.read_text().strip()) >= 32
        assert oct(home.stat().st_mode & 0o777) == "0o700"
    dev_home = tmp_path / "dev-home"
    with LivebaseServer.launch(
        tmp_path / "dev", app=APP, env=env_without_keys(dev_home), command="dev"
    ):
        assert not (dev_home / "server_key").exists()  # posts are open under livebase dev


def test_install_hook_without_a_key_refuses_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = install_hook(tmp_path, home, "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "no key" in result.stderr and "agentfeed serve" in result.stderr
    assert "--key" in result.stderr and "Nothing was changed" in result.stderr
    assert not (tmp_path / "claude" / "settings.json").exists()
    assert not (home / "hook.py").exists()


def test_install_hook_refuses_a_key_the_server_refuses(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_without_keys(tmp_path / "server-home", AGENTFEED_KEY="the-right-key")
    with LivebaseServer.launch(tmp_path / "serve", app=APP, env=env) as server:
        refused = install_hook(tmp_path, home, "--url", server.url, "--key", "a-wrong-key")
        assert refused.returncode == 1
        assert "refuses the key from --key" in refused.stderr
        assert not (tmp_path / "claude" / "settings.json").exists()
        accepted = install_hook(tmp_path, home, "--url", server.url, "--key", "the-right-key")
        assert accepted.returncode == 0, accepted.stderr
        assert f"{server.url} reachable, key accepted" in accepted.stdout
        assert json.loads((home / "config.json").read_text())["key"] == "the-right-key"


def test_install_hook_for_a_dev_server_needs_no_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_without_keys(tmp_path / "server-home")
    with LivebaseServer.launch(tmp_path / "dev", app=APP, env=env, command="dev") as server:
        result = install_hook(tmp_path, home, "--url", server.url)
        assert result.returncode == 0, result.stderr
        assert "takes events without a key (livebase dev)" in result.stdout
        assert "key" not in json.loads((home / "config.json").read_text())
