"""Triggers run inside the transaction of every write to their table, from any source."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livebase.errors import LivebaseError
from tests.scheduler.conftest import Live

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "messages": define_table({"channel": v.string(), "body": v.string()}),
            "counts": define_table({"channel": v.string(), "n": v.int64()}).index(
                "by_channel", ["channel"]),
            "audit": define_table({"op": v.string(), "doc": v.string(),
                                   "old": v.optional(v.any()), "new": v.optional(v.any())}),
        })
    """,
    "messages.py": """
        from livebase import AppError, internal_mutation, mutation, query, trigger


        @trigger("messages")
        def keep_count(ctx, change):
            doc = change.new_doc or change.old_doc
            row = ctx.db.query("counts").with_index(
                "by_channel", lambda q: q.eq("channel", doc["channel"])).unique()
            delta = {"insert": 1, "delete": -1}.get(change.operation, 0)
            if row is None:
                ctx.db.insert("counts", {"channel": doc["channel"], "n": delta})
            else:
                ctx.db.patch(row["_id"], {"n": row["n"] + delta})
            if doc["body"] == "explode":
                raise AppError("no exploding messages")


        @trigger("messages")
        def audit(ctx, change):
            ctx.db.insert("audit", {"op": change.operation, "doc": change.id,
                                    "old": change.old_doc, "new": change.new_doc})


        @mutation
        def send(ctx, channel: str, body: str) -> str:
            return ctx.db.insert("messages", {"channel": channel, "body": body})


        @mutation
        def edit(ctx, id: str, body: str) -> None:
            ctx.db.patch(id, {"body": body})


        @mutation
        def remove(ctx, id: str) -> None:
            ctx.db.delete(id)


        @mutation
        def send_later(ctx, channel: str, body: str) -> str:
            return ctx.scheduler.run_after(5, "messages:send", {"channel": channel, "body": body})


        @query
        def count(ctx, channel: str) -> int:
            row = ctx.db.query("counts").with_index(
                "by_channel", lambda q: q.eq("channel", channel)).unique()
            return 0 if row is None else row["n"]
    """,
}


def test_trigger_sees_every_operation_in_the_same_transaction(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        a = await live.mutation("messages:send", {"channel": "c", "body": "one"})
        await live.mutation("messages:send", {"channel": "c", "body": "two"})
        await live.mutation("messages:edit", {"id": a, "body": "uno"})
        await live.mutation("messages:remove", {"id": a})
        assert live.query("messages:count", {"channel": "c"}) == 1
        audit = [(x["op"], x["doc"]) for x in live.table("audit")]
        assert [op for op, _ in audit] == ["insert", "insert", "update", "delete"]
        assert audit[0][1] == a and audit[2][1] == a and audit[3][1] == a
        rows = live.table("audit")
        assert rows[2]["old"]["body"] == "one" and rows[2]["new"]["body"] == "uno"
        assert rows[3]["new"] is None and rows[3]["old"]["body"] == "uno"
        assert rows[0]["old"] is None and rows[0]["new"]["_id"] == a

    asyncio.run(main())


def test_an_exception_in_a_trigger_aborts_the_write(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        await live.mutation("messages:send", {"channel": "c", "body": "fine"})
        with pytest.raises(Exception, match="no exploding messages"):
            await live.mutation("messages:send", {"channel": "c", "body": "explode"})
        assert [m["body"] for m in live.table("messages")] == ["fine"]
        assert live.query("messages:count", {"channel": "c"}) == 1
        assert len(live.table("audit")) == 1

    asyncio.run(main())


def test_triggers_fire_for_scheduled_writes(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        await live.mutation("messages:send_later", {"channel": "s", "body": "later"})
        assert live.query("messages:count", {"channel": "s"}) == 0
        await live.advance(5)
        assert live.query("messages:count", {"channel": "s"}) == 1
        assert [x["op"] for x in live.table("audit")] == ["insert"]

    asyncio.run(main())


def test_triggers_fire_for_imported_documents(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        docs = [{"channel": "imp", "body": f"m{i}"} for i in range(25)]
        n = await live.deployment.import_documents("messages", docs)
        assert n == 25
        assert live.query("messages:count", {"channel": "imp"}) == 25
        assert len(live.table("audit")) == 25
        bad = [{"channel": "imp", "body": "ok"}, {"channel": "imp", "body": "explode"}]
        with pytest.raises(Exception, match="no exploding messages"):
            await live.deployment.import_documents("messages", bad)
        assert live.query("messages:count", {"channel": "imp"}) == 25  # nothing half-imported

    asyncio.run(main())


LOOP_APP = {
    "loop.py": """
        from livebase import mutation, trigger


        @trigger("a")
        def a_writes_b(ctx, change):
            if change.operation == "insert":
                ctx.db.insert("b", {"from": change.id})


        @trigger("b")
        def b_writes_a(ctx, change):
            ctx.db.insert("a", {"echo": True})


        @trigger("selfish")
        def writes_itself(ctx, change):
            ctx.db.patch(change.id, {"touched": True})


        @mutation
        def start(ctx) -> str:
            return ctx.db.insert("a", {"x": 1})


        @mutation
        def selfish(ctx) -> str:
            return ctx.db.insert("selfish", {"x": 1})
    """,
}


def test_trigger_loops_fail_with_a_clear_error(deploy: Any) -> None:
    live: Live = deploy(LOOP_APP)

    async def main() -> None:
        with pytest.raises(LivebaseError, match=r"trigger loop.*a -> b -> a") as err:
            await live.mutation("loop:start")
        assert err.value.code == "TriggerLoop"
        with pytest.raises(LivebaseError, match=r"selfish -> selfish"):
            await live.mutation("loop:selfish")
        assert live.table("a") == [] and live.table("b") == [] and live.table("selfish") == []

    asyncio.run(main())


def test_app_code_cannot_write_system_tables(deploy: Any) -> None:
    files = {
        "bad.py": """
            from livebase import mutation

            @mutation
            def forge(ctx) -> None:
                ctx.db.insert("_scheduled_functions", {"name": "x"})

            @mutation
            def tamper(ctx, id: str) -> None:
                ctx.db.patch(id, {"state": {"kind": "success"}})

            @mutation
            def later(ctx) -> str:
                return ctx.scheduler.run_after(60, "bad:forge", {})
        """,
    }
    live: Live = deploy(files)

    async def main() -> None:
        with pytest.raises(LivebaseError, match="_scheduled_functions is a system table"):
            await live.mutation("bad:forge")
        job = await live.mutation("bad:later")
        with pytest.raises(LivebaseError, match="system table") as err:
            await live.mutation("bad:tamper", {"id": job})
        assert err.value.code == "SystemTableWrite"

    asyncio.run(main())
