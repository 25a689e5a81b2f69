"""Webhook inbox: received payloads, their processing state, and per-status counters."""

from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "webhooks": define_table(
            {
                "source": v.string(),
                "payload": v.any(),
                "status": v.union(
                    v.literal("received"),
                    v.literal("processing"),
                    v.literal("done"),
                    v.literal("failed"),
                ),
                "attempts": v.int64(),
                "result": v.optional(v.any()),
                "error": v.optional(v.string()),
                "receivedAt": v.float64(),
            }
        )
        .index("by_status", ["status"])
        .index("by_source", ["source"]),
        # Kept by the trigger in webhooks.py: one row per status, never scanned.
        "stats": define_table({"status": v.string(), "count": v.int64()}).index(
            "by_status", ["status"]
        ),
    }
)
