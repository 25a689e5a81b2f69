"""One deployment and its routes: the HTTP function API and health, on one port.

``Deployment`` owns the engine, the loaded app and the admin key; ``Router`` answers requests
(served by ``livebase.httpserver``, or by any ASGI server through ``asgi_app``); in dev mode a
watcher reloads functions and schema when app files change, keeping connections open.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from livebase import __version__, dashboard
from livebase.auth.builtin import BuiltinIssuer, admin_sessions, builtin_provider
from livebase.auth.builtin import endpoints as builtin_endpoints
from livebase.auth.builtin.admin_sessions import AdminSessions
from livebase.auth.callers import VerifiedUser, no_user_tokens
from livebase.auth.verifier import Verifier
from livebase.config import Settings, settings_from_env
from livebase.dashboard.live_api import AdminVersions
from livebase.engine.database import Engine
from livebase.engine.retention import prune_forever
from livebase.engine.transaction import Transaction
from livebase.envvars import EnvStore
from livebase.envvars import endpoints as env_endpoints
from livebase.errors import LivebaseError, ValidationError
from livebase.files import FileService
from livebase.files import system_tables as file_tables
from livebase.files.http import FileEndpoints, is_file_path
from livebase.functions.loader import App, load_app, unload
from livebase.functions.query_worker import Deployment as QueryDeployment
from livebase.functions.runner import Runner
from livebase.functions.scheduling import JobExecutor
from livebase.httpapi.api import authenticate, error_response, handle_api
from livebase.httpapi.changes import ChangesEndpoint
from livebase.httpapi.importer import handle_import
from livebase.httpapi.snapshot import SnapshotEndpoints
from livebase.httpserver import HttpLimits, Request, Response
from livebase.logs import endpoints as logs_endpoints
from livebase.metrics import CounterFn, Registry
from livebase.routes import serve_route
from livebase.runtime import Runtime
from livebase.scheduler.jobs import system_tables
from livebase.scheduler.worker import Worker
from livebase.snapshot.layout import is_zip
from livebase.snapshot.restore import insert_document
from livebase.storage import Durability, Storage, open_storage
from livebase.storage.sqlite import SqliteStorage
from livebase.sync.hub import SyncHub

log = logging.getLogger("livebase.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_KEY_FILE = "admin_key"
DB_FILE = "data.sqlite3"
ADMIN_KEY_GLOBAL = "admin_key"
NODE_ID_FILE = "node_id"
LOGS_DIR = "logs"
"""The function log kept across restarts (``livebase.logs.journal``)."""


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


def load_node_id(data_dir: Path) -> str:
    """This node's name, kept in its data folder: after a restart the node knows which running
    actions were its own (and are now orphaned) without waiting for its old heartbeat to age."""
    path = data_dir / NODE_ID_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    node_id = secrets.token_hex(6)
    path.write_text(node_id + "\n")
    return node_id


def shared_admin_key(storage: Storage) -> str:
    """For a database shared by several nodes: ``LIVEBASE_ADMIN_KEY``, else the key kept in the
    database itself (made by the first node), so every node accepts the same key."""
    env = os.environ.get("LIVEBASE_ADMIN_KEY")
    if env:
        return env
    with storage.reader() as r:
        key = r.get_global(ADMIN_KEY_GLOBAL)
    if key:
        return key
    with storage.writer() as w:
        key = w.get_global(ADMIN_KEY_GLOBAL)
        if not key:
            key = "lb_admin_" + secrets.token_urlsafe(32)
            w.set_global(ADMIN_KEY_GLOBAL, key)
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
        runtime: Runtime | None = None,
        db: str | None = None,
    ) -> None:
        """``db``: ``postgresql://...`` or ``sqlite:///path`` (default: ``LIVEBASE_DB``, else
        ``data.sqlite3`` in the data folder)."""
        self.app_dir = Path(app_dir).resolve()
        self.app: App = load_app(self.app_dir)
        dashboard.install(self)
        self.data_dir = Path(data_dir).resolve() if data_dir else self.app_dir / ".livebase"
        self.db = db or os.environ.get("LIVEBASE_DB") or str(self.data_dir / DB_FILE)
        settings = settings or settings_from_env()
        storage = open_storage(self.db, durability, sqlite_cache_mib=settings.sqlite_cache_mib)
        self.shared_database = not isinstance(storage, SqliteStorage)
        self.admin_key = (
            shared_admin_key(storage) if self.shared_database else load_admin_key(self.data_dir)
        )
        self.metrics_token = os.environ.get("LIVEBASE_METRICS_TOKEN") or None
        """A token that reads ``GET /metrics`` (and nothing else), besides the admin key."""
        self.engine = Engine(
            storage,
            self.app.schema,
            settings=settings,
            runtime=runtime,
        )
        self.engine.add_system_tables(system_tables())
        self.engine.add_system_tables(file_tables())  # _storage, _upload_urls
        self.runner = Runner(self.engine, self.app)
        self.files = FileService(self.engine, self.data_dir / "files", base_url=self.public_url)
        self.runner.files = self.files  # ctx.storage
        self.runner.offload.deployment = lambda: QueryDeployment(  # where slow queries read
            self.db, self.engine.settings, str(self.data_dir / "files"), self.public_url()
        )
        self.runner.offload.warm()
        self.runner.logs.open_journal(self.data_dir / LOGS_DIR)  # livebase logs: across restarts
        self.node_id = load_node_id(self.data_dir)
        self.worker = Worker(
            self.engine,
            JobExecutor(self.runner, self.node_id),
            lambda: self.app.crons,
            parallelism=self.engine.settings.scheduler_parallelism,
            retention_seconds=self.engine.settings.scheduled_job_retention_seconds,
            node_id=self.node_id,
        )
        self.sync = SyncHub(self.engine, self.runner, lambda: self.admin_key)
        self.env = EnvStore(storage, self.data_dir)
        """Environment variables (``livebase env``, ``ctx.env``); says at start if this node
        cannot decrypt them."""
        self.env.load()
        self.runner.env = self.env.view
        self.env.on_change.append(self.sync.invalidate_env_readers)
        self.admin_versions = AdminVersions(
            lambda path: self.sync.manager.invalidate(lambda shared: shared.path == path)
        )
        """Pushes environment and account changes to the dashboard's open panels."""
        self.env.on_change.append(lambda: self.admin_versions.bump("env"))
        self.metrics = Registry()
        self.metrics.add(self.runner.executions)
        self.metrics.add(self.runner.slow.calls)
        self.metrics.add(
            CounterFn(
                "livebase_commits_total",
                "Committed transactions.",
                lambda: float(self.engine.commits_total),
            )
        )
        self.metrics.add(
            CounterFn(
                "livebase_optimistic_batches_total",
                "Batches of mutations run before taking the shared commit clock that committed "
                "as they ran (PostgreSQL).",
                lambda: float(self.engine.optimistic_batches),
            )
        )
        self.metrics.add(
            CounterFn(
                "livebase_optimistic_reruns_total",
                "Batches run before taking the shared commit clock that ran again under it (a "
                "commit changed what they read, the catalog changed or a call's record appeared).",
                lambda: float(self.engine.optimistic_reruns),
            )
        )
        self.metrics.add(self.sync.subscriptions_gauge)
        self.metrics.add(self.sync.connections_gauge)
        self.metrics.add(self.sync.manager.push_latency)
        self.metrics.add(self.sync.manager.applied)
        self._tasks: list[asyncio.Task[None]] = []
        self._services: list[Callable[[], Awaitable[None]]] = [self.worker.run]
        self.add_service(functools.partial(prune_forever, self.engine))  # change-log retention
        self.add_service(self.files.sweep_forever)  # expired upload URLs, partial uploads
        if self.engine.storage.shared:
            self.add_service(self.follow_commits)
            self.add_service(self.env.follow)  # other nodes' livebase env set, within 1 s
        # -- the built-in issuer (livebase.auth.builtin) --
        self.builtin_issuer: BuiltinIssuer | None = None
        """The app's built-in accounts and token issuer; None unless its ``auth.py`` declares
        ``{"type": "builtin"}``."""
        self.listen_address: tuple[str, int] | None = None
        """Where the server listens (host, port), once it says so through ``listening``."""
        self._update_builtin_issuer()
        self.admin_sessions = AdminSessions(lambda: self.builtin_issuer)
        """Dashboard sessions of admin accounts; they stand in for the admin key."""
        self.sync.admin_session = self.admin_sessions.valid
        self.admin_sessions.on_revoked.append(self.sync.end_revoked_admin_sessions)
        self._verifier: Verifier | None = None
        self._update_verifier()

    def _update_builtin_issuer(self) -> None:
        """Open, keep or drop the built-in issuer as the (re)loaded app declares it."""
        declared = builtin_provider(self.app)
        if declared is None:
            self.builtin_issuer = None
        elif self.builtin_issuer is None:
            self.builtin_issuer = BuiltinIssuer(
                self.data_dir,
                self.engine.storage,
                settings=self.engine.settings,
                runtime=self.engine.runtime,
                audience=declared.audience,
            )
            if self.listen_address is not None:
                self.builtin_issuer.listening(*self.listen_address)
        else:
            self.builtin_issuer.audience = declared.audience

    def _update_verifier(self) -> None:
        """Check user tokens against the providers the (re)loaded app declares; the key sets
        already fetched are kept while the providers stay the same."""
        providers = self.app.auth_providers
        if not providers:
            self._verifier = None
            self.sync.verify_user_token = no_user_tokens
            return
        current = self._verifier
        if (
            current is not None
            and current.providers == providers
            and current.builtin is self.builtin_issuer
        ):
            return
        runtime = self.engine.runtime
        verifier = Verifier(
            providers, builtin=self.builtin_issuer, clock=lambda: runtime.time_ns() / 1e9
        )
        self._verifier = verifier

        async def verify_user_token(token: str) -> VerifiedUser:
            identity = await verifier.verify(token)
            return VerifiedUser(identity.to_wire(), identity.expires_at or 0.0)

        self.sync.verify_user_token = verify_user_token

    def public_url(self) -> str:
        """Where clients reach this deployment (file URLs): ``LIVEBASE_PUBLIC_URL``, else the
        address the server listens on."""
        configured = os.environ.get("LIVEBASE_PUBLIC_URL")
        if configured:
            return configured.rstrip("/")
        host, port = self.listen_address or ("127.0.0.1", 3210)
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{port}"

    def listening(self, host: str, port: int) -> None:
        """The server reports where it listens (the built-in issuer's default URL)."""
        self.listen_address = (host, port)
        if self.builtin_issuer is not None:
            self.builtin_issuer.listening(host, port)

    # -- end of the built-in issuer --

    def open(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.engine.open(progress)

    async def follow_commits(self) -> None:
        """On a shared database: deliver other nodes' commits to this node's subscriptions,
        change streams and scheduler, woken by database notifications."""
        wake = asyncio.Event()
        watch = self.engine.storage.watch_commits(wake.set)
        try:
            await self.engine.follow(wake, poll_seconds=1.0 if watch else 0.1, watch=watch)
        finally:
            if watch is not None:
                watch.close()

    async def import_documents(self, table: str, documents: list[dict[str, Any]]) -> int:
        """Insert ``documents`` into ``table`` in one transaction: schema-checked, triggers run,
        and either all of them are written or none."""
        if not isinstance(table, str) or table.startswith("_"):
            raise ValidationError(f"cannot import into {table!r}", code="InvalidTableName")

        def write(tx: Transaction) -> int:
            for number, doc in enumerate(documents, 1):
                try:
                    insert_document(tx, table, doc)  # keeps _id/_creationTime if given
                except LivebaseError as exc:
                    exc.message = f"document {number}: {exc.message}"
                    raise
            return len(documents)

        outcome = await self.engine.mutate(write)
        return outcome.value

    def add_service(self, run: Callable[[], Awaitable[None]]) -> None:
        """A background loop (scheduler, change-log pruning...) run between ``start`` and
        ``stop``."""
        self._services.append(run)

    async def start(self) -> None:
        """Start the background services; call once the event loop runs."""
        for run in self._services:
            self._tasks.append(asyncio.ensure_future(_supervised(run)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()

    def reload(self) -> str:
        """Load the app again; swap it in only if it loads and its schema applies."""
        new_app = load_app(self.app_dir)
        new_app.functions.update(dashboard.system_functions(self))
        try:
            report = self.engine.set_schema(new_app.schema)
        except LivebaseError:
            unload(new_app)
            raise
        old, self.app = self.app, new_app
        self.runner.app = new_app
        unload(old)
        self._update_builtin_issuer()  # the built-in issuer follows auth.py
        self._update_verifier()
        self.worker.crons_changed()
        self.sync.invalidate_all()
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
        """Stop the action workers, then close the function log and the database."""
        self.runner.close()
        self.runner.logs.close()
        self.engine.close()


async def _supervised(run: Callable[[], Awaitable[None]]) -> None:
    """Run a background service; if it crashes, log it and start it again after a pause."""
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background service %s failed; restarting it in 1 s", run)
            await asyncio.sleep(1.0)


class RequestTooLargeError(LivebaseError):
    code = "RequestTooLarge"
    http_status = 413


def http_limits(settings: Settings) -> HttpLimits:
    """The HTTP server's bounds on what a client may send, from the ``LIVEBASE_HTTP_*``
    settings."""
    return HttpLimits(
        max_target=settings.http_max_request_target,
        max_head=settings.http_max_head_bytes,
        max_headers=settings.http_max_headers,
        head_timeout=settings.http_head_timeout_seconds,
        body_timeout=settings.http_body_timeout_seconds,
        body_min_rate=settings.http_body_min_rate,
        idle_timeout=settings.http_idle_timeout_seconds,
    )


_METRICS_UNAUTHENTICATED = (
    b'{"code":"Unauthenticated","message":"GET /metrics needs the admin key or the metrics '
    b"token: send 'Authorization: Bearer <token>' (or 'Authorization: Convex <admin key>')\"}"
)


def metrics_allowed(authorization: str | None, admin_key: str, token: str | None) -> bool:
    """``Authorization: Convex <admin key>``, or ``Bearer`` with the admin key or the metrics
    token (what Prometheus sends for a scrape job's ``authorization`` credentials)."""
    if not authorization:
        return False
    scheme, _, text = authorization.strip().partition(" ")
    credential: bytes = text.strip().encode("utf-8", "replace")
    if scheme.lower() == "convex":
        return hmac.compare_digest(credential.split(b":", 1)[0], admin_key.encode())
    if scheme.lower() != "bearer":
        return False
    # Both compared, always: the answer's timing does not tell which one matched.
    admin = hmac.compare_digest(credential, admin_key.encode())
    metrics = token is not None and hmac.compare_digest(credential, token.encode())
    return admin or metrics


_NOT_FOUND = b'{"code":"NotFound","message":"no route for this method and path"}'
_API_ROUTES = frozenset({"query", "mutation", "action", "query_ts", "query_at_ts", "function"})


_STATIC_DIR = Path(__file__).parent / "static"
_STATIC = {"/_livebase/client.js": ("client.js", "text/javascript; charset=utf-8")}


@functools.cache
def _static_file(name: str) -> tuple[bytes, str]:
    body = (_STATIC_DIR / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _static(request: Request, path: str) -> Response:
    """A platform file under ``/_livebase/``: read once, revalidated by its ETag (304)."""
    name, media_type = _STATIC[path]
    body, etag = _static_file(name)
    headers = [("cache-control", "no-cache"), ("etag", etag)]
    if request.headers.get("if-none-match") == etag:
        return Response(304, b"", media_type, headers)
    return Response(200, body, media_type, headers)


def _dashboard(request: Request, path: str) -> Response:
    """``/_dashboard``: the admin UI's page and its modules (``livebase.dashboard``)."""
    name = path.removeprefix("/_dashboard").strip("/") or "index.html"
    found = dashboard.static_file(name)
    if found is None:
        return Response(404, _NOT_FOUND)
    body, media_type, etag = found
    headers = [
        ("cache-control", "no-cache"),
        ("etag", etag),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ]
    if request.headers.get("if-none-match") == etag:
        return Response(304, b"", media_type, headers)
    return Response(200, body, media_type, headers)


class Router:
    """Maps requests: ``POST /api/*`` (the function API, with permissive CORS), ``GET /version``,
    ``GET /metrics`` (admin key or metrics token), ``GET /_livebase/client.js`` (the browser
    client), and every other path outside ``/api/`` and ``/_*`` to the app's own HTTP routes
    (``http.py``), which set their own CORS policy."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._version = f"livebase {__version__}".encode()
        limits = deployment.engine.settings.limits
        # Arguments may be up to max_args_bytes; leave room for the JSON envelope and encoding.
        self.max_body = max(limits.max_args_bytes * 2 + 65536, limits.max_http_body_bytes)
        self.changes = ChangesEndpoint(deployment.engine, lambda: deployment.admin_key)
        self.snapshots = SnapshotEndpoints(
            deployment.engine,
            deployment.data_dir,
            lambda: deployment.admin_key,
            deployment.files.blobs,
        )
        self.files = FileEndpoints(deployment.files)
        """``/api/storage/*``; its ``body_sink`` streams uploads (``HttpServer(body_sink=)``)."""

    async def __call__(self, request: Request) -> Response:
        path = request.path
        while "//" in path:
            path = path.replace("//", "/")
        if path.startswith("/api/"):
            response = await self._api(request, path)
            origin = request.headers.get("origin")
            if origin is not None:
                response.headers += [
                    ("access-control-allow-origin", origin),
                    ("access-control-allow-credentials", "true"),
                    ("vary", "Origin"),
                ]
            return response
        issuer = self.deployment.builtin_issuer  # the built-in issuer's /auth/*, /.well-known/*
        if issuer is not None and path in builtin_endpoints.PATHS:
            return await builtin_endpoints.serve(issuer, request, path)
        if request.method == "GET" and path == "/version":
            return Response(200, self._version, "text/plain")
        if request.method == "GET" and path == "/metrics":
            return self._metrics(request)
        if request.method == "GET" and path in _STATIC:
            return _static(request, path)
        if request.method == "GET" and (path == "/_dashboard" or path.startswith("/_dashboard/")):
            return _dashboard(request, path)
        app_routes = self.deployment.app.http
        if app_routes is not None and not path.startswith("/_"):
            if len(request.body) > self.deployment.engine.settings.limits.max_http_body_bytes:
                return error_response(RequestTooLargeError("request body is too large"))
            request.path = path
            return await serve_route(
                app_routes, self.deployment.runner, request, self.deployment.sync.verify_user_token
            )
        return Response(404, _NOT_FOUND)

    def _metrics(self, request: Request) -> Response:
        deployment = self.deployment
        if not metrics_allowed(
            request.headers.get("authorization"), deployment.admin_key, deployment.metrics_token
        ):
            return Response(
                401,
                _METRICS_UNAUTHENTICATED,
                headers=[("www-authenticate", 'Bearer realm="livebase metrics"')],
            )
        body = deployment.metrics.render().encode()
        return Response(200, body, "text/plain; version=0.0.4")

    async def _api(self, request: Request, path: str) -> Response:
        if request.method == "OPTIONS":
            return Response(
                204,
                b"",
                "text/plain",
                [
                    ("access-control-allow-methods", "GET, POST, OPTIONS, PATCH, DELETE, PUT"),
                    (
                        "access-control-allow-headers",
                        request.headers.get("access-control-request-headers", "*"),
                    ),
                    ("access-control-max-age", "86400"),
                ],
            )
        route = path[5:].strip("/")
        deployment = self.deployment
        if route == admin_sessions.ROUTE:  # the dashboard's sign-in with an admin account
            return await deployment.admin_sessions.serve(request)
        as_admin = deployment.admin_sessions.as_admin_key(
            request.headers.get("authorization"), route, deployment.admin_key
        )
        if as_admin is not None:  # an admin account's dashboard session: the admin's rights
            request.headers["authorization"] = as_admin
        if route == "changes" and request.method == "GET":
            return await self.changes(request)
        if route.startswith(("export/", "import/")) or (
            route == "import" and is_zip(request.body) and "table=" not in request.query
        ):  # snapshot ZIPs: livebase export / livebase import FILE.zip
            return await self.snapshots(request, route)
        if route == "import" and request.method == "POST":
            deployment = self.deployment
            return await handle_import(request, deployment.admin_key, deployment.import_documents)
        if route == logs_endpoints.ROUTE:  # livebase logs
            deployment = self.deployment
            return await logs_endpoints.serve(deployment.runner.logs, request, deployment.admin_key)
        if env_endpoints.is_env_route(route):  # livebase env ...
            deployment = self.deployment
            return await env_endpoints.serve(deployment.env, request, route, deployment.admin_key)
        if builtin_endpoints.is_admin_route(route):  # built-in accounts: livebase users ...
            deployment = self.deployment
            response = await builtin_endpoints.serve_admin(
                deployment.builtin_issuer, request, route, deployment.admin_key
            )
            if response.status == 200 and request.method == "POST":
                deployment.admin_sessions.changed()  # a revoked role ends its sessions at once
                deployment.admin_versions.bump("users")
            return response
        if is_file_path(path):  # file uploads and downloads (livebase.files)
            return await self.files(request, path)
        if request.method != "POST":
            return Response(404, _NOT_FOUND)
        if route in _API_ROUTES or route.startswith("run/"):
            try:
                creds = await authenticate(
                    request.headers.get("authorization"),
                    self.deployment.admin_key,
                    self.deployment.sync.verify_user_token,
                )
            except LivebaseError as exc:
                return error_response(exc)
            result = await handle_api(
                self.deployment.runner,
                route,
                request.body,
                creds,
                request.headers.get("idempotency-key"),
            )
            return result
        if route == "debug_event":
            return Response(200, b"{}")
        return Response(404, _NOT_FOUND)


def asgi_app(
    deployment: Deployment, *, on_startup: Callable[[], Awaitable[None]] | None = None
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The same routes as an ASGI application, to embed Livebase in another ASGI server."""
    router = Router(deployment)
    tasks: list[asyncio.Task[None]] = []

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await deployment.start()
                if on_startup is not None:
                    tasks.append(asyncio.ensure_future(on_startup()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in tasks:
                    task.cancel()
                await deployment.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if deployment.listen_address is None and scope.get("server"):  # the built-in issuer's URL
            host, port = scope["server"][0], scope["server"][1]
            deployment.listening(str(host), int(port or 80))
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            body = await _read_body(receive, router.max_body)
        except LivebaseError as exc:
            response = error_response(exc)
        else:
            client = scope.get("client")
            request = Request(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
                str(client[0]) if client else None,
            )
            response = await router(request)
        if response.stream is not None:
            await _send_stream(response, response.stream, receive, send)
            return
        raw_headers = [
            (b"content-type", response.content_type.encode("latin-1")),
            (b"content-length", str(len(response.body)).encode()),
            *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
        ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": raw_headers}
        )
        await send({"type": "http.response.body", "body": response.body})

    return app


async def _send_stream(
    response: Response, stream: AsyncIterator[bytes], receive: Receive, send: Send
) -> None:
    """Send a streamed response as ASGI body messages until it ends or the client leaves."""
    raw_headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})

    async def pump() -> None:
        async for chunk in stream:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def client_gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sending, watching = asyncio.ensure_future(pump()), asyncio.ensure_future(client_gone())
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        await asyncio.wait({sending, watching})
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    if sending.cancelled():
        return  # the client went away
    error = sending.exception()
    if error is not None:
        raise error
    await send({"type": "http.response.body", "body": b"", "more_body": False})


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
