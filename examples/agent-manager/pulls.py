"""Pull requests of a project, as GitHub's webhooks reported them (see ``github.py``)."""

from typing import Any

from livebase import query

from ._common import load, require_user


@query
def list(ctx, projectId: str) -> list[dict[str, Any]]:
    """A project's pull requests by number."""
    require_user(ctx, "see pull requests")
    project = load(ctx, "projects", projectId)
    rows = ctx.db.query("pulls").with_index(
        "by_project_number", lambda q: q.eq("projectId", project["_id"])
    )
    return rows.take(500)
