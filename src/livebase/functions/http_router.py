"""HTTP routes of an app (``APP_DIR/http.py``): ``http = HttpRouter()`` and decorated handlers.

A handler is ``async def handler(ctx, request) -> Response`` with Starlette's ``Request`` and
``Response``; ``ctx`` is an action context (``run_query``, ``run_mutation``, ``run_action``,
``auth``). Routes match an exact path or a path prefix, and a method.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})
RESERVED_PREFIXES = ("/api/", "/_")

Handler = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    prefix: bool
    handler: Handler

    def matches(self, method: str, path: str) -> bool:
        if method != self.method and not (method == "HEAD" and self.method == "GET"):
            return False
        return path.startswith(self.path) if self.prefix else path == self.path


@dataclass
class Cors:
    """CORS for every route of a router: preflights are answered and responses get the headers."""

    allowed_origins: Sequence[str] = ("*",)
    allowed_headers: Sequence[str] = ("Content-Type", "Authorization")
    allow_credentials: bool = False
    max_age: int = 86400

    def origin_header(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in self.allowed_origins:
            return origin if self.allow_credentials else "*"
        return origin if origin in self.allowed_origins else None


@dataclass
class HttpRouter:
    cors: Cors | None = None
    routes: list[Route] = field(default_factory=list)

    def route(
        self, path: str | None = None, *, method: str = "GET", path_prefix: str | None = None
    ) -> Callable[[Handler], Handler]:
        """``@http.route("/event", method="POST")`` or ``@http.route(path_prefix="/files/")``."""
        if (path is None) == (path_prefix is None):
            raise ValueError("give exactly one of path= or path_prefix=")
        target = path if path is not None else path_prefix
        assert target is not None
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"unknown HTTP method {method!r}")
        if not target.startswith("/"):
            raise ValueError(f"route path {target!r} must start with '/'")
        if target.startswith(RESERVED_PREFIXES) or target in ("/api", "/version", "/metrics"):
            raise ValueError(f"route path {target!r} is reserved for Livebase")
        if path_prefix is not None and not path_prefix.endswith("/"):
            raise ValueError(f"path_prefix {path_prefix!r} must end with '/'")

        def register(handler: Handler) -> Handler:
            if not inspect.iscoroutinefunction(handler):
                raise TypeError(f"HTTP handler {handler.__qualname__} must be `async def`")
            for existing in self.routes:
                if (existing.method, existing.path, existing.prefix) == (
                    method, target, path_prefix is not None
                ):  # fmt: skip
                    raise ValueError(f"route {method} {target} is defined twice")
            self.routes.append(Route(method, target, path_prefix is not None, handler))
            return handler

        return register

    def match(self, method: str, path: str) -> Route | None:
        """The exact route if any, else the longest matching prefix route."""
        best: Route | None = None
        for route in self.routes:
            if not route.matches(method, path):
                continue
            if not route.prefix:
                return route
            if best is None or len(route.path) > len(best.path):
                best = route
        return best

    def allows_path(self, path: str) -> bool:
        return any(r.path == path if not r.prefix else path.startswith(r.path) for r in self.routes)
