"""Environment variables per deployment (issue 13) against a real server: ``livebase env``
as a process, ``ctx.env`` in every kind of function and in HTTP routes, live subscriptions,
encryption at rest, a node with the wrong key, bad names and the admin key."""

from __future__ import annotations

import asyncio
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.support.calls import admin_authorization, call
from tests.support.server import LivebaseServer, base_env

from .conftest import EnvServer, app_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def put(server: EnvServer, name: str, value: Any, key: str | None = None) -> httpx.Response:
    headers = {"authorization": admin_authorization(key or server.server.admin_key)}
    url = f"{server.url}/api/admin/env/{name}"
    return httpx.put(url, json={"value": value}, headers=headers, timeout=30)


def failure(url: str, key: str, kind: str, path: str) -> str:
    response = httpx.post(
        f"{url}/api/{kind}",
        json={"path": path, "args": {}, "format": "json"},
        headers={"authorization": admin_authorization(key)},
        timeout=30,
    )
    body = response.json()
    assert body.get("status") == "error", body
    return str(body["errorMessage"])


def test_set_get_list_unset_through_the_cli(env_server: EnvServer) -> None:
    done = env_server.cli("set", "CLI_PLAIN", "first value")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added CLI_PLAIN"
    done = env_server.cli("set", "CLI_SECRET", "--value-stdin", stdin="s3cret with spaces\n")
    assert done.returncode == 0, done.stderr
    done = env_server.cli("set", "CLI_PLAIN", "second value")
    assert done.stdout.strip() == "updated CLI_PLAIN"

    assert env_server.cli("get", "CLI_PLAIN").stdout == "second value\n"
    assert env_server.cli("get", "CLI_SECRET").stdout == "s3cret with spaces\n"
    listed = env_server.cli("list")
    assert listed.returncode == 0, listed.stderr
    assert {"CLI_PLAIN", "CLI_SECRET"} <= set(listed.stdout.split())
    assert "s3cret" not in listed.stdout  # values only with --values
    with_values = env_server.cli("list", "--values").stdout.splitlines()
    assert "CLI_SECRET=s3cret with spaces" in with_values

    done = env_server.cli("unset", "CLI_PLAIN")
    assert done.returncode == 0 and done.stdout.strip() == "removed CLI_PLAIN"
    missing = env_server.cli("get", "CLI_PLAIN")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "livebase env get: EnvVarNotFound: environment variable CLI_PLAIN is not set"
    )
    again = env_server.cli("unset", "CLI_PLAIN")
    assert again.returncode == 0 and "was not set" in again.stdout
    assert env_server.cli("unset", "CLI_SECRET").returncode == 0


def test_ctx_env_in_queries_mutations_actions_and_routes(env_server: EnvServer) -> None:
    url, key = env_server.url, env_server.server.admin_key
    assert call(url, key, "query", "settings:greeting", {}) == "unset"
    assert env_server.cli("set", "GREETING", "hello").returncode == 0
    # A set takes effect for every call that starts after it returns.
    assert call(url, key, "query", "settings:greeting", {}) == "hello"
    assert call(url, key, "query", "settings:everything", {})["has"] is True
    assert call(url, key, "mutation", "settings:remember", {}) == "hello"
    assert call(url, key, "action", "settings:sync_action", {}) == "hello"  # a worker process
    assert call(url, key, "action", "settings:async_action", {}) == ["hello", "hello"]
    assert httpx.get(f"{url}/greeting", timeout=30).json() == {"greeting": "hello"}

    assert env_server.cli("set", "GREETING", "bonjour").returncode == 0
    assert call(url, key, "action", "settings:sync_action", {}) == "bonjour"
    assert httpx.get(f"{url}/greeting", timeout=30).json() == {"greeting": "bonjour"}

    # A missing variable is a KeyError (a bug in the app: the log, and livebase dev, say which).
    assert "Server Error" in failure(url, key, "query", "settings:required")
    assert env_server.server.wait_for_log("environment variable 'NOT_THERE' is not set")


def _executions(server: EnvServer, path: str) -> float:
    text = httpx.get(
        f"{server.url}/metrics",
        headers={"authorization": admin_authorization(server.server.admin_key)},
        timeout=30,
    ).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("livebase_function_executions_total{") and f'"{path}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_subscription_reading_ctx_env_updates_after_env_set(env_server: EnvServer) -> None:
    assert env_server.cli("set", "GREETING", "before").returncode == 0

    async def watch() -> tuple[Any, Any, Any]:
        async with Client(env_server.url) as client:
            updates = client.subscribe("settings:greeting", {})
            plain = client.subscribe("settings:plain", {})
            first = await anext(updates)
            await anext(plain)
            runs_before = await asyncio.to_thread(_executions, env_server, "settings:plain")
            assert runs_before >= 1
            done = await asyncio.to_thread(env_server.cli, "set", "GREETING", "after")
            assert done.returncode == 0, done.stderr
            second = await asyncio.wait_for(anext(updates), 30)
            await asyncio.sleep(0.5)
            runs_after = await asyncio.to_thread(_executions, env_server, "settings:plain")
            return first, second, runs_after - runs_before

    first, second, plain_reruns = asyncio.run(watch())
    assert (first, second) == ("before", "after")
    assert plain_reruns == 0  # a query that never read ctx.env is not re-run


def test_values_are_encrypted_at_rest(env_server: EnvServer) -> None:
    secret = f"very-secret-{uuid.uuid4().hex}"
    done = env_server.cli("set", "AT_REST", "--value-stdin", stdin=secret)
    assert done.returncode == 0, done.stderr
    assert env_server.cli("get", "AT_REST").stdout == secret + "\n"
    files = [p for p in env_server.data.iterdir() if p.name.startswith("data.sqlite3")]
    assert files
    stored = b"".join(p.read_bytes() for p in files)
    assert b"AT_REST" in stored  # the row is there ...
    assert secret.encode() not in stored  # ... but not its value
    key_file = env_server.data / "env_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # App code cannot read the rows: they are not documents.
    assert env_server.cli("unset", "AT_REST").returncode == 0


def test_bad_names_and_values_are_refused(env_server: EnvServer) -> None:
    cases = {
        "1ABC": "must start with a letter, not '1'",
        "HAS-DASH": "may hold only letters, digits and underscores, not '-'",
        "_LEADING": "must start with a letter, not '_'",
        "A" * 257: "is 257 characters; the limit is 256",
    }
    for name, expected in cases.items():
        done = env_server.cli("set", name, "x")
        assert done.returncode == 2, (name, done.stderr)
        assert expected in done.stderr, done.stderr
        response = put(env_server, name, "x")
        assert response.status_code == 400
        assert response.json()["code"] == "InvalidEnvVarName"
        assert expected in response.json()["message"]
    too_big = put(env_server, "BIG", "x" * (8 * 1024 + 1))
    assert too_big.status_code == 400 and too_big.json()["code"] == "EnvValueTooLarge"
    not_text = put(env_server, "NUMBER", 5)
    assert not_text.status_code == 400 and not_text.json()["code"] == "InvalidEnvVarValue"
    no_value = env_server.cli("set", "NO_VALUE")
    assert no_value.returncode == 2 and "no value for NO_VALUE" in no_value.stderr


def test_without_the_admin_key_it_is_refused(env_server: EnvServer, tmp_path: Path) -> None:
    done = env_server.cli("list", key=False, cwd=tmp_path)
    assert done.returncode == 2
    assert "needs the admin key" in done.stderr
    url = f"{env_server.url}/api/admin/env"
    assert httpx.get(url, timeout=30).status_code == 401
    wrong = {"authorization": "Convex lb_admin_wrong"}
    response = httpx.put(f"{url}/X", json={"value": "y"}, headers=wrong, timeout=30)
    assert response.status_code == 401
    assert response.json()["message"] == "the admin key is not valid for this deployment"
    # Not even a user function can learn them: only ctx.env inside the deployment.


def test_a_node_with_another_key_says_so(tmp_path: Path) -> None:
    app = app_dir(tmp_path)
    data = tmp_path / "data"
    first_key = "A" * 43 + "="
    other_key = "B" * 43 + "="
    server = LivebaseServer(
        app, data=data, env=base_env(LIVEBASE_ENV_KEY=first_key), log_path=tmp_path / "a.log"
    )
    with server.start():
        response = put_direct(server, "GREETING", "hello")
        assert response.status_code == 200, response.text
        assert not (data / "env_key").exists()  # LIVEBASE_ENV_KEY, no key file
    wrong = LivebaseServer(
        app, data=data, env=base_env(LIVEBASE_ENV_KEY=other_key), log_path=tmp_path / "b.log"
    )
    with wrong.start():
        assert wrong.wait_for_log("encrypted with key id")
        log = wrong.log_text()
        assert re.search(r"ERROR livebase.env: environment variables: .*same LIVEBASE_ENV_KEY", log)
        message = failure(wrong.url, wrong.admin_key, "query", "settings:greeting")
        assert "EnvKeyMismatch" in message and "Nodes sharing a database must share" in message
        refused = put_direct(wrong, "OTHER", "x")
        assert refused.status_code == 500 and refused.json()["code"] == "EnvKeyMismatch"
        headers = {"authorization": admin_authorization(wrong.admin_key)}
        gone = httpx.delete(f"{wrong.url}/api/admin/env/GREETING", headers=headers, timeout=30)
        assert gone.json() == {"name": "GREETING", "removed": True}  # works without the key
        assert call(wrong.url, wrong.admin_key, "query", "settings:greeting", {}) == "unset"
    malformed = LivebaseServer(
        app, data=data, env=base_env(LIVEBASE_ENV_KEY="short"), log_path=tmp_path / "c.log"
    )
    with malformed.start():
        assert (
            put_direct(malformed, "X", "y")
            .json()["message"]
            .startswith("LIVEBASE_ENV_KEY must hold 32 random bytes in base64")
        )


def put_direct(server: LivebaseServer, name: str, value: str) -> httpx.Response:
    headers = {"authorization": admin_authorization(server.admin_key)}
    url = f"{server.url}/api/admin/env/{name}"
    return httpx.put(url, json={"value": value}, headers=headers, timeout=30)
