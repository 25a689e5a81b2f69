"""The HTTP function API, driven in-process through the ASGI app (``httpx.ASGITransport``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.functions.loader import unload
from livebase.server import Deployment, asgi_app

from .conftest import CHAT_FILES, run, write_app


class Api:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.app = asgi_app(deployment)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://livebase") as c:
                return await c.request(method, url, **kwargs)

        return run(go())

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("POST", url, content=json.dumps(body), headers=headers or {})

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Convex {self.deployment.admin_key}"}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.delenv("LIVEBASE_ADMIN_KEY", raising=False)
    root = write_app(tmp_path / "chat", CHAT_FILES)
    deployment = Deployment(root, tmp_path / "data", durability="normal")
    try:
        deployment.open()
        yield Api(deployment)
    finally:
        deployment.close()
        unload(deployment.app)


def _send(api: Api, channel: str, body: str) -> str:
    r = api.post(
        "/api/mutation",
        {"path": "messages:send", "args": {"channel": channel, "body": body}, "format": "json"},
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "success", data
    assert data["logLines"] == [f"[LOG] sending to {channel}"]
    return str(data["value"])


def test_version(api: Api) -> None:
    r = api.request("GET", "/version")
    assert r.status_code == 200
    assert r.text.startswith("livebase")


def test_cors_preflight_echoes_origin(api: Api) -> None:
    r = api.request(
        "OPTIONS",
        "/api/query",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,convex-client",
        },
    )
    assert r.status_code in (200, 204)
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"].lower()
    # Actual responses carry the header as well.
    r = api.request(
        "POST",
        "/api/query",
        content=json.dumps({"path": "messages:count", "args": {"channel": "c"}}),
        headers={"Origin": "https://app.example"},
    )
    assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_run_endpoint_returns_clean_json(api: Api) -> None:
    message_id = _send(api, "general", "hello")
    r = api.post("/api/run/messages/list", {"args": {"channel": "general"}})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "success"
    [doc] = data["value"]
    assert doc["_id"] == message_id
    assert doc["body"] == "hello" and doc["channel"] == "general"
    assert isinstance(doc["_creationTime"], float)
    # A module in a folder: /api/run/admin/users/total (admin only).
    r = api.post("/api/run/admin/users/total", {"args": {}}, headers=api.admin())
    assert r.status_code == 200, r.text
    assert r.json()["value"] == 1  # a count is a number (an int64 would be a string)


def test_json_format_sends_int64_as_string(api: Api) -> None:
    big = 2**53 + 1
    encoded = {"$integer": __import__("base64").b64encode(big.to_bytes(8, "little")).decode()}
    r = api.post(
        "/api/query", {"path": "messages:echo", "args": {"value": encoded}, "format": "json"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"] == str(big)
    r = api.post(
        "/api/query",
        {"path": "messages:echo", "args": {"value": encoded}, "format": "convex_encoded_json"},
    )
    assert r.json()["value"] == encoded
    r = api.post("/api/query", {"path": "messages:echo", "args": {"value": 1.0}, "format": "json"})
    assert r.json()["value"] == 1.0
    assert '"value":1.0' in r.text.replace(" ", "")


def test_unsupported_format_is_400(api: Api) -> None:
    r = api.post(
        "/api/query", {"path": "messages:count", "args": {"channel": "c"}, "format": "xml"}
    )
    assert r.status_code == 400
    assert set(r.json()) >= {"code", "message"}


def test_args_array(api: Api) -> None:
    ok = api.post("/api/query", {"path": "messages:count", "args": [{"channel": "c"}]})
    assert ok.status_code == 200 and ok.json()["status"] == "success"
    r = api.post(
        "/api/query", {"path": "messages:count", "args": [{"channel": "c"}, {"channel": "d"}]}
    )
    assert r.status_code == 400
    assert set(r.json()) >= {"code", "message"}


def test_bad_requests_are_4xx_with_code_and_message(api: Api) -> None:
    cases = [
        ("/api/query", b"{not json", 400),
        ("/api/query", json.dumps({"path": "messages:nope", "args": {}}).encode(), 404),
        ("/api/query", json.dumps({"path": "admin/users:total", "args": {}}).encode(), 404),
        (
            "/api/query",
            json.dumps({"path": "messages:count", "args": {"channel": 1}}).encode(),
            400,
        ),
        ("/api/mutation", json.dumps({"path": "messages:list", "args": {}}).encode(), 404),
    ]
    for url, body, status in cases:
        r = api.request("POST", url, content=body)
        assert r.status_code == status, (body, r.status_code, r.text)
        data = r.json()
        assert isinstance(data["code"], str) and isinstance(data["message"], str)


def test_bearer_token_is_401(api: Api) -> None:
    r = api.post(
        "/api/query",
        {"path": "messages:count", "args": {"channel": "c"}},
        headers={"Authorization": "Bearer x"},
    )
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthenticated"


def test_wrong_admin_key_is_401(api: Api) -> None:
    r = api.post(
        "/api/query",
        {"path": "admin/users:total", "args": {}},
        headers={"Authorization": "Convex not-the-key"},
    )
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthenticated"
    r = api.post("/api/query", {"path": "admin/users:total", "args": {}}, headers=api.admin())
    assert r.status_code == 200 and r.json()["status"] == "success"


def test_admin_key_is_kept_in_the_data_dir(api: Api) -> None:
    key_file = api.deployment.data_dir / "admin_key"
    assert key_file.read_text().strip() == api.deployment.admin_key


def test_function_endpoint_resolves_any_kind(api: Api) -> None:
    r = api.post("/api/function", {"path": "messages:send", "args": {"channel": "f", "body": "b"}})
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    r = api.post("/api/function", {"path": "messages:count", "args": {"channel": "f"}})
    assert r.json()["value"] == 1.0 and '"value":1.0' in r.text
    r = api.post("/api/function", {"path": "messages:shout", "args": {"channel": "f", "body": "x"}})
    assert r.json()["status"] == "success", r.text
    assert r.json()["value"]["count"] == 2.0
    r = api.post(
        "/api/function", {"path": "admin/users:wipe", "args": {"channel": "f"}}, headers=api.admin()
    )
    assert r.json()["status"] == "success", r.text
    r = api.post("/api/function", {"path": "admin/users:wipe", "args": {"channel": "f"}})
    assert r.status_code == 404


def test_app_error_and_server_error_over_http(api: Api) -> None:
    r = api.post("/api/mutation", {"path": "messages:send", "args": {"channel": "c", "body": " "}})
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "error"
    assert data["errorData"] == {"code": "EmptyMessage", "channel": "c"}
    r = api.post("/api/query", {"path": "messages:boom", "args": {}})
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "error"
    assert data["errorMessage"].startswith("[Request ID: ")
    assert data["errorMessage"].endswith("] Server Error")
    assert "0xdeadbeef" not in r.text and "ValueError" not in r.text


def test_unknown_route_is_404(api: Api) -> None:
    assert api.request("GET", "/nope").status_code == 404
    assert api.request("POST", "/api/nope", content=b"{}").status_code == 404
