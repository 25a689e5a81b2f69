"""The ASGI application: one port for the HTTP function API, health and (later) the sync socket.

``Deployment`` owns the engine, the loaded app and the admin key; ``asgi_app`` serves it; in dev
mode a watcher reloads functions and schema when app files change, keeping connections open.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from livebase import __version__
from livebase.config import Settings, settings_from_env
from livebase.engine.database import Engine
from livebase.errors import LivebaseError
from livebase.functions.loader import App, load_app, unload
from livebase.functions.runner import Runner
from livebase.httpapi.api import HttpResponse, authenticate, error_response, handle_api
from livebase.storage import Durability, open_storage

log = logging.getLogger("livebase.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_KEY_FILE = "admin_key"
DB_FILE = "data.sqlite3"


def load_admin_key(data_dir: Path) -> str:
    """``LIVEBASE_ADMIN_KEY`` if set; else the key kept in the data dir, made on first start."""
    env = os.environ.get("LIVEBASE_ADMIN_KEY")
    if env:
        return env
    path = data_dir / ADMIN_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = "lb_admin_" + secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


class Deployment:
    """One app served from one data directory."""

    def __init__(
        self,
        app_dir: str | Path,
        data_dir: str | Path | None = None,
        *,
        durability: Durability | str = Durability.FSYNC_PER_COMMIT,
        settings: Settings | None = None,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.app: App = load_app(self.app_dir)
        self.data_dir = Path(data_dir).resolve() if data_dir else self.app_dir / ".livebase"
        self.admin_key = load_admin_key(self.data_dir)
        self.engine = Engine(
            open_storage(self.data_dir / DB_FILE, durability),
            self.app.schema,
            settings=settings or settings_from_env(),
        )
        self.runner = Runner(self.engine, self.app)

    def open(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.engine.open(progress)

    def reload(self) -> str:
        """Load the app again; swap it in only if it loads and its schema applies."""
        new_app = load_app(self.app_dir)
        try:
            report = self.engine.set_schema(new_app.schema)
        except LivebaseError:
            unload(new_app)
            raise
        old, self.app = self.app, new_app
        self.runner.app = new_app
        unload(old)
        changes = report.tables_created + report.indexes_added + report.indexes_dropped
        return f"reloaded {len(new_app.functions)} functions" + (
            f"; schema: {', '.join(changes)}" if changes else ""
        )

    async def watch(self, on_message: Callable[[str], None]) -> None:
        from watchfiles import awatch

        def only_python(_change: object, path: str) -> bool:
            return path.endswith(".py") and "/.livebase/" not in path

        async for _ in awatch(self.app_dir, watch_filter=only_python, debounce=200, step=50):
            try:
                on_message(self.reload())
            except LivebaseError as exc:
                on_message(f"reload failed, still serving the previous version:\n{exc.message}")

    def close(self) -> None:
        self.engine.close()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cors_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    origin = _header(scope, b"origin")
    if origin is None:
        return []
    headers = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]
    return headers


async def _send(send: Send, scope: Scope, response: HttpResponse) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *_cors_headers(scope),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class RequestTooLargeError(LivebaseError):
    code = "RequestTooLarge"
    http_status = 413


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def asgi_app(
    deployment: Deployment, *, on_startup: Callable[[], Awaitable[None]] | None = None
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    version = f"livebase {__version__}".encode()
    # Arguments may be up to max_args_bytes; leave room for the JSON envelope and encoding.
    body_limit = deployment.engine.settings.limits.max_args_bytes * 2 + 65536
    tasks: list[asyncio.Task[None]] = []

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if on_startup is not None:
                    tasks.append(asyncio.ensure_future(on_startup()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in tasks:
                    task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        while "//" in path:
            path = path.replace("//", "/")
        method: str = scope["method"]
        if method == "OPTIONS":
            headers = [
                *_cors_headers(scope),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS, PATCH, DELETE, PUT"),
                (
                    b"access-control-allow-headers",
                    (_header(scope, b"access-control-request-headers") or "*").encode("latin-1"),
                ),
                (b"access-control-max-age", b"86400"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/version" and method == "GET":
            await _send(send, scope, HttpResponse(200, version, b"text/plain"))
            return
        if path.startswith("/api/") and method == "POST":
            route = path[len("/api/") :].strip("/")
            try:
                body = await _read_body(receive, body_limit)
                creds = authenticate(_header(scope, b"authorization"), deployment.admin_key)
            except LivebaseError as exc:
                await _send(send, scope, error_response(exc))
                return
            if route in ("query", "mutation", "action", "query_ts", "query_at_ts", "function") or (
                route.startswith("run/")
            ):
                response = await handle_api(
                    deployment.runner, route, body, creds, _header(scope, b"idempotency-key")
                )
                await _send(send, scope, response)
                return
            if route == "debug_event":
                await _send(send, scope, HttpResponse(200, b"{}"))
                return
        await _send(
            send,
            scope,
            HttpResponse(
                404,
                b'{"code":"NotFound","message":"no route for this method and path"}',
            ),
        )

    return app
