"""``agentfeed serve`` as a real process in a fresh ``HOME``: a SIGTERM or SIGINT ends it and its
``livebase serve`` child (the port is free again); the banner comes once the server listens and
holds the owner link with the real key (never ``$AGENTFEED_OWNER_KEY``); a taken port is one
error line and exit 1, with no banner; the agentfeed home is 0700 and the keys, database, hook,
config and spool in it 0600."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

from .serving import Serve, agentfeed_command, alive, fresh_env, port_open, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_server_and_its_child(tmp_path: Path, signum: int) -> None:
    with Serve(tmp_path / "home") as serve:
        serve.wait_banner()
        child = serve.child()
        wait_for(lambda: port_open(serve.port), f"port {serve.port} to open")
        serve.proc.send_signal(signum)  # to agentfeed serve only, as `kill <pid>` does
        code = serve.proc.wait(timeout=30)
        wait_for(lambda: not alive(child), f"the livebase child {child} to exit")
        wait_for(lambda: not port_open(serve.port), f"port {serve.port} to be free")
        # 0: the server stopped by itself; 137: it did not within agentfeed's grace period and
        # was killed (``livebase serve`` can miss a signal that comes right after it starts).
        assert code in (0, 128 + signal.SIGKILL), serve.stderr()
        assert "shutting down" in serve.stdout()


def test_the_banner_comes_once_the_server_listens_with_the_owner_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Serve(home) as serve:
        output = serve.wait_banner()
        assert port_open(serve.port)  # listening when the banner is out, not after
        assert "$AGENTFEED_OWNER_KEY" not in output and "$AGENTFEED" not in output
        owner_key = (home / ".agentfeed" / "owner_key").read_text().strip()
        assert f"{serve.url}/?key={owner_key}" in output
        assert output.index("Livebase ready at") < output.index("install-hook --url")
        assert httpx.get(f"{serve.url}/?key={owner_key}").status_code == 200


def test_a_taken_port_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [*agentfeed_command(), "serve", "--port", str(port)],
            env=fresh_env(tmp_path / "home"),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(r"address already in use", lines[0], re.IGNORECASE)
    assert f"127.0.0.1:{port}" in lines[0] and lines[0].startswith("agentfeed: error:")
    assert "install-hook" not in proc.stdout and "Livebase ready" not in proc.stdout


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_the_home_and_everything_in_it_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    agentfeed_home = home / ".agentfeed"
    with Serve(home) as serve:
        serve.wait_banner()
        wait_for(lambda: port_open(serve.port), f"port {serve.port} to open")
        env = fresh_env(home)
        install = subprocess.run(
            [*agentfeed_command(), "install-hook", "--url", serve.url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert install.returncode == 0, install.stderr
        # An event the server is down for goes to the spool.
        hook = [
            sys.executable,
            "-S",
            str(agentfeed_home / "hook.py"),
            "--home",
            str(agentfeed_home),
        ]
        down = {**env, "AGENTFEED_URL": f"http://127.0.0.1:{free_port()}"}
        payload = json.dumps({"hook_event_name": "Stop", "session_id": "s"}).encode()
        subprocess.run(hook, input=payload, env=down, timeout=30, check=True)
        assert (agentfeed_home / "spool.jsonl").exists()
        data = agentfeed_home / "data"
        assert mode(agentfeed_home) == "0o700"
        assert mode(data) == "0o700"
        files = ["server_key", "owner_key", "hook.py", "config.json", "spool.jsonl"]
        files += [f"data/{p.name}" for p in data.iterdir()]
        assert any(name.endswith(".sqlite3") for name in files), files
        modes = {name: mode(agentfeed_home / name) for name in files}
        assert all(m == "0o600" for m in modes.values()), modes


def test_an_existing_open_home_is_made_private(tmp_path: Path) -> None:
    """A home made by an earlier version (0755, hook.py 0644) is closed by install-hook."""
    home = tmp_path / "home"
    agentfeed_home = home / ".agentfeed"
    proc = subprocess.run(
        [*agentfeed_command(), "install-hook", "--url", "http://127.0.0.1:9", "--key", "k"],
        env=fresh_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    agentfeed_home.chmod(0o755)
    (agentfeed_home / "hook.py").chmod(0o644)
    proc = subprocess.run(
        [*agentfeed_command(), "install-hook", "--url", "http://127.0.0.1:9"],
        env=fresh_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert mode(agentfeed_home) == "0o700"
    assert mode(agentfeed_home / "hook.py") == "0o600"
