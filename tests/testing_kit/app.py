"""The small app the kit's tests load: messages with authors, reminders scheduled by mutations
and actions, a cron that counts its ticks, and functions that fail on purpose."""

from __future__ import annotations

from pathlib import Path

from tests.support.apps import write_app

FILES = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "messages": define_table(
                {"channel": v.string(), "body": v.string(), "author": v.optional(v.string())}
            ).index("by_channel", ["channel"]),
            "notes": define_table({"text": v.string(), "at": v.number()}),
            "ticks": define_table({"at": v.number()}),
        })
    """,
    "messages.py": """
        from livebase import AppError, internal_query, mutation, query


        @mutation
        def send(ctx, channel: str, body: str) -> str:
            if not body.strip():
                raise AppError({"code": "EmptyMessage", "channel": channel})
            print(f"sending to {channel}")
            doc = {"channel": channel, "body": body}
            user = ctx.auth.get_user_identity()
            if user is not None:
                doc["author"] = user.name or user.subject
            return ctx.db.insert("messages", doc)


        @query
        def mine(ctx) -> list:
            user = ctx.auth.get_user_identity()
            if user is None:
                raise AppError({"code": "NotSignedIn"})
            name = user.name or user.subject
            everything = ctx.db.query("messages").collect()
            return [m["body"] for m in everything if m.get("author") == name]


        @query
        def whoami(ctx) -> dict | None:
            return ctx.auth.get_user_identity()


        @internal_query
        def count(ctx) -> int:
            return len(ctx.db.query("messages").collect())


        @query
        def broken(ctx) -> None:
            raise ValueError("a bug in the app")


        @query  # last: it shadows the builtin list below it
        def list(ctx, channel: str) -> list:
            q = ctx.db.query("messages")
            q = q.with_index("by_channel", lambda q: q.eq("channel", channel))
            return [m["body"] for m in q.collect()]
    """,
    "notes.py": """
        from livebase import internal_mutation, mutation, query


        @mutation
        def remind(ctx, text: str, seconds: float) -> str:
            return ctx.scheduler.run_after(seconds, "notes:write", {"text": text})


        @mutation
        def chain(ctx, text: str, hops: int, seconds: float) -> None:
            args = {"text": text, "hops": hops, "seconds": seconds}
            ctx.scheduler.run_after(seconds, "notes:hop", args)


        @internal_mutation
        def hop(ctx, text: str, hops: int, seconds: float) -> None:
            ctx.db.insert("notes", {"text": f"{text} {hops}", "at": ctx.now})
            if hops > 1:
                args = {"text": text, "hops": hops - 1, "seconds": seconds}
                ctx.scheduler.run_after(seconds, hop, args)


        @internal_mutation
        def write(ctx, text: str) -> None:
            ctx.db.insert("notes", {"text": text, "at": ctx.now})


        @internal_mutation
        def forever(ctx) -> None:
            ctx.scheduler.run_after(1, forever, {})


        @query
        def texts(ctx) -> list:
            return [n["text"] for n in ctx.db.query("notes").collect()]


        @query
        def now(ctx) -> float:
            return ctx.now
    """,
    "ticks.py": """
        from livebase import internal_mutation, query


        @internal_mutation
        def tick(ctx) -> None:
            ctx.db.insert("ticks", {"at": ctx.now})


        @query
        def times(ctx) -> list:
            return [t["at"] for t in ctx.db.query("ticks").collect()]
    """,
    "crons.py": """
        from livebase import Crons

        crons = Crons()
        crons.interval("tick", "ticks:tick", minutes=1)
    """,
    "agent.py": """
        from livebase import AppError, action


        @action
        def post(ctx, channel: str, body: str) -> dict:
            before = ctx.run_query("messages:list", {"channel": channel})
            ctx.run_mutation("messages:send", {"channel": channel, "body": body})
            ctx.scheduler.run_after(10, "notes:write", {"text": "posted " + body})
            user = ctx.auth.get_user_identity()
            return {"before": len(before), "user": None if user is None else user.subject}


        @action
        def refuse(ctx, reason: str) -> None:
            raise AppError({"code": "Refused", "reason": reason})
    """,
}


def write_kit_app(root: Path) -> Path:
    """Write the app into ``root/kitapp`` (a folder ``root`` can import it from, as a user's
    tests import their app's modules); returns the app folder."""
    return write_app(root / "kitapp", FILES)
