"""The dashboard (``/_dashboard``): static ES modules and the admin-only system functions they
call over the sync socket with the admin key.

The functions are internal (``_system/dashboard:*``), so only an admin-key session reaches them;
they are added to every loaded app by :func:`install` and read and write through the same
transaction as any app function (schema validated, triggers run). ``data_api`` serves the Data
panel, ``ops_api`` functions, schedules and files, ``live_api`` the log and health figures.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from livebase.dashboard.data_api import data_functions
from livebase.dashboard.defs import PREFIX
from livebase.dashboard.live_api import live_functions, parse_metrics
from livebase.dashboard.ops_api import ops_functions
from livebase.functions.registry import FunctionDef

if TYPE_CHECKING:
    from livebase.server import Deployment

STATIC_DIR = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@cache
def static_file(name: str) -> tuple[bytes, str, str] | None:
    """``(body, media type, etag)`` of a file under ``static/``; None if there is none."""
    if "/" in name or name.startswith(".") or not name:
        return None
    path = STATIC_DIR / name
    media = MEDIA_TYPES.get(path.suffix)
    if media is None or not path.is_file():
        return None
    body = path.read_bytes()
    return body, media, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def system_functions(deployment: Deployment) -> dict[str, FunctionDef]:
    """The dashboard's functions, bound to ``deployment`` (its app, logs and metrics)."""
    defs = data_functions(deployment) + ops_functions(deployment) + live_functions(deployment)
    return {fd.path: fd for fd in defs}


def install(deployment: Deployment) -> None:
    """Add the dashboard's system functions to the deployment's (re)loaded app."""
    deployment.app.functions.update(system_functions(deployment))


__all__ = ["PREFIX", "STATIC_DIR", "install", "parse_metrics", "static_file", "system_functions"]
