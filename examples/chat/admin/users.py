"""Internal functions: callable from other functions or with the admin key, never by clients."""

from livebase import internal_mutation, internal_query


@internal_query
def message_total(ctx) -> int:
    return len(ctx.db.query("messages").collect())


@internal_mutation
def wipe_channel(ctx, channel: str) -> int:
    docs = ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", channel))
    n = 0
    for doc in docs.collect():
        ctx.db.delete(doc["_id"])
        n += 1
    return n
