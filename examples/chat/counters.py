"""Named int64 counters: the read-increment-write mutation used by the serializability test."""

from livebase import mutation, query


@query
def get(ctx, name: str) -> int:
    doc = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
    return doc["value"] if doc else 0


@mutation
async def increment(ctx, name: str) -> int:
    doc = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).first()
    if doc is None:
        ctx.db.insert("counters", {"name": name, "value": 1})
        return 1
    ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})
    return doc["value"] + 1
