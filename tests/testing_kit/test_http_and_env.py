"""``t.fetch`` runs the app's HTTP routes in-process (JSON, status, headers, streamed bodies,
``ctx`` reaching the database, the signed-in user in ``ctx.auth``, 404 for an unknown path), and
``t.set_env`` / ``t.unset_env`` drive ``ctx.env`` and re-run the subscriptions that read it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.apps import write_app

if TYPE_CHECKING:
    from livebase.testing.harness import AppHarness

FILES = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"hooks": define_table({"source": v.string()})})
    """,
    "hooks.py": """
        from livebase import mutation, query


        @mutation
        def store(ctx, source: str) -> str:
            return ctx.db.insert("hooks", {"source": source})


        @query
        def count(ctx) -> int:
            return len(ctx.db.query("hooks").collect())


        @query
        def greeting(ctx) -> str:
            return ctx.env.get("GREETING", "hello")
    """,
    "http.py": """
        from starlette.responses import JSONResponse, StreamingResponse

        from livebase import HttpRouter

        http = HttpRouter()


        @http.route("/hook", method="POST")
        async def hook(ctx, request):
            body = await request.json()
            await ctx.run_mutation("hooks:store", {"source": body["source"]})
            total = await ctx.run_query("hooks:count", {})
            return JSONResponse({"total": total}, status_code=201, headers={"x-kind": "hook"})


        @http.route("/me", method="GET")
        async def me(ctx, request):
            user = ctx.auth.get_user_identity()
            return {"user": None if user is None else user.subject,
                    "q": request.query_params.get("q")}


        @http.route("/lines", method="GET")
        async def lines(ctx, request):
            async def parts():
                for i in range(3):
                    yield f"line {i}\\n"
            return StreamingResponse(parts(), media_type="text/plain")
    """,
}


@pytest.fixture
def app(tmp_path: Path, make_livebase_app: Callable[..., AppHarness]) -> AppHarness:
    return make_livebase_app(write_app(tmp_path / "hooksapp", FILES))


def test_fetch_runs_a_route_against_the_harness_database(app: AppHarness) -> None:
    answer = app.fetch("POST", "/hook", json={"source": "github"})
    assert (answer.status, answer.json()) == (201, {"total": 1})
    assert answer.headers["x-kind"] == "hook"
    assert answer.headers["content-type"].startswith("application/json")
    assert app.query("hooks:count") == 1  # the route's write is in the harness's database
    assert app.fetch("GET", "/lines").text == "line 0\nline 1\nline 2\n"
    missing = app.fetch("GET", "/nowhere")
    assert missing.status == 404


def test_fetch_as_a_user_reaches_ctx_auth(app: AppHarness) -> None:
    assert app.anonymous.fetch("GET", "/me?q=1").json() == {"user": None, "q": "1"}
    assert app.as_user("alice").fetch("GET", "/me").json() == {"user": "alice", "q": None}
    refused = app.fetch("GET", "/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status == 401 and refused.json()["code"] == "Unauthenticated"


def test_env_in_calls_and_subscriptions(app: AppHarness) -> None:
    seen: list[Any] = []
    with app.subscribe("hooks:greeting") as sub:
        seen.append(sub.value)
        app.set_env("GREETING", "bonjour")
        seen.append(sub.value)
        app.unset_env("GREETING")
        seen.append(sub.value)
    assert seen == ["hello", "bonjour", "hello"]
    with pytest.raises(Exception, match="must start with a letter"):
        app.set_env("1BAD", "x")


def test_env_given_at_construction_is_there_for_the_first_call(
    tmp_path: Path, make_livebase_app: Callable[..., AppHarness]
) -> None:
    app = make_livebase_app(write_app(tmp_path / "withenv", FILES), env={"GREETING": "hola"})
    assert app.query("hooks:greeting") == "hola"
    with pytest.raises(Exception, match="must start with a letter"):
        make_livebase_app(write_app(tmp_path / "badenv", FILES), env={"1BAD": "x"})
