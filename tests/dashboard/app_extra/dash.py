"""Functions the dashboard tests add to a copy of examples/chat: who is calling, and a job
scheduled far enough ahead to be cancelled."""

import logging

from livebase import action, mutation, query

log = logging.getLogger(__name__)


@query
def whoami(ctx) -> dict:
    identity = ctx.auth.get_user_identity()
    if identity is None:
        return {"signedIn": False}
    return {"signedIn": True, "subject": identity.subject, "name": identity.name}


@mutation
def later(ctx, channel: str, body: str, minutes: float = 60) -> str:
    log.info("scheduling a message to %s in %s minutes", channel, minutes)
    return ctx.scheduler.run_after(
        minutes * 60, "messages:send", {"channel": channel, "body": body}
    )


@mutation
def seed(ctx, channel: str, count: float, start: float = 0) -> int:
    """``count`` messages in one transaction (the 10,000-document scroll test)."""
    for i in range(int(start), int(start + count)):
        ctx.db.insert(
            "messages", {"channel": channel, "body": f"message {i:05d}", "author": f"user{i % 7}"}
        )
    return int(count)


@action
async def store_note(ctx, text: str) -> str:
    """A stored file (``_storage``) for the Files panel."""
    return await ctx.storage.store(text.encode(), "text/plain")


@mutation
def shout(ctx, text: str) -> str:
    """Logs a line, then fails: a failed call the Logs panel links to."""
    log.warning("about to fail on %s", text)
    raise ValueError(f"cannot shout {text!r}")
