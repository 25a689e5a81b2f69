"""agentfeed's tables: events (hook events and other activity), what ingestion keeps up to date
from them (sessions, projects, paired tool calls, per-day counts), payloads it could not use
(and per-day counts of those and of posts refused for their key), and large values stored out
of line.

Numbers are ``v.number()`` (float64), timestamps milliseconds since the epoch: what a Convex
JS client reads as a plain ``number``.
"""

from typing import Any

from livebase import define_schema, define_table, v

from .pipeline_schema import PIPELINE_TABLES
from .sinks.tables import TABLES as SINK_TABLES

BLOB_REF = v.object(
    {
        "field": v.string(),
        "blob": v.id("blobs"),
        "bytes": v.number(),
        "file": v.optional(v.id("_storage")),
        "sha256": v.optional(v.string()),
        "content_type": v.optional(v.string()),
    }
)
"""A top-level field of a payload stored out of line (``*``: the whole payload); a blob kept as a
file (``blobs.py``) names it, with its sha256 and content type."""

TOKENS = v.object(
    {
        "input": v.number(),
        "output": v.number(),
        "cache_read": v.number(),
        "cache_creation": v.number(),
    }
)

MODEL_USAGE = v.object(
    {
        "model": v.string(),
        "input": v.number(),
        "output": v.number(),
        "cache_read": v.number(),
        "cache_creation": v.number(),
        "requests": v.number(),
        "cost_usd": v.nullable(v.number()),
    }
)
"""A session's token usage by one model, from its transcript (``cost_usd`` null: no price)."""


TELEMETRY_USAGE = v.object(
    {
        "requests": v.number(),
        "tokens": TOKENS,
        "cost_usd": v.number(),
        "api_duration_ms": v.number(),
        "updated_at": v.number(),
    }
)
"""A session's API requests, tokens and cost as Claude Code's telemetry reported them
(``claude_code.api_request`` log records received on ``POST /v1/logs``)."""


TRANSCRIPT_FILE = v.object(
    {
        "file": v.id("_storage"),
        "bytes": v.number(),
        "sha256": v.string(),
        "content_type": v.string(),
        "uploaded_at": v.number(),
    }
)
"""A session's transcript as Claude Code wrote it, kept as a file (``transcript_files.py``)."""


def _redacted(*fields: str) -> Any:
    """A document's redacted copy (``redacted.py``): ``v``, the version of the rules that made
    it, and the redacted form of its text ``fields`` (those it has)."""
    return v.object({"v": v.number(), **{name: v.optional(v.string()) for name in fields}})


REDACTED_EVENT = _redacted(
    "source", "subtype", "summary", "cwd", "tool_name", "tool_input", "tool_response", "error",
    "prompt", "agent_type", "permission_mode", "transcript_path", "model", "details", "raw",
)  # fmt: skip
REDACTED_SESSION = _redacted(
    "source", "last_summary", "cwd", "model", "transcript_path", "start_source", "end_reason",
    "last_event_type",
)  # fmt: skip
REDACTED_TOOL_CALL = _redacted("tool_name", "input", "error")

schema = define_schema(
    {
        "events": define_table(
            {
                "event_id": v.string(),
                "origin": v.union(v.literal("hook"), v.literal("activity")),
                "source": v.string(),
                "type": v.string(),
                "subtype": v.optional(v.string()),
                "timestamp": v.number(),
                "received_at": v.number(),
                "summary": v.string(),
                "session_id": v.optional(v.string()),
                "cwd": v.optional(v.string()),
                "project": v.optional(v.string()),
                "tool_name": v.optional(v.string()),
                "tool_use_id": v.optional(v.string()),
                "tool_input": v.optional(v.string()),
                "tool_response": v.optional(v.string()),
                "success": v.optional(v.boolean()),
                "interrupted": v.optional(v.boolean()),
                "error": v.optional(v.string()),
                "duration_ms": v.optional(v.number()),
                "prompt": v.optional(v.string()),
                "prompt_id": v.optional(v.string()),
                "agent_id": v.optional(v.string()),
                "agent_type": v.optional(v.string()),
                "permission_mode": v.optional(v.string()),
                "transcript_path": v.optional(v.string()),
                "model": v.optional(v.string()),
                "details": v.optional(v.string()),
                "raw": v.string(),
                "raw_bytes": v.number(),
                "blobs": v.array(BLOB_REF),
                "redacted": v.optional(REDACTED_EVENT),
            }
        )
        .index("by_event_id", ["event_id"])
        .index("by_time", ["timestamp"])
        .index("by_session_time", ["session_id", "timestamp"])
        .index("by_project_time", ["project", "timestamp"])
        .index("by_type_time", ["type", "timestamp"])
        .index("by_tool_time", ["tool_name", "timestamp"])
        .index("by_redaction", ["redacted.v"])
        .search_index(
            "search_summary",
            search_field="summary",
            filter_fields=["project", "session_id", "type", "tool_name"],
        )
        .search_index(
            "search_public",
            search_field="redacted.summary",
            filter_fields=["project", "session_id", "type", "redacted.tool_name"],
        ),
        "rejected_events": define_table(
            {
                "endpoint": v.string(),
                "reason": v.string(),
                "body": v.string(),
                "body_bytes": v.number(),
                "event_id": v.optional(v.string()),
                "blobs": v.array(BLOB_REF),
                "received_at": v.number(),
                "kind": v.optional(v.string()),
                "attempts": v.optional(v.number()),
                "last_attempt_at": v.optional(v.number()),
                # an OTLP export (endpoint v1/logs or v1/metrics): what decoding it again needs
                "content_type": v.optional(v.string()),
                "content_encoding": v.optional(v.string()),
                "body_encoding": v.optional(v.literal("base64")),
            }
        ).index("by_time", ["received_at"]),
        "rejected_counts": define_table(
            {"kind": v.string(), "count": v.number(), "last_at": v.number()}
        ).index("by_kind", ["kind"]),
        "telemetry": define_table(
            {
                "record_id": v.string(),
                "signal": v.union(v.literal("log"), v.literal("metric")),
                "name": v.string(),
                "timestamp": v.number(),
                "received_at": v.number(),
                "session_id": v.optional(v.string()),
                "prompt_id": v.optional(v.string()),
                "tool_use_id": v.optional(v.string()),
                "request_id": v.optional(v.string()),
                "model": v.optional(v.string()),
                "metric_type": v.optional(v.string()),
                "value": v.optional(v.number()),
                "temporality": v.optional(v.string()),
                "cost_usd": v.optional(v.number()),
                "tokens": v.optional(TOKENS),
                "duration_ms": v.optional(v.number()),
                "success": v.optional(v.boolean()),
                "attributes": v.string(),
                # a histogram's, exponential histogram's or summary's point (otlp.py)
                "distribution": v.optional(v.record(v.string(), v.any())),
            }
        )
        .index("by_record_id", ["record_id"])
        .index("by_time", ["timestamp"])
        .index("by_session_time", ["session_id", "timestamp"])
        .index("by_prompt", ["prompt_id", "timestamp"])
        .index("by_tool_use", ["tool_use_id", "timestamp"]),
        "usage": define_table(
            {
                "scope": v.union(v.literal("session"), v.literal("prompt"), v.literal("tool_call")),
                "key": v.string(),
                "session_id": v.optional(v.string()),
                "requests": v.number(),
                "tokens": TOKENS,
                "cost_usd": v.number(),
                "api_duration_ms": v.number(),
                "models": v.array(v.string()),
                "first_at": v.number(),
                "last_at": v.number(),
            }
        ).index("by_scope_key", ["scope", "key"]),
        "delivery": define_table(
            {
                "day": v.string(),
                "endpoint": v.string(),
                "kind": v.union(v.literal("refused"), v.literal("rejected")),
                "count": v.number(),
                "last_at": v.number(),
            }
        ).index("by_day", ["day", "endpoint", "kind"]),
        "sessions": define_table(
            {
                "session_id": v.string(),
                "source": v.string(),
                "status": v.union(v.literal("active"), v.literal("ended")),
                "started_at": v.number(),
                "ended_at": v.optional(v.number()),
                "end_reason": v.optional(v.string()),
                "start_source": v.optional(v.string()),
                "event_count": v.number(),
                "prompt_count": v.number(),
                "tool_count": v.number(),
                "last_event_at": v.number(),
                "last_received_at": v.number(),
                "last_event_type": v.string(),
                "last_summary": v.string(),
                "cwd": v.optional(v.string()),
                "project": v.optional(v.string()),
                "model": v.optional(v.string()),
                "transcript_path": v.optional(v.string()),
                "tokens": TOKENS,
                "usage": v.optional(v.array(MODEL_USAGE)),
                "cost_usd": v.optional(v.nullable(v.number())),
                "imported_at": v.optional(v.number()),
                "telemetry": v.optional(TELEMETRY_USAGE),
                "transcript_file": v.optional(TRANSCRIPT_FILE),
                "redacted": v.optional(REDACTED_SESSION),
            }
        )
        .index("by_session_id", ["session_id"])
        .index("by_status_activity", ["status", "last_received_at"])
        .index("by_project_status", ["project", "status", "last_received_at"])
        .index("by_redaction", ["redacted.v"]),
        "projects": define_table(
            {
                "path": v.string(),
                "name": v.string(),
                "description": v.string(),
                "public": v.boolean(),
                "first_event_at": v.number(),
                "last_event_at": v.number(),
                "event_count": v.number(),
                "session_count": v.number(),
                "prompt_count": v.number(),
                "tool_count": v.number(),
            }
        )
        .index("by_path", ["path"])
        .index("by_last_event", ["last_event_at"]),
        "session_vectors": define_table(
            {
                "session_id": v.string(),
                "project": v.optional(v.string()),
                "embedding": v.optional(v.array(v.float64())),
                "prompts": v.number(),
                "counted_from": v.optional(v.number()),
                "updated_at": v.number(),
            }
        )
        .index("by_session_id", ["session_id"])
        .index("by_project", ["project"])
        .vector_index(
            "by_embedding",
            vector_field="embedding",
            dimensions=256,  # embedding.DIMENSIONS
            filter_fields=["project"],
        ),
        "session_vector_state": define_table(
            {
                "key": v.string(),
                "cursor": v.optional(v.string()),
                "done": v.boolean(),
                "updated_at": v.number(),
            }
        ).index("by_key", ["key"]),
        "tool_calls": define_table(
            {
                "tool_use_id": v.string(),
                "tool_name": v.string(),
                "session_id": v.optional(v.string()),
                "project": v.optional(v.string()),
                "status": v.union(
                    v.literal("running"),
                    v.literal("success"),
                    v.literal("failure"),
                    v.literal("interrupted"),
                    v.literal("denied"),
                ),
                "at": v.number(),
                "started_at": v.optional(v.number()),
                "ended_at": v.optional(v.number()),
                "duration_ms": v.optional(v.number()),
                "input": v.optional(v.string()),
                "error": v.optional(v.string()),
                "pre_event": v.optional(v.id("events")),
                "post_event": v.optional(v.id("events")),
                "redacted": v.optional(REDACTED_TOOL_CALL),
            }
        )
        .index("by_tool_use_id", ["tool_use_id"])
        .index("by_session_at", ["session_id", "at"])
        .index("by_redaction", ["redacted.v"]),
        "daily": define_table(
            {
                "day": v.string(),
                "project": v.string(),
                "events": v.number(),
                "prompts": v.number(),
                "tool_calls": v.number(),
                "failures": v.number(),
                "sessions": v.number(),
            }
        )
        .index("by_day", ["day"])
        .index("by_project_day", ["project", "day"]),
        "blobs": define_table(
            {
                "event_id": v.string(),
                "field": v.string(),
                "bytes": v.number(),
                "chunks": v.number(),
                "file": v.optional(v.id("_storage")),
                "sha256": v.optional(v.string()),
                "content_type": v.optional(v.string()),
                "state": v.union(v.literal("pending"), v.literal("attached")),
                "owner": v.optional(v.string()),
                "created_at": v.number(),
            }
        ).index("by_state_created", ["state", "created_at"]),
        "blob_chunks": define_table(
            {"blob": v.id("blobs"), "index": v.number(), "text": v.string()}
        ).index("by_blob", ["blob", "index"]),
        **PIPELINE_TABLES,
        **SINK_TABLES,
    }
)
