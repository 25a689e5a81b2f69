"""Start-up errors a user can fix print one clear message and exit 1, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livebase.functions.loader import unload
from livebase.server import Deployment

from .conftest import CHAT_APP, Servers, base_env, free_port, livebase_cli, write_app


def _serve(app: Path | str, data: Path, cwd: Path) -> tuple[int, str]:
    result = livebase_cli(
        "serve", str(app), "--port", str(free_port()), "--data", str(data), cwd=cwd, timeout=30
    )
    return result.returncode, result.stdout + result.stderr


def test_missing_app_folder(tmp_path: Path) -> None:
    write_app(tmp_path / "chat", CHAT_APP)
    code, output = _serve("no_such_folder", tmp_path / "data", tmp_path)
    assert code == 1, output
    assert "no_such_folder" in output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "chat" in output  # the folders that do exist are listed
    assert not (tmp_path / "data").exists()


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    app = write_app(tmp_path / "chat", CHAT_APP)
    (app / "broken.py").write_text("from livebase import query\n\n\ndef oops(:\n    pass\n")
    code, output = _serve(app, tmp_path / "data", tmp_path)
    assert code == 1, output
    assert f"{app / 'broken.py'}:4" in output, output
    assert "Traceback" not in output


def test_import_error_names_the_file(tmp_path: Path) -> None:
    app = write_app(tmp_path / "chat", CHAT_APP)
    (app / "bad_import.py").write_text("import livebase_no_such_module_xyz\n")
    code, output = _serve(app, tmp_path / "data", tmp_path)
    assert code == 1, output
    assert "bad_import.py" in output
    assert "livebase_no_such_module_xyz" in output
    assert "Traceback" not in output


def test_schema_that_existing_data_violates_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "notes.py": """
            from livebase import mutation

            @mutation
            def put(ctx, doc: dict) -> str:
                return ctx.db.insert("notes", doc)
        """,
    }
    app = write_app(tmp_path / "notes", files)
    data = tmp_path / "data"
    monkeypatch.delenv("LIVEBASE_ADMIN_KEY", raising=False)
    deployment = Deployment(app, data, durability="normal")
    try:
        deployment.open()

        async def fill() -> tuple[str, str]:
            good = await deployment.runner.run_mutation("notes:put", {"doc": {"title": "ok"}})
            bad = await deployment.runner.run_mutation("notes:put", {"doc": {"title": 42.0}})
            assert good.ok and bad.ok, (good, bad)
            return good.value, bad.value

        good_id, bad_id = asyncio.run(fill())
    finally:
        deployment.close()
        unload(deployment.app)

    write_app(
        app,
        {
            "schema.py": """
                from livebase import define_schema, define_table, v

                schema = define_schema({"notes": define_table({"title": v.string()})})
            """
        },
    )
    code, output = _serve(app, data, tmp_path)
    assert code == 1, output
    assert bad_id in output, output
    assert good_id not in output
    assert "title" in output
    assert "Traceback" not in output

    # Nothing was changed: the old (schemaless) app still starts on the data.
    (app / "schema.py").unlink()
    servers = Servers(tmp_path)
    try:
        server = servers.start("serve", app, data)
        assert server.process.poll() is None
    finally:
        servers.stop_all()


def test_second_server_on_the_same_data_folder(servers: Servers, tmp_path: Path) -> None:
    app = write_app(tmp_path / "chat", CHAT_APP)
    data = tmp_path / "data"
    first = servers.start("serve", app, data)
    result = livebase_cli(
        "serve", str(app), "--port", str(free_port()), "--data", str(data), cwd=tmp_path,
        env=base_env(), timeout=30,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "in use" in output, output
    assert "Traceback" not in output
    # The first server is unaffected.
    assert first.process.poll() is None
