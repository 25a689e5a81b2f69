"""A real ``livebase serve`` of an app whose functions read ``ctx.env``, and ``livebase env``
run as a real process against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.admin_cli import AdminCliServer
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"notes": define_table({"text": v.string()})})
    """,
    "settings.py": """
        from livebase import action, mutation, query


        @query
        def greeting(ctx) -> str:
            return ctx.env.get("GREETING", "unset")


        @query
        def everything(ctx) -> dict:
            return {"names": list(ctx.env), "count": len(ctx.env), "has": "GREETING" in ctx.env}


        @query
        def plain(ctx) -> int:
            return len(ctx.db.query("notes").collect())


        @query
        def required(ctx) -> str:
            return ctx.env["NOT_THERE"]


        @mutation
        def remember(ctx) -> str:
            value = ctx.env["GREETING"]
            ctx.db.insert("notes", {"text": value})
            return value


        @action
        def sync_action(ctx) -> str:
            return ctx.env.get("GREETING", "unset")


        @action
        async def async_action(ctx) -> list:
            return [ctx.env["GREETING"], await ctx.run_query("settings:greeting")]
    """,
    "http.py": """
        from livebase import HttpRouter

        http = HttpRouter()


        @http.route("/greeting", method="GET")
        async def greeting(ctx, request):
            return {"greeting": ctx.env.get("GREETING", "unset")}
    """,
}


EnvServer = AdminCliServer
"""The server and ``livebase env`` against it."""


def app_dir(base: Path) -> Path:
    return write_app(base / "app", APP)


@pytest.fixture(scope="module")
def env_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvServer]:
    base = tmp_path_factory.mktemp("envvars")
    with LivebaseServer.launch(base, app=app_dir(base)) as server:
        yield EnvServer(server, base, "env")
