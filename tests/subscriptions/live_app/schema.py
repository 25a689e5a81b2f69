"""Messages in channels, indexed by channel and by (channel, n)."""

from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "messages": define_table(
            {
                "channel": v.string(),
                "body": v.string(),
                "n": v.number(),
                "extra": v.optional(v.string()),
            }
        )
        .index("by_channel", ["channel"])
        .index("by_channel_n", ["channel", "n"])
    }
)
