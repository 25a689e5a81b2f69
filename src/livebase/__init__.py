"""Livebase: a self-hosted, local-first reactive backend for Python, wire-compatible with Convex.

The public API for app code: ``define_schema``, ``define_table``, the validators ``v``,
``Int64`` (an int64 number), the function decorators, ``trigger``, ``Crons``, ``HttpRouter``,
``AppError``, ``UNSET``, and the identity provider helpers of ``auth.py`` (``oidc``,
``custom_jwt``, ``builtin``).
"""

from typing import Any, TypedDict

from livebase.auth.providers import builtin, custom_jwt, oidc
from livebase.engine.transaction import UNSET
from livebase.errors import AppError
from livebase.functions.http_router import Cors, HttpRouter
from livebase.functions.registry import (
    action,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from livebase.functions.triggers import trigger
from livebase.scheduler.cron import Crons
from livebase.schema.definition import define_schema, define_table
from livebase.values.types import Int64
from livebase.values.validators import v

__version__ = "0.1.0"


def is_dev() -> bool:
    """True when the app runs under ``livebase dev`` (reloading, for development), False under
    ``livebase serve`` or when embedded; set by the CLI before the app is loaded."""
    import os

    return os.environ.get("LIVEBASE_DEV") == "1"


class PaginationOptions(TypedDict, total=False):
    """The ``paginationOpts`` argument of a paginated query (what ``usePaginatedQuery`` sends)."""

    numItems: float
    cursor: str | None
    endCursor: str | None
    id: float
    maximumRowsRead: float
    maximumBytesRead: float


def _pagination_validator() -> Any:
    return v.object(
        {
            "numItems": v.number(),
            "cursor": v.union(v.string(), v.null()),
            "endCursor": v.optional(v.union(v.string(), v.null())),
            "id": v.optional(v.number()),
            "maximumRowsRead": v.optional(v.number()),
            "maximumBytesRead": v.optional(v.number()),
        }
    )


pagination_opts = _pagination_validator()

__all__ = [
    "UNSET",
    "AppError",
    "Cors",
    "Crons",
    "HttpRouter",
    "Int64",
    "PaginationOptions",
    "__version__",
    "action",
    "builtin",
    "custom_jwt",
    "define_schema",
    "define_table",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "is_dev",
    "mutation",
    "oidc",
    "pagination_opts",
    "query",
    "trigger",
    "v",
]
