"""Tables of the agent manager.

People are never rows here: who did something is the caller's ``tokenIdentifier`` (from
``ctx.auth``), or ``"github"`` for what a webhook did, or ``"system"`` for the app's own
bookkeeping (retries, crons).
"""

from livebase import define_schema, define_table, v

TASK_STATUS = v.union(
    v.literal("blocked"),  # waits for a task it depends on to be done
    v.literal("todo"),
    v.literal("in_progress"),
    v.literal("in_review"),
    v.literal("done"),
    v.literal("cancelled"),
)
PULL_STATE = v.union(v.literal("open"), v.literal("merged"), v.literal("closed"))
DELIVERY_STATUS = v.union(
    v.literal("pending"),  # stored, processing scheduled (first attempt or a retry)
    v.literal("processed"),
    v.literal("ignored"),  # an event this app does not act on; kept for the record
    v.literal("failed"),  # every attempt failed; ``lastError`` says why
)

schema = define_schema(
    {
        "projects": define_table(
            {
                "name": v.string(),
                "repo": v.string(),  # "owner/name", lower-cased: GitHub's names are case-blind
                "createdBy": v.string(),
                "createdAt": v.float64(),
            }
        ).index("by_repo", ["repo"]),
        # The AI agents work is handed to (an agent is not a user: it never signs in here).
        "agents": define_table(
            {"name": v.string(), "createdBy": v.string(), "createdAt": v.float64()}
        ).index("by_name", ["name"]),
        "tasks": define_table(
            {
                "projectId": v.id("projects"),
                "title": v.string(),
                "description": v.string(),
                "status": TASK_STATUS,
                "assignee": v.optional(v.id("agents")),
                "createdBy": v.string(),
                "createdAt": v.float64(),
                "updatedAt": v.float64(),
            }
        ).index("by_project_status", ["projectId", "status"]),
        # An edge "taskId depends on dependsOn". Both tasks are in the same project.
        "dependencies": define_table({"taskId": v.id("tasks"), "dependsOn": v.id("tasks")})
        .index("by_task", ["taskId", "dependsOn"])
        .index("by_depends_on", ["dependsOn"]),
        "pulls": define_table(
            {
                "projectId": v.id("projects"),
                "taskId": v.optional(v.id("tasks")),
                "number": v.float64(),
                "state": PULL_STATE,
                "url": v.string(),
                "title": v.string(),
                "updatedAt": v.float64(),
            }
        )
        .index("by_project_number", ["projectId", "number"])
        .index("by_task", ["taskId"]),
        # One row per GitHub delivery (X-GitHub-Delivery), whatever its fate.
        "deliveries": define_table(
            {
                "deliveryId": v.string(),
                "event": v.string(),
                # What processing needs from the payload (see _github.summarize), not the whole
                # payload: GitHub's can be megabytes.
                "summary": v.any(),
                "status": DELIVERY_STATUS,
                "attempts": v.float64(),
                "lastError": v.optional(v.string()),
                "result": v.optional(v.string()),
                "receivedAt": v.float64(),
                "nextAttemptAt": v.optional(v.float64()),
                "job": v.optional(v.id("_scheduled_functions")),
                "finishedAt": v.optional(v.float64()),
            }
        )
        .index("by_delivery", ["deliveryId"])
        .index("by_status_finished", ["status", "finishedAt"])
        .index("by_status_next", ["status", "nextAttemptAt"]),
        # Every state change, written in the mutation that makes it.
        "audit": define_table(
            {
                "actor": v.string(),  # a tokenIdentifier, "github" or "system"
                "action": v.string(),  # e.g. "task.status", "task.dependency.add"
                "table": v.string(),
                "entityId": v.string(),
                "before": v.any(),
                "after": v.any(),
                "at": v.float64(),
            }
        ).index("by_entity", ["entityId", "at"]),
    }
)
