"""Errors you can read while developing, on real servers: under ``livebase dev`` a bug in a
query, mutation, action or HTTP route reaches the caller (``/api/*``, the sync socket, the
route's 500 body) with its type, message and the app's own frames; under ``livebase serve`` it
stays ``[Request ID: <id>] Server Error`` with the traceback in the server log. HTTP routes may
return a dict or list (JSON); anything else names the fix. Actions and routes call functions
by the decorated function as well as by path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livebase.client import FunctionError, SyncClient
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NOTES = """
    from livebase import action, mutation, query


    def check(text):
        if not text:
            raise LookupError("empty note")  # RAISE


    @query
    def find(ctx, text: str) -> str:
        check(text)  # CALL-Q
        return text


    @mutation
    def save(ctx, text: str) -> str:
        check(text)  # CALL-M
        return ctx.db.insert("notes", {"text": text})


    @query
    def count(ctx) -> int:
        return len(ctx.db.query("notes").collect())


    @action
    async def publish(ctx, text: str) -> int:
        check(text)  # CALL-A
        await ctx.run_mutation(save, {"text": text})
        return await ctx.run_query(count, {})
"""

HTTP = """
    from livebase import HttpRouter

    from .notes import count, save

    http = HttpRouter()


    @http.route("/boom")
    async def boom(ctx, request):
        raise RuntimeError("route exploded")  # ROUTE-RAISE


    @http.route("/dict", method="POST")
    async def as_dict(ctx, request):
        await ctx.run_mutation(save, {"text": "from a route"})
        return {"count": await ctx.run_query(count), "ok": True}


    @http.route("/list")
    async def as_list(ctx, request):
        return [1, "two", None]


    @http.route("/int")
    async def as_int(ctx, request):
        return 42
"""

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"notes": define_table({"text": v.string()})})
    """,
    "notes.py": NOTES,
    "http.py": HTTP,
}

DEV_HEAD = re.compile(r"^\[Request ID: [0-9a-f]+\] Server Error\n")
SERVE_MESSAGE = re.compile(r"^\[Request ID: ([0-9a-f]+)\] Server Error$")


def _line(source: str, marker: str) -> int:
    lines = source.strip("\n").splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text)


def _servers(base: Path, command: str) -> LivebaseServer:
    app = write_app(base / "app", APP)
    return LivebaseServer.launch(base, app=app, command=command)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    with _servers(tmp_path_factory.mktemp("dev"), "dev") as server:
        yield server


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    with _servers(tmp_path_factory.mktemp("serve"), "serve") as server:
        yield server


def _api_error(server: LivebaseServer, kind: str, path: str, args: dict[str, object]) -> str:
    response = httpx.post(
        f"{server.url}/api/{kind}", json={"path": path, "args": args, "format": "json"}, timeout=30
    )
    body = response.json()
    assert body["status"] == "error", body
    assert "errorData" not in body
    message: str = body["errorMessage"]
    return message


def _assert_dev(message: str, function: str, call: str) -> None:
    assert DEV_HEAD.match(message), message
    detail = message.split("\n", 1)[1]
    assert detail.splitlines() == [
        "Uncaught LookupError: empty note",
        f"    at check (notes.py:{_line(NOTES, 'RAISE')})",
        f"    at {function} (notes.py:{_line(NOTES, call)})",
    ], message


CALLS = [
    ("query", "notes:find", "find", "CALL-Q"),
    ("mutation", "notes:save", "save", "CALL-M"),
    ("action", "notes:publish", "publish", "CALL-A"),
]


@pytest.mark.parametrize("kind,path,function,call", CALLS)
def test_dev_api_error_has_type_message_and_app_frames(
    dev: LivebaseServer, kind: str, path: str, function: str, call: str
) -> None:
    _assert_dev(_api_error(dev, kind, path, {"text": ""}), function, call)


@pytest.mark.parametrize("kind,path,function,call", CALLS)
def test_serve_api_error_is_server_error_with_the_traceback_logged(
    serve: LivebaseServer, kind: str, path: str, function: str, call: str
) -> None:
    message = _api_error(serve, kind, path, {"text": ""})
    found = SERVE_MESSAGE.match(message)
    assert found, message
    request_id = found.group(1)
    assert serve.wait_for_log(f"[Request ID: {request_id}]")
    log = serve.log_text()
    logged = log[log.index(f"[Request ID: {request_id}]") :]
    assert "Traceback" in logged and "LookupError: empty note" in logged


@pytest.mark.parametrize("kind,path,function,call", CALLS)
def test_dev_error_over_the_sync_socket(
    dev: LivebaseServer, kind: str, path: str, function: str, call: str
) -> None:
    client = SyncClient(dev.url)
    try:
        with pytest.raises(FunctionError) as failed:
            getattr(client, kind)(path, {"text": ""})
    finally:
        client.close()
    _assert_dev(failed.value.message, function, call)


@pytest.mark.parametrize("kind,path,function,call", CALLS)
def test_serve_error_over_the_sync_socket(
    serve: LivebaseServer, kind: str, path: str, function: str, call: str
) -> None:
    client = SyncClient(serve.url)
    try:
        with pytest.raises(FunctionError) as failed:
            getattr(client, kind)(path, {"text": ""})
    finally:
        client.close()
    assert SERVE_MESSAGE.match(failed.value.message), failed.value.message


def test_dev_route_error_body(dev: LivebaseServer) -> None:
    response = httpx.get(dev.url + "/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "InternalError"
    assert DEV_HEAD.match(body["message"]), body
    assert body["message"].split("\n", 1)[1].splitlines() == [
        "Uncaught RuntimeError: route exploded",
        f"    at boom (http.py:{_line(HTTP, 'ROUTE-RAISE')})",
    ], body


def test_serve_route_error_body(serve: LivebaseServer) -> None:
    response = httpx.get(serve.url + "/boom")
    assert response.status_code == 500
    found = SERVE_MESSAGE.match(response.json()["message"])
    assert found, response.text
    assert "exploded" not in response.text
    assert serve.wait_for_log("route exploded")
    assert f"[Request ID: {found.group(1)}] HTTP route GET /boom failed" in serve.log_text()


@pytest.mark.parametrize("server_name", ["dev", "serve"])
def test_route_returning_a_dict_or_list_is_json(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    server: LivebaseServer = request.getfixturevalue(server_name)
    response = httpx.post(server.url + "/dict")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["ok"] is True and body["count"] >= 1
    listed = httpx.get(server.url + "/list")
    assert listed.status_code == 200 and listed.json() == [1, "two", None]
    assert listed.headers["content-type"] == "application/json"


def test_route_returning_an_int_names_the_fix(dev: LivebaseServer, serve: LivebaseServer) -> None:
    fix = "returned int; return a starlette Response, or a dict/list for JSON"
    where = f"as_int (http.py:{_line(HTTP, 'async def as_int') - 1})"
    shown = httpx.get(dev.url + "/int")
    assert shown.status_code == 500
    message = shown.json()["message"]
    assert "Uncaught TypeError: HTTP route handler " in message and fix in message, message
    assert where in message, message
    hidden = httpx.get(serve.url + "/int")
    assert hidden.status_code == 500
    found = SERVE_MESSAGE.match(hidden.json()["message"])
    assert found, hidden.text
    assert serve.wait_for_log(fix)
    assert f"[Request ID: {found.group(1)}] HTTP route GET /int failed" in serve.log_text()


def test_an_action_calls_functions_by_the_decorated_function(serve: LivebaseServer) -> None:
    response = httpx.post(
        f"{serve.url}/api/action",
        json={"path": "notes:publish", "args": {"text": "hello"}, "format": "json"},
        timeout=30,
    )
    body = response.json()
    assert body["status"] == "success", body
    assert int(body["value"]) >= 1
