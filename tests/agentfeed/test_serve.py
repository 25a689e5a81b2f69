"""``agentfeed serve`` as a real process in a fresh ``HOME``: a SIGTERM or SIGINT ends it and its
``livebase serve`` child (the port is free again); the banner comes once the server listens and
says how to make the owner's account, which ``agentfeed owner`` then makes (or gives a new
password) and ``AGENTFEED_OWNER_EMAIL``/``AGENTFEED_OWNER_PASSWORD`` make at start, leaving an
unchanged password's sessions alone across restarts; a taken port is one error line and exit 1,
with no banner; the agentfeed home is 0700 and the keys, database, hook, config and spool in it
0600."""

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


def sign_in(url: str, email: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "username": email, "password": password}
    return httpx.post(f"{url}/auth/token", data=form, timeout=60)


def is_owner(url: str, token: str) -> bool:
    """Whether the app takes the bearer of ``token`` for its owner (``delivery:status``)."""
    body = {"path": "delivery:status", "args": {}, "format": "json"}
    headers = {"authorization": f"Bearer {token}"}
    answer = httpx.post(f"{url}/api/query", json=body, headers=headers, timeout=60).json()
    assert answer["status"] == "success", answer
    return bool(answer["value"]["owner"])


def owner_command(
    home: Path, url: str, email: str, password: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*agentfeed_command(), "owner", email, "--password-stdin", "--url", url],
        input=password + "\n", env=fresh_env(home),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_banner_comes_once_the_server_listens_and_the_owner_command_makes_the_account(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with Serve(home) as serve:
        output = serve.wait_banner()
        assert port_open(serve.port)  # listening when the banner is out, not after
        assert "$AGENTFEED" not in output and "?key=" not in output
        assert f"agentfeed: your feed: {serve.url}/" in output
        assert "no owner account yet" in output and "agentfeed owner EMAIL" in output
        assert output.index("Livebase ready at") < output.index("install-hook --url")
        assert httpx.get(f"{serve.url}/").status_code == 200
        assert sign_in(serve.url, "me@example.com", "first password 123").status_code == 400

        made = owner_command(home, serve.url, "Me@Example.com", "first password 123")
        assert made.returncode == 0, made.stderr
        assert made.stdout == "owner account me@example.com made: sign in on the page\n"
        first = sign_in(serve.url, "me@example.com", "first password 123")
        assert first.status_code == 200, first.text
        assert is_owner(serve.url, first.json()["access_token"])

        # The same password again changes nothing: the session goes on.
        same = owner_command(home, serve.url, "me@example.com", "first password 123")
        assert same.returncode == 0 and "new password" not in same.stdout, same.stdout
        refresh = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
        kept = httpx.post(f"{serve.url}/auth/token", data=refresh, timeout=60)
        assert kept.status_code == 200, kept.text

        changed = owner_command(home, serve.url, "me@example.com", "second password 456")
        assert changed.returncode == 0, changed.stderr
        assert "new password set" in changed.stdout
        assert sign_in(serve.url, "me@example.com", "first password 123").status_code == 400
        assert sign_in(serve.url, "me@example.com", "second password 456").status_code == 200
        refresh = {"grant_type": "refresh_token", "refresh_token": kept.json()["refresh_token"]}
        ended = httpx.post(f"{serve.url}/auth/token", data=refresh, timeout=60)
        assert ended.status_code == 400, ended.text  # a new password ends the old sessions

        weak = owner_command(home, serve.url, "me@example.com", "short")
        assert weak.returncode == 2 and "password" in weak.stderr, weak.stderr


def test_the_owner_command_needs_a_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    proc = owner_command(home, f"http://127.0.0.1:{port}", "me@example.com", "a password 1234")
    assert proc.returncode == 2
    assert "no admin key" in proc.stderr and "agentfeed serve" in proc.stderr, proc.stderr


def test_the_owner_account_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    email, password = "owner@example.com", "env password 0123"
    env = {"AGENTFEED_OWNER_EMAIL": email, "AGENTFEED_OWNER_PASSWORD": password}
    port = free_port()
    with Serve(home, port=port, **env) as serve:
        output = serve.wait_banner()
        assert f"agentfeed: owner account {email} made: sign in on the page" in output
        assert password not in output and password not in serve.stderr()
        tokens = sign_in(serve.url, email, password).json()
        assert is_owner(serve.url, tokens["access_token"])
        serve.proc.send_signal(signal.SIGTERM)
        serve.proc.wait(timeout=30)
        wait_for(lambda: not port_open(port), f"port {port} to be free")
    # A restart with the same password leaves the owner's sessions alone.
    with Serve(home, port=port, **env) as serve:
        output = serve.wait_banner()
        assert f"agentfeed: owner account {email}: sign in on the page" in output
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert httpx.post(f"{serve.url}/auth/token", data=refresh, timeout=60).status_code == 200
        serve.proc.send_signal(signal.SIGTERM)
        serve.proc.wait(timeout=30)
        wait_for(lambda: not port_open(port), f"port {port} to be free")
    # Only one of the two set: the account is left as it is, and the banner says why.
    with Serve(home, port=port, AGENTFEED_OWNER_EMAIL=email) as serve:
        output = serve.wait_banner()
        assert "AGENTFEED_OWNER_PASSWORD is not set" in output
        assert f"sign in on the page as the owner ({email})" in output


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
        files = ["server_key", "hook.py", "config.json", "spool.jsonl"]
        files += [str(p.relative_to(agentfeed_home)) for p in data.rglob("*") if p.is_file()]
        assert any(name.endswith(".sqlite3") for name in files), files
        modes = {name: mode(agentfeed_home / name) for name in files}
        assert all(m == "0o600" for m in modes.values()), modes
        folders = {str(p.relative_to(agentfeed_home)): mode(p) for p in data.rglob("*")
                   if p.is_dir()}  # fmt: skip
        assert all(m == "0o700" for m in folders.values()), folders


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
