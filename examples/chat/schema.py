"""Tables of the chat example: messages in channels, named counters, and a typed sample table."""

from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "messages": define_table(
            {"channel": v.string(), "body": v.string(), "author": v.optional(v.string())}
        ).index("by_channel", ["channel"]),
        "counters": define_table({"name": v.string(), "value": v.int64()}).index(
            "by_name", ["name"]
        ),
        "samples": define_table(
            {"label": v.string(), "big": v.int64(), "ratio": v.number(), "blob": v.bytes()}
        ),
    }
)
