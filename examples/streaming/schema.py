"""Tables of the streaming example.

Every per-user row is keyed by the user's ``tokenIdentifier`` (``issuer|subject``, the stable
key ``ctx.auth`` gives), never by a name or an email the client could choose.
"""

from livebase import define_schema, define_table, v

STATE = v.union(v.literal("draft"), v.literal("review"), v.literal("published"))

schema = define_schema(
    {
        # Display names, joined into chat messages when they are read.
        "profiles": define_table(
            {"user": v.string(), "name": v.string(), "updatedAt": v.float64()}
        ).index("by_user", ["user"]),
        # Editors; a user without a row is a viewer. Written only by roles:set_role (admin).
        "roles": define_table(
            {"user": v.string(), "role": v.union(v.literal("editor"), v.literal("viewer"))}
        ).index("by_user", ["user"]),
        # One row per (user, video). ``finished`` is an index field so that "continue watching"
        # reads only unfinished videos, newest first, without scanning the finished ones.
        "progress": define_table(
            {
                "user": v.string(),
                "videoId": v.string(),
                "positionSeconds": v.float64(),
                "durationSeconds": v.float64(),
                "finished": v.boolean(),
                "updatedAt": v.float64(),
            }
        )
        .index("by_user_video", ["user", "videoId"])
        .index("by_user_unfinished", ["user", "finished", "updatedAt"]),
        # Chat per game; ordered by _creationTime within a game.
        "messages": define_table(
            {"gameId": v.string(), "author": v.string(), "body": v.string()}
        ).index("by_game", ["gameId"]),
        # One row per (user, game), refreshed by heartbeats, deleted by the cron once stale.
        "presence": define_table(
            {"gameId": v.string(), "user": v.string(), "lastSeen": v.float64()}
        )
        .index("by_user_game", ["user", "gameId"])
        .index("by_game_seen", ["gameId", "lastSeen"])
        .index("by_seen", ["lastSeen"]),
        "content": define_table(
            {
                "title": v.string(),
                "body": v.string(),
                "state": STATE,
                "author": v.string(),
                "approvedBy": v.optional(v.string()),
                "createdAt": v.float64(),
                "updatedAt": v.float64(),
                "publishedAt": v.optional(v.float64()),
            }
        ).index("by_state", ["state", "updatedAt"]),
        # One row per workflow step, written in the transaction that makes the step.
        "audit": define_table(
            {
                "contentId": v.id("content"),
                "action": v.string(),
                "from": v.union(STATE, v.null()),
                "to": STATE,
                "by": v.string(),
                "at": v.float64(),
                "note": v.optional(v.string()),
            }
        ).index("by_content", ["contentId", "at"]),
    }
)
