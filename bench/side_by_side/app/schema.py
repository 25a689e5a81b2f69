"""The benchmark's app: one ``messages`` table indexed on ``channel``, as in PocketBase."""

from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "messages": define_table({"channel": v.string(), "body": v.string()}).index(
            "by_channel", ["channel"]
        )
    }
)
