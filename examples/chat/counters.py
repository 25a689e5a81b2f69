"""Named int64 counters: the read-increment-write mutation used by the serializability test.

``value`` is ``v.int64()`` in the schema; ``returns=v.int64()`` makes both functions answer an
int64 too (a JavaScript ``bigint``), also for the ``0`` of a missing counter and for the plain
``int`` that ``doc["value"] + 1`` is (docs/functions.md, "Numbers")."""

from livebase import Int64, mutation, query, v


@query(returns=v.int64())
def get(ctx, name: str) -> Int64:
    doc = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
    return doc["value"] if doc else Int64(0)


@mutation(returns=v.int64())
async def increment(ctx, name: str) -> Int64:
    doc = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).first()
    if doc is None:
        ctx.db.insert("counters", {"name": name, "value": 1})
        return Int64(1)
    ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})
    return Int64(doc["value"] + 1)
