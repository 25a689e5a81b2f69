"""An app's own HTTP routes (``http.py``) on a real server: exact and prefix routes, Starlette
requests and responses, database access through ctx, CORS, 404/405, body limits and handler
errors (a short 500; the traceback only in the server log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.apps import write_app
from tests.support.calls import wait_until
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"hooks": define_table({"source": v.string(), "payload": v.any()})})
    """,
    "hooks.py": """
        from livebase import mutation, query

        @mutation
        def store(ctx, source: str, payload) -> str:
            return ctx.db.insert("hooks", {"source": source, "payload": payload})

        @query
        def count(ctx) -> int:
            return len(ctx.db.query("hooks").collect())
    """,
    "http.py": """
        import asyncio

        from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

        from livebase import Cors, HttpRouter

        http = HttpRouter(cors=Cors(allowed_origins=["https://app.example"]))

        @http.route("/webhook", method="POST")
        async def webhook(ctx, request):
            payload = await request.json()
            source = request.query_params.get("source", "?")
            hook_id = await ctx.run_mutation("hooks:store", {"source": source, "payload": payload})
            total = await ctx.run_query("hooks:count", {})
            return JSONResponse({"id": hook_id, "total": total}, status_code=201,
                                headers={"x-hook": "stored"})

        @http.route(path_prefix="/files/")
        async def files(ctx, request):
            return PlainTextResponse("file " + request.url.path.removeprefix("/files/"))

        @http.route("/stream")
        async def stream(ctx, request):
            async def parts():
                for i in range(3):
                    yield f"part{i};"
            return StreamingResponse(parts(), media_type="text/plain")

        RELEASE = asyncio.Event()
        CLOSED = []

        @http.route("/live")
        async def live(ctx, request):
            async def events():
                try:
                    yield "data: first\\n\\n"
                    await RELEASE.wait()  # the first event must reach the client before this
                    total = await ctx.run_query("hooks:count", {})  # ctx outlives the handler
                    yield f"data: total {total}\\n\\n"
                finally:
                    CLOSED.append(request.query_params.get("n", "?"))
            return StreamingResponse(events(), media_type="text/event-stream")

        @http.route("/release", method="POST")
        async def release(ctx, request):
            RELEASE.set()
            return {"closed": CLOSED}

        @http.route("/closed")
        async def closed(ctx, request):
            return {"closed": CLOSED}

        @http.route("/boom")
        async def boom(ctx, request):
            raise RuntimeError("secret internal detail")

        @http.route("/wrong")
        async def wrong(ctx, request):
            return 42
    """,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("routes")
    app = write_app(base / "app", APP)
    env = base_env(LIVEBASE_MAX_HTTP_BODY_BYTES="100000")
    with LivebaseServer.launch(base, app=app, env=env) as s:
        yield s


def test_a_route_reaches_the_database_and_returns_a_starlette_response(
    server: LivebaseServer,
) -> None:
    r = httpx.post(server.url + "/webhook?source=github", json={"action": "opened"})
    assert r.status_code == 201, r.text
    assert r.headers["x-hook"] == "stored"
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body["id"], str) and body["total"] >= 1
    again = httpx.post(server.url + "/webhook", json=[1, 2]).json()
    assert again["total"] == body["total"] + 1


def test_prefix_routes_and_streaming_bodies(server: LivebaseServer) -> None:
    r = httpx.get(server.url + "/files/a/b.txt")
    assert (r.status_code, r.text) == (200, "file a/b.txt")
    assert httpx.get(server.url + "/stream").text == "part0;part1;part2;"


def test_a_streaming_response_is_sent_as_it_is_produced(server: LivebaseServer) -> None:
    """The first event reaches the client while the handler's body still waits (it was buffered
    until the end before); ``ctx`` works inside the body; a client that leaves closes it."""
    with httpx.stream("GET", server.url + "/live?n=gone", timeout=30) as gone:
        assert gone.headers["content-type"].startswith("text/event-stream")
        assert next(gone.iter_text()) == "data: first\n\n"
    wait_until(lambda: "gone" in httpx.get(server.url + "/closed").json()["closed"])
    with httpx.stream("GET", server.url + "/live?n=whole", timeout=30) as whole:
        chunks = whole.iter_text()
        assert next(chunks) == "data: first\n\n"  # before the release: streamed, not buffered
        assert httpx.post(server.url + "/release").status_code == 200
        rest = "".join(chunks)
    assert rest.startswith("data: total ") and rest.endswith("\n\n")
    assert "whole" in httpx.get(server.url + "/closed").json()["closed"]


def test_unknown_paths_and_methods(server: LivebaseServer) -> None:
    missing = httpx.get(server.url + "/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    wrong_method = httpx.get(server.url + "/webhook")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "MethodNotAllowed"
    # Livebase's own paths are not shadowed by the app's routes.
    assert httpx.get(server.url + "/version").status_code == 200
    assert httpx.get(server.url + "/_internal").status_code == 404


def test_handler_errors_are_a_short_500_with_the_traceback_in_the_log(
    server: LivebaseServer,
) -> None:
    for path in ("/boom", "/wrong"):
        r = httpx.get(server.url + path)
        assert r.status_code == 500
        assert r.json()["code"] == "InternalError"
        assert "secret internal detail" not in r.text
        assert "Request ID" in r.json()["message"]
    assert server.wait_for_log("secret internal detail")
    assert server.wait_for_log("return a starlette Response, or a dict/list for JSON")
    # The server keeps serving.
    assert httpx.get(server.url + "/files/x").status_code == 200


def test_cors_follows_the_routers_policy(server: LivebaseServer) -> None:
    preflight = httpx.options(
        server.url + "/webhook",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    allowed = httpx.get(server.url + "/files/x", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.get(server.url + "/files/x", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_bodies_over_the_limit_get_413(server: LivebaseServer) -> None:
    r = httpx.post(server.url + "/webhook", content=b"x" * 200_000)
    assert r.status_code == 413
    assert r.json()["code"] == "RequestTooLarge"
    assert httpx.post(server.url + "/webhook", json={"small": True}).status_code == 201


def test_a_bad_router_definition_is_a_clear_load_error(tmp_path: Path) -> None:
    from livebase.errors import AppLoadError
    from livebase.functions.loader import load_app

    root = write_app(tmp_path / "bad", {"http.py": "http = 42\n"})
    with pytest.raises(AppLoadError, match=r"http = HttpRouter\(\)\), got int"):
        load_app(root)
