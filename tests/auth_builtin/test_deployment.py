"""The built-in issuer inside a ``Deployment``: present exactly while ``auth.py`` declares it
(also across ``livebase dev`` reloads), routed by the ``Router``, and its issuer URL taken from
where the server listens (``livebase serve`` or any ASGI server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livebase.functions.loader import unload
from livebase.httpserver import Request
from livebase.server import Deployment, Router, asgi_app
from tests.support.apps import write_app

from .conftest import NO_AUTH_APP, run

AUTH_PY = 'providers = [{"type": "builtin"}]\n'


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", {**NO_AUTH_APP, "auth.py": AUTH_PY})


@pytest.fixture
def deployment(
    app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    monkeypatch.setenv("LIVEBASE_ADMIN_KEY", "builtin-key")
    d = Deployment(app_dir, tmp_path / "data", durability="normal")
    d.open()
    yield d
    d.close()
    unload(d.app)


def get(router: Router, path: str) -> tuple[int, Any]:
    response = run(router(Request("GET", path, "", {}, b"")))
    return response.status, json.loads(response.body) if response.body else None


def test_the_router_serves_the_issuer_only_while_auth_py_declares_it(
    deployment: Deployment, app_dir: Path
) -> None:
    router = Router(deployment)
    assert deployment.builtin_issuer is not None
    deployment.listening("0.0.0.0", 4123)
    assert get(router, "/.well-known/openid-configuration")[1]["issuer"] == (
        "http://127.0.0.1:4123"
    )
    issuer = deployment.builtin_issuer

    (app_dir / "auth.py").write_text(
        'providers = [{"type": "builtin", "application_id": "renamed"}]\n'
    )
    deployment.reload()
    assert deployment.builtin_issuer is issuer and issuer.audience == "renamed"

    (app_dir / "auth.py").write_text("providers = []\n")
    deployment.reload()
    assert deployment.builtin_issuer is None
    assert get(router, "/.well-known/openid-configuration")[0] == 404
    status, body = run(_admin_list(router))
    assert status == 404 and body["code"] == "BuiltinIssuerDisabled"

    (app_dir / "auth.py").write_text(AUTH_PY)
    deployment.reload()
    assert deployment.builtin_issuer is not None  # the listen address is remembered
    assert get(router, "/.well-known/jwks.json")[1]["keys"][0]["kid"] == issuer.keys.current.kid
    assert deployment.builtin_issuer.issuer == "http://127.0.0.1:4123"


async def _admin_list(router: Router) -> tuple[int, Any]:
    headers = {"authorization": "Convex builtin-key"}
    response = await router(Request("GET", "/api/admin/users", "", headers, b""))
    return response.status, json.loads(response.body)


def test_an_asgi_server_gives_the_issuer_its_address(deployment: Deployment) -> None:
    async def scenario() -> dict[str, Any]:
        app = asgi_app(deployment)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/.well-known/openid-configuration",
            "query_string": b"",
            "headers": [],
            "server": ("::", 8443),
        }
        await app(scope, receive, send)
        return json.loads(sent[1]["body"])  # type: ignore[no-any-return]

    meta = asyncio.run(scenario())
    assert meta["issuer"] == "http://127.0.0.1:8443"
    assert meta["token_endpoint"] == "http://127.0.0.1:8443/auth/token"


def test_the_configured_issuer_wins(
    app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEBASE_AUTH_ISSUER", "https://api.example.com/")
    d = Deployment(app_dir, tmp_path / "data", durability="normal")
    try:
        d.listening("127.0.0.1", 4123)
        assert d.builtin_issuer is not None
        assert d.builtin_issuer.issuer == "https://api.example.com"
    finally:
        d.close()
        unload(d.app)
