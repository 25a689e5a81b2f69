"""``livebase users ...`` and ``livebase auth rotate-keys`` as real processes against a real
server, finding its admin key as ``livebase run`` does."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.server import base_env, free_port

from .conftest import PASSWORD, AuthServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def fresh_email() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}@example.com"


def token_status(server: AuthServer, email: str, password: str) -> int:
    form = {"grant_type": "password", "username": email, "password": password}
    headers = {"x-forwarded-for": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    return httpx.post(f"{server.url}/auth/token", data=form, headers=headers).status_code


def test_add_list_disable_reset_password(server: AuthServer) -> None:
    email = fresh_email()
    done = server.cli("users", "add", email.title(), "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"added {email} (subject ")
    assert token_status(server, email, PASSWORD) == 200

    listed = server.cli("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["EMAIL", "STATUS", "ROLE", "CREATED",
                                                     "(UTC)", "SUBJECT"]  # fmt: skip
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(email)]
    assert line.split()[1:3] == ["active", "user"]
    as_json = json.loads(server.cli("users", "list", "--json").stdout)
    [entry] = [u for u in as_json if u["email"] == email]
    assert set(entry) == {"email", "subject", "disabled", "admin", "createdAt", "updatedAt"}

    new_password = "another long password"
    done = server.cli("users", "reset-password", email, stdin=new_password + "\r\n")
    assert done.returncode == 0, done.stderr
    assert f"new password set for {email}" in done.stdout
    assert token_status(server, email, PASSWORD) == 400
    assert token_status(server, email, new_password) == 200

    done = server.cli("users", "reset-password", email, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert token_status(server, email, PASSWORD) == 200

    done = server.cli("users", "disable", email)
    assert done.returncode == 0 and f"disabled {email}" in done.stdout
    [line] = [ln for ln in server.cli("users", "list").stdout.splitlines() if ln.startswith(email)]
    assert line.split()[1] == "disabled"
    assert token_status(server, email, PASSWORD) == 400


def test_errors_are_one_clear_line(server: AuthServer) -> None:
    email = fresh_email()
    assert server.cli("users", "add", email, "--password-stdin", stdin=PASSWORD).returncode == 0

    done = server.cli("users", "add", email.upper(), "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"livebase users add: AccountExists: an account for {email} already exists"
    )

    missing = fresh_email()
    for command in (["disable", missing], ["enable", missing]):
        done = server.cli("users", *command)
        assert done.returncode == 1
        assert done.stderr.strip().endswith(f"AccountNotFound: there is no account for {missing}")
    done = server.cli("users", "reset-password", missing, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 1 and f"no account for {missing}" in done.stderr

    done = server.cli("users", "add", fresh_email(), "--password-stdin", stdin="short\n")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "livebase users add: the password is too short: 5 characters, at least 8 are needed"
    )
    done = server.cli("users", "add", fresh_email(), "--password-stdin", stdin="")
    assert done.returncode == 2 and "no password on standard input" in done.stderr

    done = server.cli("users", "add", "not-an-email", "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 1 and "'not-an-email' is not an email address" in done.stderr


def test_without_the_admin_key_it_says_how_to_give_it(server: AuthServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "livebase", "users", "list", "--url", server.url],
        cwd=tmp_path,  # no .livebase folder here
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "needs the admin key: pass --admin-key, set LIVEBASE_ADMIN_KEY" in done.stderr
    done = server.cli("users", "list", "--admin-key", "wrong", key=False)
    assert done.returncode == 1
    assert "Unauthenticated: the admin key is not valid for this deployment" in done.stderr
    done = server.cli("users", "list", "--admin-key", server.admin_key, key=False)
    assert done.returncode == 0, done.stderr


def test_no_server_running_says_how_to_start_one(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["users", "list"], ["auth", "rotate-keys"]):
        done = subprocess.run(
            [sys.executable, "-m", "livebase", *args, "--url", url, "--admin-key", "k"],
            cwd=tmp_path,
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert f"no Livebase server is running at {url}" in done.stderr
        assert "start it with `livebase serve APP_DIR`" in done.stderr
