"""``send`` inserts one message; ``list`` returns a channel's messages (the whole index range)."""

from livebase import mutation, query


@query
def list(ctx, channel: str) -> list[dict]:
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )


@mutation
def send(ctx, channel: str, body: str) -> str:
    return ctx.db.insert("messages", {"channel": channel, "body": body})
