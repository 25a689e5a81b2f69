"""The dashboard's system functions for what runs and what is stored beside the data: the
function list, schedules (jobs, crons with their recent runs and next run, cancel) and stored
files (``_storage``: list with download links, delete)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livebase.dashboard.defs import optional_number, system_def
from livebase.functions.registry import FunctionDef
from livebase.values.validators import Validator, v

if TYPE_CHECKING:
    from livebase.server import Deployment

JOBS_SHOWN = 500
CRON_RUNS_SCANNED = 2000
"""How far back (in scheduled functions, newest first) each cron's history is looked for."""
CRON_RUNS_KEPT = 10
FILES_SHOWN = 2000


def _validator_json(validator: Validator | None) -> Any:
    return None if validator is None else validator.to_json()


def _run_summary(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": job["_id"],
        "scheduledTime": job.get("scheduledTime"),
        "completedTime": job.get("completedTime"),
        "state": job.get("state"),
    }


def ops_functions(deployment: Deployment) -> list[FunctionDef]:
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
        recent = ctx.db.system.query("_scheduled_functions").order("desc").take(CRON_RUNS_SCANNED)
        crons = ctx.db.system.query("_cron_jobs").collect()
        runs: dict[str, list[dict[str, Any]]] = {}
        for job in recent:
            name = job.get("cron")
            if name and len(runs.setdefault(name, [])) < CRON_RUNS_KEPT:
                runs[name].append(_run_summary(job))
        return {
            "jobs": recent[:JOBS_SHOWN],
            "crons": [{**c, "history": runs.get(c.get("name", ""), [])} for c in crons],
        }

    def cancel(ctx: Any, id: str) -> None:
        ctx.scheduler.cancel(id)

    def files(ctx: Any, limit: float = FILES_SHOWN) -> dict[str, Any]:
        rows = ctx.db.system.query("_storage").order("desc").take(max(1, int(limit)) + 1)
        shown = rows[: max(1, int(limit))]
        return {
            "files": [
                {
                    "_id": row["_id"],
                    "_creationTime": row["_creationTime"],
                    "size": row.get("size"),
                    "contentType": row.get("contentType"),
                    "sha256": row.get("sha256"),
                    "url": ctx.storage.get_url(row["_id"]),
                }
                for row in shown
            ],
            "more": len(rows) > len(shown),
        }

    def delete_file(ctx: Any, id: str) -> None:
        ctx.storage.delete(id)

    return [
        system_def("functions", "query", {}, functions),
        system_def("schedules", "query", {}, schedules),
        system_def("cancel", "mutation", {"id": v.string()}, cancel),
        system_def("files", "query", {"limit": optional_number()}, files),
        system_def("deleteFile", "mutation", {"id": v.string()}, delete_file),
    ]
