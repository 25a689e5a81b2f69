"""The task workflow shared by what users do (``tasks.py``) and what webhooks do
(``github.py``): status changes with their audit rows, dependencies, unblocking and the cycle
check. Every function here runs inside the caller's mutation.

    blocked -> todo -> in_progress -> in_review -> done
    (any status but done) -> cancelled

A task is ``blocked`` while any task it depends on is not ``done``; the mutation that makes a
task ``done`` also moves each dependent whose last open dependency it was from ``blocked`` to
``todo``. A cancelled dependency does not count as done: its dependents stay blocked until
someone removes that dependency.
"""

from typing import Any

from ._common import audit, refuse

ACTIVE = ("todo", "in_progress", "in_review")
FINAL = ("done", "cancelled")
MAX_GRAPH = 5000
"""The cycle check walks at most this many dependency edges (a project's graph is small)."""


def set_status(ctx: Any, task: dict[str, Any], status: str, actor: str) -> dict[str, Any]:
    """Move ``task`` to ``status`` (no check of the transition: callers check), write its audit
    row, and unblock its dependents when it becomes done. Returns the task as it is now."""
    before = task["status"]
    if before == status:
        return task
    ctx.db.patch(task["_id"], {"status": status, "updatedAt": ctx.now})
    audit(ctx, actor, "task.status", "tasks", task["_id"], before, status)
    if status == "done":
        edges = (
            ctx.db.query("dependencies")
            .with_index("by_depends_on", lambda q: q.eq("dependsOn", task["_id"]))
            .collect()
        )
        for edge in edges:
            dependent = ctx.db.get(edge["taskId"])
            if dependent is not None and dependent["status"] == "blocked":
                if not open_dependencies(ctx, dependent["_id"]):
                    set_status(ctx, dependent, "todo", actor)
    return ctx.db.get(task["_id"])


def dependencies_of(ctx: Any, task_id: str) -> list[str]:
    rows = ctx.db.query("dependencies").with_index("by_task", lambda q: q.eq("taskId", task_id))
    return [row["dependsOn"] for row in rows]


def open_dependencies(ctx: Any, task_id: str) -> list[str]:
    """The tasks ``task_id`` depends on that are not done yet."""
    return [d for d in dependencies_of(ctx, task_id) if ctx.db.get(d)["status"] != "done"]


def dependency_path(ctx: Any, start: str, goal: str) -> list[str] | None:
    """A chain ``start -> ... -> goal`` along "depends on" edges, or None (depth-first)."""
    parents: dict[str, str | None] = {start: None}
    stack = [start]
    walked = 0
    while stack:
        node = stack.pop()
        if node == goal:
            path = [node]
            while (parent := parents[path[-1]]) is not None:
                path.append(parent)
            return path[::-1]
        for nxt in dependencies_of(ctx, node):
            walked += 1
            if walked > MAX_GRAPH:
                raise refuse(
                    "GraphTooLarge", f"the dependency graph has more than {MAX_GRAPH} edges"
                )
            if nxt not in parents:
                parents[nxt] = node
                stack.append(nxt)
    return None


def add_dependency(
    ctx: Any, task: dict[str, Any], dependency: dict[str, Any], actor: str
) -> dict[str, Any]:
    """``task`` now depends on ``dependency``: refused across projects, for a task already
    started or finished, on a cancelled task, and when it would close a cycle. A task that
    was ``todo`` becomes ``blocked`` unless the dependency is done."""
    task_id, dep_id = task["_id"], dependency["_id"]
    if task["projectId"] != dependency["projectId"]:
        raise refuse("OtherProject", "a task can only depend on tasks of its own project")
    if task["status"] not in ("blocked", "todo"):
        raise refuse(
            "InvalidState",
            f"dependencies can only be added to a task not started yet (this one is "
            f"{task['status']!r})",
            status=task["status"],
        )
    if dependency["status"] == "cancelled":
        raise refuse("DependencyCancelled", "a task cannot depend on a cancelled task")
    if dep_id in dependencies_of(ctx, task_id):
        return task  # already there: nothing changes, nothing is audited
    # The new edge task -> dependency closes a cycle iff dependency already reaches task.
    cycle = dependency_path(ctx, dep_id, task_id)
    if cycle is not None:
        titles = [ctx.db.get(t)["title"] for t in [task_id, *cycle]]
        raise refuse(
            "DependencyCycle",
            "this dependency would make a cycle: " + " -> ".join(repr(t) for t in titles),
            cycle=[task_id, *cycle],
        )
    ctx.db.insert("dependencies", {"taskId": task_id, "dependsOn": dep_id})
    audit(ctx, actor, "task.dependency.add", "tasks", task_id, None, dep_id)
    if task["status"] == "todo" and dependency["status"] != "done":
        return set_status(ctx, task, "blocked", actor)
    return ctx.db.get(task_id)


def remove_dependency(ctx: Any, task: dict[str, Any], dep_id: str, actor: str) -> dict[str, Any]:
    """Drop the edge; a blocked task with no open dependency left becomes ``todo``."""
    edge = (
        ctx.db.query("dependencies")
        .with_index("by_task", lambda q: q.eq("taskId", task["_id"]).eq("dependsOn", dep_id))
        .unique()
    )
    if edge is None:
        raise refuse("NotFound", "this task does not depend on that one", dependsOn=dep_id)
    ctx.db.delete(edge["_id"])
    audit(ctx, actor, "task.dependency.remove", "tasks", task["_id"], dep_id, None)
    if task["status"] == "blocked" and not open_dependencies(ctx, task["_id"]):
        return set_status(ctx, task, "todo", actor)
    return ctx.db.get(task["_id"])
