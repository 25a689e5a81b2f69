"""Queries whose result is one index range, returned untouched (kept current by applying
commits), and queries that look inside it or read more (run again on every touching commit)."""

import time

from livebase import mutation, query, v

MESSAGE = v.object(
    {
        "_id": v.id("messages"),
        "_creationTime": v.number(),
        "channel": v.string(),
        "body": v.string(),
        "n": v.number(),
    }
)


def _channel(ctx, channel):
    return ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", channel))


# -- maintained ---------------------------------------------------------------------------------


@query
def plain(ctx, channel: str) -> list:
    return _channel(ctx, channel).collect()


@query
def newest_first(ctx, channel: str) -> list:
    return _channel(ctx, channel).order("desc").collect()


@query
def between(ctx, channel: str, lo: float, hi: float) -> list:
    return (
        ctx.db.query("messages")
        .with_index("by_channel_n", lambda q: q.eq("channel", channel).gte("n", lo).lt("n", hi))
        .collect()
    )


@query
def latest(ctx, channel: str, count: float) -> list:
    return _channel(ctx, channel).order("desc").take(int(count))


@query
def oldest(ctx, channel: str, count: float) -> list:
    return _channel(ctx, channel).take(int(count))


@query(returns=v.array(MESSAGE))
def validated(ctx, channel: str) -> list:
    return _channel(ctx, channel).collect()


# -- run again ----------------------------------------------------------------------------------


@query
def short_or_nothing(ctx, channel: str) -> list:
    docs = _channel(ctx, channel).collect()
    return docs if len(docs) < 3 else []


@query
def unless_stopped(ctx, channel: str) -> list:
    first = _channel(ctx, channel).first()
    docs = _channel(ctx, channel).collect()
    return [] if first is not None and first["body"] == "stop" else docs


@query
def filtered(ctx, channel: str) -> list:
    return _channel(ctx, channel).filter(lambda q: q.lt(q.field("n"), 50)).collect()


@query
def renamed(ctx, channel: str) -> list:
    docs = _channel(ctx, channel).collect()
    for doc in docs:
        doc["body"] = doc["body"].upper()
    return docs


@query
def until(ctx, channel: str, deadline: float) -> list:
    docs = _channel(ctx, channel).collect()
    return docs if time.time() * 1000 < deadline else []


@query
def clocked_inside(ctx, channel: str, deadline: float) -> list:
    docs = _channel(ctx, channel).collect()
    return docs if ctx.now < deadline else []


@query
def via_nested_clock(ctx, channel: str, deadline: float) -> list:
    return ctx.run_query(clocked_inside, {"channel": channel, "deadline": deadline})


@query
def lucky_inside(ctx, channel: str) -> list:
    docs = _channel(ctx, channel).collect()
    return docs if ctx.random.random() < 2 else []


@query
def via_nested_random(ctx, channel: str) -> list:
    return ctx.run_query(lucky_inside, {"channel": channel})


@query
def via_nested_plain(ctx, channel: str) -> list:
    return ctx.run_query(plain, {"channel": channel})


@query
def logged(ctx, channel: str) -> list:
    docs = _channel(ctx, channel).collect()
    print("read the channel")
    return docs


@query
def wrapped(ctx, channel: str) -> dict:
    return {"messages": _channel(ctx, channel).collect()}


# -- writes -------------------------------------------------------------------------------------


@mutation
def send(ctx, channel: str, body: str, n: float, extra: str | None = None) -> str:
    doc = {"channel": channel, "body": body, "n": n}
    if extra is not None:
        doc["extra"] = extra
    return ctx.db.insert("messages", doc)


@mutation
def edit(ctx, id: str, fields: dict) -> None:
    ctx.db.patch(id, fields)


@mutation
def remove(ctx, id: str) -> None:
    ctx.db.delete(id)


@mutation
def send_many(ctx, channel: str, count: float) -> None:
    for i in range(int(count)):
        ctx.db.insert("messages", {"channel": channel, "body": f"bulk {i}", "n": float(i)})
