"""``livebase serve`` start-up output and admin key, and ``livebase run`` against a server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .conftest import CHAT_APP, Server, Servers, base_env, free_port, livebase_cli, write_app


def test_serve_prints_key_and_ready_line_and_keeps_the_key(
    servers: Servers, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "chat", CHAT_APP)
    data = tmp_path / "data"
    first = servers.start("serve", app, data)
    out = first.output()
    assert "Admin key:" in out
    assert f"Livebase ready at {first.url}" in out, out
    r = httpx.get(f"{first.url}/version")
    assert r.status_code == 200
    key = first.admin_key()
    assert key
    assert (data / "admin_key").read_text().strip() == key
    # The key works for an internal function over HTTP.
    r = httpx.post(
        f"{first.url}/api/query",
        json={"path": "admin/users:total", "args": {}},
        headers={"Authorization": f"Convex {key}"},
    )
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    first.stop()

    # A restart on the same data folder keeps the key.
    second = servers.start("serve", app, data)
    assert second.admin_key() == key
    second.stop()

    # LIVEBASE_ADMIN_KEY overrides the stored key.
    third = servers.start("serve", app, data, env=base_env(LIVEBASE_ADMIN_KEY="override-key-123"))
    assert third.admin_key() == "override-key-123"
    body = {"path": "admin/users:total", "args": {}}
    r = httpx.post(
        f"{third.url}/api/query", json=body, headers={"Authorization": "Convex override-key-123"}
    )
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    r = httpx.post(f"{third.url}/api/query", json=body, headers={"Authorization": f"Convex {key}"})
    assert r.status_code == 401
    # The stored key file is left as it was.
    assert (data / "admin_key").read_text().strip() == key


def test_run_mutation_prints_the_id(chat_server: tuple[Server, Path], empty_dir: Path) -> None:
    server, _ = chat_server
    result = livebase_cli(
        "run", "messages:send", '{"channel":"c","body":"x"}', "--url", server.url, cwd=empty_dir
    )
    assert result.returncode == 0, result.stderr
    message_id = json.loads(result.stdout)
    assert isinstance(message_id, str) and message_id
    listed = livebase_cli(
        "run", "messages:list", '{"channel":"c"}', "--url", server.url, cwd=empty_dir
    )
    assert listed.returncode == 0, listed.stderr
    assert message_id in [doc["_id"] for doc in json.loads(listed.stdout)]


def test_run_internal_function_needs_the_admin_key(
    chat_server: tuple[Server, Path], empty_dir: Path
) -> None:
    server, data = chat_server
    result = livebase_cli("run", "admin/users:total", "--url", server.url, cwd=empty_dir)
    assert result.returncode == 1
    assert "--admin-key" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

    key = (data / "admin_key").read_text().strip()
    ok = livebase_cli(
        "run", "admin/users:total", "{}", "--url", server.url, "--admin-key", key, cwd=empty_dir
    )
    assert ok.returncode == 0, ok.stderr
    assert isinstance(json.loads(ok.stdout), int)

    from_env = livebase_cli(
        "run",
        "admin/users:total",
        "--url",
        server.url,
        cwd=empty_dir,
        env=base_env(LIVEBASE_ADMIN_KEY=key),
    )
    assert from_env.returncode == 0, from_env.stderr

    from_data = livebase_cli(
        "run", "admin/users:total", "--url", server.url, "--data", str(data), cwd=empty_dir
    )
    assert from_data.returncode == 0, from_data.stderr

    wrong = livebase_cli(
        "run", "admin/users:total", "--url", server.url, "--admin-key", "nope", cwd=empty_dir
    )
    assert wrong.returncode == 1
    assert "Traceback" not in wrong.stderr


def test_run_app_error_exits_1_and_prints_the_data(
    chat_server: tuple[Server, Path], empty_dir: Path
) -> None:
    server, _ = chat_server
    result = livebase_cli(
        "run", "messages:send", '{"channel":"c","body":"  "}', "--url", server.url, cwd=empty_dir
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "EmptyMessage" in output, output
    assert "Traceback" not in output


def test_run_server_error_exits_1_without_details(
    chat_server: tuple[Server, Path], empty_dir: Path
) -> None:
    server, _ = chat_server
    result = livebase_cli("run", "messages:boom", "--url", server.url, cwd=empty_dir)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Server Error" in output, output
    assert "0xfeed" not in output


def test_run_unknown_function_and_bad_args_exit_1(
    chat_server: tuple[Server, Path], empty_dir: Path
) -> None:
    server, _ = chat_server
    unknown = livebase_cli("run", "messages:nope", "--url", server.url, cwd=empty_dir)
    assert unknown.returncode == 1
    assert "messages:nope" in unknown.stderr
    bad = livebase_cli(
        "run", "messages:send", '{"channel": 1, "body": "x"}', "--url", server.url, cwd=empty_dir
    )
    assert bad.returncode == 1
    assert "channel" in bad.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr


def test_run_against_an_unreachable_url(empty_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = livebase_cli("run", "messages:list", '{"channel":"c"}', "--url", url, cwd=empty_dir)
    assert result.returncode == 1
    assert "running" in result.stderr, result.stderr
    assert url in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_bad_json_exits_2(empty_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for bad in ('{"channel":', "[1, 2]", "not json"):
        result = livebase_cli("run", "messages:send", bad, "--url", url, cwd=empty_dir)
        assert result.returncode == 2, (bad, result.stderr)
        assert "JSON" in result.stderr
        assert "Traceback" not in result.stderr


def test_serve_with_a_sqlite_db_url_and_an_unknown_scheme(tmp_path: Path) -> None:
    from tests.support.server import LivebaseServer

    db_file = tmp_path / "elsewhere" / "app.sqlite3"
    with LivebaseServer.launch(tmp_path / "s", db=f"sqlite://{db_file}") as server:
        body = {"path": "messages:send", "args": {"channel": "a", "body": "hi"}}
        assert httpx.post(f"{server.url}/api/mutation", json=body).json()["status"] == "success"
        assert "durability" in server.log_text()
    assert db_file.exists() and db_file.stat().st_size > 0  # the database went where --db said
    assert not (tmp_path / "s" / "data" / "data.sqlite3").exists()

    bad = LivebaseServer(data=tmp_path / "b", db="mysql://localhost/app")
    bad.spawn()
    assert bad.process is not None and bad.process.wait(timeout=30) == 1
    assert "unsupported storage URL" in bad.log_text()


def test_apps_can_tell_dev_from_serve(tmp_path: Path) -> None:
    from tests.support.server import LivebaseServer

    app = write_app(
        tmp_path / "app",
        {
            "mode.py": """
                from livebase import is_dev, query

                LOADED_IN_DEV = is_dev()

                @query
                def dev(ctx) -> bool:
                    return LOADED_IN_DEV
            """
        },
    )
    for command, expected in (("dev", True), ("serve", False)):
        with LivebaseServer.launch(tmp_path / command, app=app, command=command) as server:
            body = {"path": "mode:dev", "args": {}, "format": "json"}
            assert httpx.post(f"{server.url}/api/query", json=body).json()["value"] is expected
