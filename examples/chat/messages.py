"""Messages: send, list, paginate and count, plus a few functions that show errors and logs."""

from typing import Any

from livebase import AppError, PaginationOptions, mutation, query, v


@query
def list(ctx, channel: str, limit: int | None = None) -> list[dict]:
    q = ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", channel))
    return q.take(limit) if limit is not None else q.collect()


@query(args={"channel": v.string(), "paginationOpts": v.any()})
def page(ctx, channel, paginationOpts):
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .paginate(paginationOpts)
    )


@query
def count(ctx, channel: str) -> int:
    return len(
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )


@mutation(args={"channel": v.string(), "body": v.string(), "author": v.optional(v.string())})
def send(ctx, channel, body, author=None):
    if not body.strip():
        raise AppError({"code": "EmptyMessage", "channel": channel})
    doc: dict[str, Any] = {"channel": channel, "body": body}
    if author is not None:
        doc["author"] = author
    print(f"sending to {channel}")
    return ctx.db.insert("messages", doc)


@mutation
def edit(ctx, id: str, body: str) -> None:
    ctx.db.patch(id, {"body": body})


@mutation
def remove(ctx, id: str) -> None:
    ctx.db.delete(id)


@query
def get(ctx, id: str) -> dict | None:
    return ctx.db.get(id)


@query
def boom(ctx) -> None:
    raise ValueError("this is a bug in the app")


@query
def echo(ctx, value: Any) -> Any:
    """Returns its argument unchanged: int64, bytes, NaN and nested values round-trip."""
    return value


@query
def clock(ctx) -> dict:
    import random
    import time

    return {"now": time.time(), "ctx_now": ctx.now, "random": random.random()}


@query
def paged_opts(ctx, channel: str, paginationOpts: PaginationOptions) -> dict:
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .paginate(paginationOpts)
    )
