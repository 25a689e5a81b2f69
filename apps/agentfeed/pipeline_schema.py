"""The observation pipeline's tables (``schema.py`` adds them to agentfeed's schema): the
enrichment queue every stored event enters, the stages that read it, the activity sessions the
enrichment worker groups events into, the owner's corrections of guessed intents, and the LLM
enricher's token use per day."""

from typing import Any

from livebase import define_table, v

STATUS = v.union(
    v.literal("active"), v.literal("paused"), v.literal("completed"), v.literal("abandoned")
)
INTENT_SOURCE = v.union(
    v.literal("heuristic"), v.literal("learned"), v.literal("llm"), v.literal("owner")
)

PIPELINE_TABLES: dict[str, Any] = {
    "enrichment_queue": define_table(
        {
            "stage": v.string(),
            "event": v.id("events"),
            "event_id": v.string(),
            "enqueued_at": v.number(),
        }
    )
    .index("by_stage", ["stage"])
    .index("by_stage_event", ["stage", "event_id"]),
    "pipeline_stages": define_table({"name": v.string(), "created_at": v.number()}).index(
        "by_name", ["name"]
    ),
    "enrichment_state": define_table(
        {
            "stage": v.string(),
            "scheduled": v.boolean(),
            "processed": v.number(),
            "last_run_at": v.optional(v.number()),
            "woken_at": v.optional(v.number()),
        }
    ).index("by_stage", ["stage"]),
    "activity_sessions": define_table(
        {
            "project": v.string(),
            "branch": v.optional(v.string()),
            "agent_sessions": v.array(v.string()),
            "started_at": v.number(),
            "last_at": v.number(),
            "ended_at": v.optional(v.number()),
            "event_count": v.number(),
            "prompt_count": v.number(),
            "tool_count": v.number(),
            "failure_count": v.number(),
            "tools": v.array(v.object({"name": v.string(), "count": v.number()})),
            "files": v.array(v.string()),
            "prompts": v.array(v.string()),
            "keywords": v.array(v.object({"word": v.string(), "count": v.number()})),
            "open_turn": v.boolean(),
            "last_failed": v.optional(v.boolean()),
            "last_type": v.string(),
            "status": STATUS,
            "guessed_intent": v.string(),
            "intent_kind": v.string(),
            "confidence": v.number(),
            "intent_source": INTENT_SOURCE,
            "heuristic_intent": v.string(),
            "needs_validation": v.boolean(),
            "llm_note": v.optional(v.string()),
            "llm_prompts": v.optional(v.number()),
        }
    )
    .index("by_project_last", ["project", "last_at"])
    .index("by_status_last", ["status", "last_at"])
    .index("by_last", ["last_at"]),
    "intent_corrections": define_table(
        {
            "activity_session": v.id("activity_sessions"),
            "project": v.optional(v.string()),
            "keywords": v.array(v.string()),
            "guessed": v.string(),
            "intent": v.string(),
            "kind": v.optional(v.string()),
            "created_at": v.number(),
        }
    )
    .index("by_time", ["created_at"])
    .index("by_session", ["activity_session"]),
    "llm_usage": define_table(
        {
            "day": v.string(),
            "requests": v.number(),
            "input_tokens": v.number(),
            "output_tokens": v.number(),
        }
    ).index("by_day", ["day"]),
}
