"""The tables of agentfeed's sinks (``schema.py`` adds them): each sink's position in the change
stream and its counters, what it gave up on (the dead letters the owner can replay), and what
the owner lets leave the machine per project.

Written only by the sink process (``agentfeed sinks``, through internal mutations with the
admin key) and by the owner (``sinks/state:replay``, ``sinks/state:set_forward``).
"""

from livebase import define_table, v

FORWARD_LEVELS = ("off", "metadata", "content")
"""What leaves the machine for a project: nothing; ids, type, times and the redacted summary;
that plus the prompt, tool input and response and error (redacted for public projects)."""
DEFAULT_FORWARD = "metadata"

FORWARD = v.union(*(v.literal(level) for level in FORWARD_LEVELS))

TABLES = {
    "sink_state": define_table(
        {
            "sink": v.string(),
            "cursor": v.optional(v.string()),
            "delivered": v.number(),
            "skipped": v.number(),
            "dead_lettered": v.number(),
            "replayed": v.number(),
            "started_at": v.number(),
            "updated_at": v.number(),
            "last_delivered_at": v.optional(v.number()),
            "last_event_at": v.optional(v.number()),
            "last_error": v.optional(v.string()),
            "failing_since": v.optional(v.number()),
        }
    ).index("by_sink", ["sink"]),
    "sink_dead_letters": define_table(
        {
            "sink": v.string(),
            "event": v.id("events"),
            "event_id": v.string(),
            "error": v.string(),
            "attempts": v.number(),
            "failed_at": v.number(),
            "replay": v.boolean(),
        }
    )
    .index("by_sink_replay", ["sink", "replay", "failed_at"])
    .index("by_failed", ["failed_at"]),
    "sink_projects": define_table({"project": v.string(), "forward": FORWARD}).index(
        "by_project", ["project"]
    ),
}
