"""Tasks: created in a project, possibly depending on other tasks, assigned to an agent, and
moved along ``todo -> in_progress -> in_review -> done`` (or ``cancelled``). See
``_workflow.py`` for the rules on dependencies and blocking.

Every change writes its audit row(s) in the same mutation, with the caller's
``tokenIdentifier`` as the actor; a refused change raises before writing anything.
"""

from typing import Any

from livebase import mutation, query

from ._common import audit, load, refuse, require_user
from ._workflow import (
    FINAL,
    add_dependency,
    dependencies_of,
    remove_dependency,
    set_status,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_LIST = 200

# action -> (the statuses it starts from, the status it leads to)
TRANSITIONS = {
    "start": (("todo",), "in_progress"),
    "submit": (("in_progress",), "in_review"),
    "request_changes": (("in_review",), "in_progress"),
    "complete": (("in_review",), "done"),
    "cancel": (("blocked", "todo", "in_progress", "in_review"), "cancelled"),
}


@mutation
def create(
    ctx, projectId: str, title: str, description: str = "", dependsOn: list[str] | None = None
) -> str:
    """A new task: ``todo``, or ``blocked`` if a task it depends on is not done yet."""
    user = require_user(ctx, "create a task")
    project = load(ctx, "projects", projectId)
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise refuse("InvalidArgument", f"a title is 1 to {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise refuse("InvalidArgument", f"a description is at most {MAX_DESCRIPTION} characters")
    deps = [load(ctx, "tasks", d) for d in dependsOn or []]
    fields = {"projectId": project["_id"], "title": title, "description": description}
    fields |= {"status": "todo", "createdBy": user, "createdAt": ctx.now, "updatedAt": ctx.now}
    task_id = ctx.db.insert("tasks", fields)
    audit(ctx, user, "task.create", "tasks", task_id, None, {"title": title, "status": "todo"})
    for dep in deps:
        add_dependency(ctx, ctx.db.get(task_id), dep, user)
    return task_id


@mutation
def depend(ctx, id: str, dependsOn: str) -> dict[str, Any]:
    """Task ``id`` now depends on ``dependsOn`` (refused if that would make a cycle)."""
    user = require_user(ctx, "change dependencies")
    task, dependency = load(ctx, "tasks", id), load(ctx, "tasks", dependsOn)
    return add_dependency(ctx, task, dependency, user)


@mutation
def undepend(ctx, id: str, dependsOn: str) -> dict[str, Any]:
    """Task ``id`` no longer depends on ``dependsOn``."""
    user = require_user(ctx, "change dependencies")
    task = load(ctx, "tasks", id)
    return remove_dependency(ctx, task, dependsOn, user)


@mutation
def assign(ctx, id: str, agentId: str | None) -> dict[str, Any]:
    """Hand task ``id`` to an agent (``None``: unassign). Not for finished tasks."""
    user = require_user(ctx, "assign tasks")
    task = load(ctx, "tasks", id)
    if task["status"] in FINAL:
        raise refuse("InvalidState", f"a {task['status']} task cannot be reassigned")
    agent = None if agentId is None else load(ctx, "agents", agentId)["_id"]
    before = task.get("assignee")
    if before == agent:
        return task
    ctx.db.patch(task["_id"], {"assignee": agent, "updatedAt": ctx.now})
    audit(ctx, user, "task.assign", "tasks", task["_id"], before, agent)
    return ctx.db.get(task["_id"])


def _move(ctx: Any, id: str, action: str) -> dict[str, Any]:
    user = require_user(ctx, f"{action.replace('_', ' ')} tasks")
    task = load(ctx, "tasks", id)
    sources, target = TRANSITIONS[action]
    if task["status"] not in sources:
        raise refuse(
            "InvalidTransition",
            f"cannot {action.replace('_', ' ')} a task that is {task['status']!r} "
            f"(only from {', '.join(sources)})",
            action=action,
            current=task["status"],
            wanted=target,
        )
    if action == "start" and task.get("assignee") is None:
        raise refuse("NotAssigned", "assign the task to an agent before starting it")
    return set_status(ctx, task, target, user)


@mutation
def start(ctx, id: str) -> dict[str, Any]:
    """todo -> in_progress (the task must be assigned)."""
    return _move(ctx, id, "start")


@mutation
def submit(ctx, id: str) -> dict[str, Any]:
    """in_progress -> in_review (a pull request opened by webhook does this too)."""
    return _move(ctx, id, "submit")


@mutation
def request_changes(ctx, id: str) -> dict[str, Any]:
    """in_review -> in_progress."""
    return _move(ctx, id, "request_changes")


@mutation
def complete(ctx, id: str) -> dict[str, Any]:
    """in_review -> done, unblocking dependents (a merged pull request does this too)."""
    return _move(ctx, id, "complete")


@mutation
def cancel(ctx, id: str) -> dict[str, Any]:
    """Any unfinished task -> cancelled. Its dependents stay blocked."""
    return _move(ctx, id, "cancel")


@query
def list(ctx, projectId: str, status: str | None = None) -> list[dict[str, Any]]:
    """A project's tasks (in one status if given), oldest first."""
    require_user(ctx, "see tasks")
    project = load(ctx, "projects", projectId)
    rows = ctx.db.query("tasks").with_index(
        "by_project_status",
        lambda q: (
            q.eq("projectId", project["_id"])
            if status is None
            else q.eq("projectId", project["_id"]).eq("status", status)
        ),
    )
    tasks = rows.take(MAX_LIST)
    return sorted(tasks, key=lambda t: t["_creationTime"])


@query
def get(ctx, id: str) -> dict[str, Any]:
    """One task with what it depends on, what depends on it, its pull requests and its audit
    trail (oldest first)."""
    require_user(ctx, "see tasks")
    task = load(ctx, "tasks", id)
    dependents = (
        ctx.db.query("dependencies")
        .with_index("by_depends_on", lambda q: q.eq("dependsOn", task["_id"]))
        .collect()
    )
    pulls = ctx.db.query("pulls").with_index("by_task", lambda q: q.eq("taskId", task["_id"]))
    trail = ctx.db.query("audit").with_index("by_entity", lambda q: q.eq("entityId", task["_id"]))
    return {
        "task": task,
        "dependsOn": dependencies_of(ctx, task["_id"]),
        "dependents": [edge["taskId"] for edge in dependents],
        "pulls": pulls.collect(),
        "audit": trail.collect(),
    }
