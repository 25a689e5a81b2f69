"""``ctx.run_query`` / ``ctx.run_mutation`` inside queries and mutations (issue 13).

A nested query runs in the caller's transaction and sees its writes; a nested mutation is a
sub-transaction: on success its writes commit with the caller's, on failure all it did
(documents inserted, patched, deleted, jobs scheduled, trigger effects) is undone while the
caller's own writes stay. Every test runs on SQLite and on PostgreSQL (savepoints nest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from livebase.engine.database import Commit
from livebase.errors import (
    AppError,
    FunctionNotFoundError,
    InvalidValueError,
    LimitExceededError,
    ReadOnlyError,
)
from livebase.functions.nested import MAX_CALL_DEPTH
from tests.scheduler.conftest import Live, _deployments

APP: dict[str, str] = {
    "calls.py": """
        from livebase import (
            AppError, internal_mutation, internal_query, mutation, query, trigger,
        )


        @trigger("items")
        def audit(ctx, change):
            ctx.db.insert("audit", {"op": change.operation, "id": change.id})


        @query
        def names(ctx) -> list:
            return sorted(d["name"] for d in ctx.db.query("items").collect())


        @internal_query
        def count(ctx, table: str) -> int:
            return len(ctx.db.query(table).collect())


        @mutation
        def add(ctx, name: str) -> str:
            return ctx.db.insert("items", {"name": name})


        @mutation
        def add_then_look(ctx, name: str) -> dict:
            ctx.db.insert("items", {"name": name})
            return {
                "names": ctx.run_query("calls:names"),
                "count": ctx.run_query(count, {"table": "items"}),
            }


        @mutation
        def add_two(ctx) -> list:
            first = ctx.run_mutation("calls:add", {"name": "one"})
            second = ctx.run_mutation(add, {"name": "two"})
            return [first, second, ctx.run_query(names)]


        @internal_mutation
        def doomed(ctx, patched: str, victim: str) -> None:
            ctx.db.insert("items", {"name": "doomed"})
            ctx.db.patch(patched, {"name": "changed"})
            ctx.db.delete(victim)
            ctx.db.insert("newtable", {"x": 1})
            ctx.scheduler.run_after(0, "calls:add", {"name": "scheduled"})
            raise AppError({"why": "doomed", "seen": ctx.run_query(names)})


        @mutation
        def caller(ctx, patched: str, victim: str) -> dict:
            ctx.db.insert("items", {"name": "before"})
            try:
                ctx.run_mutation(doomed, {"patched": patched, "victim": victim})
            except AppError as exc:
                ctx.db.insert("failures", {"why": exc.data["why"]})
                ctx.scheduler.run_after(60, "calls:add", {"name": "retry"})
                seen = exc.data["seen"]
            ctx.db.insert("items", {"name": "after"})
            return {"seen": seen, "now": ctx.run_query(names)}


        @mutation
        def uncaught(ctx) -> None:
            ctx.db.insert("items", {"name": "outer"})
            ctx.run_mutation("calls:boom")


        @mutation
        def boom(ctx) -> None:
            ctx.db.insert("items", {"name": "boom"})
            raise ValueError("boom")


        @mutation
        def level(ctx, n: int) -> list:
            ctx.db.insert("items", {"name": f"level{n}"})
            if n == 0:
                return [ctx.run_query(names)]
            return [n, *ctx.run_mutation(level, {"n": n - 1})]


        @mutation
        def dive(ctx, n: int) -> int:
            return 0 if n == 0 else 1 + ctx.run_mutation(dive, {"n": n - 1})


        @query
        def qdive(ctx, n: int) -> int:
            return 0 if n == 0 else 1 + ctx.run_query(qdive, {"n": n - 1})


        @mutation
        def mismatch(ctx, how: str) -> None:
            if how == "path":
                ctx.run_mutation("calls:names")
            elif how == "object":
                ctx.run_mutation(names)
            elif how == "query_object":
                ctx.run_query(add, {"name": "x"})
            elif how == "bad_args":
                ctx.run_mutation(add, {"name": 5})
            else:
                ctx.run_mutation("calls:nonexistent")


        @query
        def query_runs_mutation(ctx) -> None:
            ctx.run_mutation(add, {"name": "x"})


        @query
        def whoami(ctx) -> str | None:
            me = ctx.auth.get_user_identity()
            return None if me is None else me.subject


        @query
        def whoami_via(ctx) -> str | None:
            return ctx.run_query(whoami)


        @query
        def plain_via(ctx) -> list:
            return ctx.run_query(names)


        @mutation
        def who_via(ctx) -> list:
            return [ctx.run_query(whoami), ctx.run_mutation(who_in_mutation)]


        @internal_mutation
        def who_in_mutation(ctx) -> str | None:
            return ctx.run_query(whoami)


        @mutation
        def mutate_arg(ctx) -> dict:
            sent = {"tags": ["a"]}
            got = ctx.run_mutation(keep, {"value": sent})
            got["tags"].append("caller")
            return {"sent": sent, "again": ctx.run_query(stored)}


        @internal_mutation
        def keep(ctx, value: dict) -> dict:
            value["tags"].append("callee")
            ctx.db.insert("kept", {"value": value})
            return value


        @internal_query
        def stored(ctx) -> dict:
            return ctx.db.query("kept").first()["value"]
    """,
}


@pytest.fixture(params=["sqlite", "postgres"])
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Live]]:
    with ExitStack() as stack:
        yield from _deployments(request.param, tmp_path, stack)


def _names(live: Live, table: str = "items") -> list[str]:
    return sorted(d["name"] for d in live.table(table))


def _fails(live: Live, path: str, args: dict[str, Any] | None = None) -> BaseException:
    result = asyncio.run(live.deployment.runner.run_mutation(path, args or {}, admin=True))
    assert result.error is not None, result.value
    return result.error


def test_a_nested_query_sees_the_callers_writes(deploy: Any) -> None:
    live: Live = deploy(APP)
    asyncio.run(live.mutation("calls:add", {"name": "old"}))
    out = asyncio.run(live.mutation("calls:add_then_look", {"name": "new"}))
    assert out == {"names": ["new", "old"], "count": 2}


def test_nested_mutations_commit_with_the_caller_in_one_commit(deploy: Any) -> None:
    live: Live = deploy(APP)
    commits: list[Commit] = []
    live.deployment.engine.add_commit_listener(commits.extend)
    first, second, names = asyncio.run(live.mutation("calls:add_two"))
    assert names == ["one", "two"] and first != second
    assert _names(live) == ["one", "two"]
    assert len(commits) == 1  # one transaction: subscribers see both writes at once
    assert [w.table for w in commits[0].writes] == ["items", "audit", "items", "audit"]


def test_a_failing_sub_mutation_is_rolled_back_and_the_caller_goes_on(deploy: Any) -> None:
    live: Live = deploy(APP)
    patched = asyncio.run(live.mutation("calls:add", {"name": "keep-me"}))
    victim = asyncio.run(live.mutation("calls:add", {"name": "victim"}))
    audit_before = len(live.table("audit"))
    commits: list[Commit] = []
    live.deployment.engine.add_commit_listener(commits.extend)

    out = asyncio.run(live.mutation("calls:caller", {"patched": patched, "victim": victim}))

    # Inside the sub-mutation its own writes were visible...
    assert out["seen"] == ["before", "changed", "doomed"]
    # ...and after it failed none of them are: the patch, the delete, the insert are undone.
    assert out["now"] == ["after", "before", "keep-me", "victim"]
    assert _names(live) == ["after", "before", "keep-me", "victim"]
    assert [d["why"] for d in live.table("failures")] == ["doomed"]
    assert live.table("newtable") == []
    # Its scheduled job is gone; the caller's own (the retry) stays.
    assert [j["args"][0]["name"] for j in live.jobs()] == ["retry"]
    # Trigger effects of its writes are gone too: only the caller's two inserts were audited.
    assert len(live.table("audit")) == audit_before + 2
    assert len(commits) == 1
    written = {w.table for w in commits[0].writes}
    assert "newtable" not in written and written >= {"items", "failures", "audit"}


def test_an_uncaught_sub_mutation_error_fails_the_whole_mutation(deploy: Any) -> None:
    live: Live = deploy(APP)
    error = _fails(live, "calls:uncaught")
    assert isinstance(error, ValueError) and str(error) == "boom"
    assert live.table("items") == []


def test_calls_nest_three_levels(deploy: Any) -> None:
    live: Live = deploy(APP)
    out = asyncio.run(live.mutation("calls:level", {"n": 2}))
    assert out == [2, 1, ["level0", "level1", "level2"]]
    assert _names(live) == ["level0", "level1", "level2"]


def test_calls_nest_at_most_the_limit(deploy: Any) -> None:
    live: Live = deploy(APP)
    assert MAX_CALL_DEPTH == 8
    assert asyncio.run(live.mutation("calls:dive", {"n": MAX_CALL_DEPTH})) == MAX_CALL_DEPTH
    error = _fails(live, "calls:dive", {"n": MAX_CALL_DEPTH + 1})
    assert isinstance(error, LimitExceededError) and error.code == "CallDepthExceeded"
    assert "8 deep" in error.message
    assert live.query("calls:qdive", {"n": MAX_CALL_DEPTH}) == MAX_CALL_DEPTH
    with pytest.raises(LimitExceededError, match="nest more than 8"):
        live.query("calls:qdive", {"n": MAX_CALL_DEPTH + 1})


def test_kind_mismatches_and_bad_calls_are_clear_errors(deploy: Any) -> None:
    live: Live = deploy(APP)
    error = _fails(live, "calls:mismatch", {"how": "path"})
    assert isinstance(error, FunctionNotFoundError)
    assert "'calls:names' is a query, not a mutation" in error.message
    error = _fails(live, "calls:mismatch", {"how": "object"})
    assert isinstance(error, InvalidValueError)
    assert "ctx.run_mutation: calls:names is a query, not a mutation" in error.message
    error = _fails(live, "calls:mismatch", {"how": "query_object"})
    assert isinstance(error, InvalidValueError) and "add is a mutation, not a query" in str(error)
    error = _fails(live, "calls:mismatch", {"how": "bad_args"})
    assert getattr(error, "code", None) == "ArgumentValidationError"
    error = _fails(live, "calls:mismatch", {"how": "missing"})
    assert isinstance(error, FunctionNotFoundError)
    with pytest.raises(ReadOnlyError, match="a query cannot run a mutation"):
        live.query("calls:query_runs_mutation")


def test_the_identity_carries_into_nested_calls(deploy: Any) -> None:
    live: Live = deploy(APP)
    identity = {"subject": "user-7", "issuer": "https://issuer.test", "tokenIdentifier": "t|7"}
    runner = live.deployment.runner
    result = asyncio.run(runner.run_mutation("calls:who_via", {}, identity=identity))
    assert result.value == ["user-7", "user-7"], result.error
    anonymous = asyncio.run(runner.run_mutation("calls:who_via", {}))
    assert anonymous.value == [None, None]
    # A query that asks only through a nested query still counts as reading the identity.
    via = runner.run_query("calls:whoami_via", {}, identity=identity)
    assert via.value == "user-7" and via.reads_identity
    assert not runner.run_query("calls:plain_via", {}).reads_identity


def test_values_are_copied_across_the_call(deploy: Any) -> None:
    live: Live = deploy(APP)
    out = asyncio.run(live.mutation("calls:mutate_arg"))
    assert out == {"sent": {"tags": ["a"]}, "again": {"tags": ["a", "callee"]}}


def test_app_errors_keep_their_data_across_the_call(deploy: Any) -> None:
    live: Live = deploy(APP)
    patched = asyncio.run(live.mutation("calls:add", {"name": "p"}))
    victim = asyncio.run(live.mutation("calls:add", {"name": "v"}))
    error = _fails(live, "calls:doomed", {"patched": patched, "victim": victim})
    assert isinstance(error, AppError) and error.data["why"] == "doomed"


def test_sub_transactions_nest_inside_a_batchs_savepoints(deploy: Any) -> None:
    """Mutations queued together commit in one storage transaction, each in a savepoint; a
    sub-mutation's savepoint nests inside it, and a failure rolls back only its own level."""
    live: Live = deploy(APP)
    patched = asyncio.run(live.mutation("calls:add", {"name": "p"}))
    victim = asyncio.run(live.mutation("calls:add", {"name": "v"}))
    runner = live.deployment.runner

    async def together() -> list[Any]:
        calls = [
            runner.run_mutation("calls:add", {"name": "first"}),
            runner.run_mutation("calls:caller", {"patched": patched, "victim": victim}),
            runner.run_mutation("calls:uncaught", {}),
            runner.run_mutation("calls:level", {"n": 1}),
        ]
        return [r.error if r.error else r.value for r in await asyncio.gather(*calls)]

    first, caught, uncaught, nested = asyncio.run(together())
    assert isinstance(first, str) and isinstance(uncaught, ValueError)
    assert caught["now"] == ["after", "before", "first", "p", "v"]
    assert nested == [1, ["after", "before", "first", "level0", "level1", "p", "v"]]
    assert _names(live) == ["after", "before", "first", "level0", "level1", "p", "v"]


def test_a_nested_querys_reads_count_as_the_callers(deploy: Any) -> None:
    """A subscription to a query that reads only through ``ctx.run_query`` is invalidated by a
    write to what the nested query read."""
    live: Live = deploy(APP)
    asyncio.run(live.mutation("calls:add", {"name": "w"}))
    result = live.deployment.runner.run_query("calls:plain_via", {})
    assert result.value == ["w"] and result.read_set is not None
    commits: list[Commit] = []
    live.deployment.engine.add_commit_listener(commits.extend)
    asyncio.run(live.mutation("calls:add", {"name": "x"}))
    (write,) = [w for c in commits for w in c.writes if w.table == "items"]
    assert any(result.read_set.overlaps(i, k) for i, k in write.new_keys.items())
