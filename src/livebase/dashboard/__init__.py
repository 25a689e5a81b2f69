"""The dashboard (``/_dashboard``): static ES modules and the admin-only system functions they
call over the sync socket with the admin key.

The functions are internal (``_system/dashboard:*``), so only an admin-key session reaches them;
they are added to every loaded app by :func:`install` and read and write through the same
transaction as any app function (schema validated, triggers run).
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livebase.functions.registry import FunctionDef, Kind
from livebase.values.validators import Validator, v

if TYPE_CHECKING:
    from livebase.server import Deployment

PREFIX = "_system/dashboard"
STATIC_DIR = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
MAX_PAGE = 1000


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


def _def(name: str, kind: Kind, args: dict[str, Validator], fn: Any) -> FunctionDef:
    fd = FunctionDef(fn, kind, True, v.object(args), None, False)
    fd.path = f"{PREFIX}:{name}"
    return fd


def _validator_json(validator: Validator | None) -> Any:
    return None if validator is None else validator.to_json()


def system_functions(deployment: Deployment) -> dict[str, FunctionDef]:
    """The dashboard's functions, bound to ``deployment`` (its app, logs and metrics).

    ``logs`` and ``health`` read no table, so a subscription to them is never pushed again:
    the page asks anew (a new ``tick``) every second."""

    def tables(ctx: Any) -> list[dict[str, Any]]:
        schema = deployment.app.schema
        declared = schema.tables if schema is not None else {}
        names = sorted(set(declared) | set(_catalog_tables(deployment)))
        out = []
        for name in names:
            definition = declared.get(name)
            count = len(ctx.db.query(name).collect())
            out.append(
                {
                    "name": name,
                    "count": count,
                    "schema": definition.to_json() if definition is not None else None,
                }
            )
        return out

    def documents(
        ctx: Any, table: str, order: str = "desc", limit: float = MAX_PAGE
    ) -> list[dict[str, Any]]:
        q = ctx.db.query(table).order("asc" if order == "asc" else "desc")
        return list(q.take(max(1, min(int(limit), 20000))))

    def insert(ctx: Any, table: str, document: dict[str, Any]) -> str:
        return str(ctx.db.insert(table, document))

    def replace(ctx: Any, id: str, document: dict[str, Any]) -> None:
        fields = {k: x for k, x in document.items() if not k.startswith("_")}
        ctx.db.replace(id, fields)

    def delete(ctx: Any, id: str) -> None:
        ctx.db.delete(id)

    def functions(ctx: Any) -> list[dict[str, Any]]:
        return [
            {
                "path": fd.path,
                "kind": fd.kind,
                "visibility": fd.visibility,
                "args": _validator_json(fd.args),
                "returns": _validator_json(fd.returns),
            }
            for path, fd in sorted(deployment.app.functions.items())
            if not path.startswith("_system/")
        ]

    def schedules(ctx: Any) -> dict[str, Any]:
        jobs = ctx.db.system.query("_scheduled_functions").order("desc").take(500)
        crons = ctx.db.system.query("_cron_jobs").collect()
        return {"jobs": jobs, "crons": crons}

    def cancel(ctx: Any, id: str) -> None:
        ctx.scheduler.cancel(id)

    def logs(ctx: Any, tick: float, after: float = 0, limit: float = 500) -> dict[str, Any]:
        found, cursor = deployment.runner.logs.after(
            int(after), limit=max(1, min(int(limit), 2000))
        )
        return {
            "entries": [e.to_json() for e in found if not e.path.startswith("_system/")],
            "cursor": cursor,
        }

    failures = {"cursor": 0, "total": 0}

    def health(ctx: Any, tick: float) -> dict[str, Any]:
        store = deployment.runner.logs
        while True:  # failed calls since the dashboard first asked, counted once each
            found, cursor = store.after(failures["cursor"], level="ERROR", limit=5000)
            failures["total"] += sum(1 for e in found if e.failure)
            if cursor == failures["cursor"]:
                break
            failures["cursor"] = cursor
        figures = parse_metrics(deployment.metrics.render())
        figures["livebase_function_failures_total"] = float(failures["total"])
        return {"at": time.time() * 1000, "figures": figures}

    any_value = v.any()
    return {
        fd.path: fd
        for fd in (
            _def("tables", "query", {}, tables),
            _def(
                "documents",
                "query",
                {
                    "table": v.string(),
                    "order": v.optional(v.string()),
                    "limit": v.optional(v.number()),
                },
                documents,
            ),
            _def("insert", "mutation", {"table": v.string(), "document": any_value}, insert),
            _def("replace", "mutation", {"id": v.string(), "document": any_value}, replace),
            _def("delete", "mutation", {"id": v.string()}, delete),
            _def("functions", "query", {}, functions),
            _def("schedules", "query", {}, schedules),
            _def("cancel", "mutation", {"id": v.string()}, cancel),
            _def(
                "logs",
                "query",
                {
                    "tick": v.number(),
                    "after": v.optional(v.number()),
                    "limit": v.optional(v.number()),
                },
                logs,
            ),
            _def("health", "query", {"tick": v.number()}, health),
        )
    }


def _catalog_tables(deployment: Deployment) -> list[str]:
    return [name for name in deployment.engine.catalog.tables if not name.startswith("_")]


def parse_metrics(text: str) -> dict[str, float]:
    """Sum every sample of each metric in a Prometheus text rendering (labels folded);
    histograms give ``name_sum`` and ``name_count``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        if name.endswith("_bucket"):
            continue
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def install(deployment: Deployment) -> None:
    """Add the dashboard's system functions to the deployment's (re)loaded app."""
    deployment.app.functions.update(system_functions(deployment))
