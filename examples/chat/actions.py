"""Actions: they may do I/O and reach the database only through run_query / run_mutation."""

import logging

from livebase import action

log = logging.getLogger(__name__)


@action
async def shout(ctx, channel: str, body: str) -> dict:
    log.info("shouting into %s", channel)
    message_id = await ctx.run_mutation("messages:send", {"channel": channel, "body": body.upper()})
    count = await ctx.run_query("messages:count", {"channel": channel})
    return {"id": message_id, "count": count}


@action
def slow_sum(ctx, a: float, b: float) -> float:
    """A plain ``def`` action runs in a worker thread."""
    return a + b
