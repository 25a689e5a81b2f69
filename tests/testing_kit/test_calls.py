"""Calling an app's functions through the kit: by path and by reference, as the admin,
anonymously and as a user; errors raise what a client would see; actions run in-process."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from livebase import AppError
from livebase.errors import FunctionNotFoundError, ValidationError
from livebase.testing import AppHarness


def test_mutation_then_query_by_path(livebase_app: AppHarness) -> None:
    t = livebase_app
    doc_id = t.mutation("messages:send", {"channel": "general", "body": "hi"})
    assert isinstance(doc_id, str)
    t.mutation("messages.js:send", {"channel": "general", "body": "there"})  # as clients send it
    t.mutation("messages:send", {"channel": "other", "body": "elsewhere"})
    assert t.query("messages:list", {"channel": "general"}) == ["hi", "there"]
    assert t.logs == ["[LOG] sending to general"] * 2 + ["[LOG] sending to other"]


def test_by_reference(livebase_app: AppHarness, app_module: Callable[[str], ModuleType]) -> None:
    messages = app_module("messages")  # the test's own import of the app's module
    t = livebase_app
    t.mutation(messages.send, {"channel": "c", "body": "by reference"})
    assert t.query(messages.list, {"channel": "c"}) == ["by reference"]
    assert t.path_of(messages.list) == "messages:list"
    loaded = t.deployment.app.functions["messages:count"]  # the harness's own copy works too
    assert t.query(loaded) == 1


def test_a_function_of_another_module_is_refused(livebase_app: AppHarness) -> None:
    from livebase import query

    @query
    def elsewhere(ctx: object) -> None: ...

    with pytest.raises(LookupError, match="elsewhere is not a function of the app"):
        livebase_app.query(elsewhere)
    with pytest.raises(TypeError, match="by path"):
        livebase_app.query(print)  # type: ignore[arg-type]


def test_identities(livebase_app: AppHarness) -> None:
    t = livebase_app
    alice = t.as_user("alice", name="Alice", email="alice@example.com")
    bob = t.as_user("bob", issuer="https://issuer.example.com")
    alice.mutation("messages:send", {"channel": "c", "body": "from alice"})
    bob.mutation("messages:send", {"channel": "c", "body": "from bob"})
    t.anonymous.mutation("messages:send", {"channel": "c", "body": "from nobody"})

    assert alice.query("messages:mine") == ["from alice"]
    assert bob.query("messages:mine") == ["from bob"]
    who = alice.query("messages:whoami")
    assert who["subject"] == "alice" and who["name"] == "Alice"
    assert who["tokenIdentifier"] == f"{who['issuer']}|alice"
    assert bob.query("messages:whoami")["tokenIdentifier"] == "https://issuer.example.com|bob"
    assert t.anonymous.query("messages:whoami") is None
    assert t.query("messages:whoami") is None  # the admin, as itself

    with pytest.raises(AppError) as refused:
        t.anonymous.query("messages:mine")
    assert refused.value.data == {"code": "NotSignedIn"}


def test_internal_functions_are_the_admins_only(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("messages:send", {"channel": "c", "body": "x"})
    assert t.query("messages:count") == 1
    for client in (t.anonymous, t.as_user("alice")):
        with pytest.raises(FunctionNotFoundError, match="messages:count"):
            client.query("messages:count")


def test_errors_raise_as_clients_see_them(livebase_app: AppHarness) -> None:
    t = livebase_app
    with pytest.raises(AppError) as empty:
        t.mutation("messages:send", {"channel": "general", "body": "  "})
    assert empty.value.data == {"code": "EmptyMessage", "channel": "general"}
    with pytest.raises(ValidationError, match="invalid arguments for messages:send"):
        t.mutation("messages:send", {"channel": 1, "body": "x"})
    with pytest.raises(FunctionNotFoundError, match="messages:nope"):
        t.query("messages:nope")
    with pytest.raises(FunctionNotFoundError, match="is a mutation, not a query"):
        t.query("messages:send", {"channel": "c", "body": "x"})
    with pytest.raises(ValueError, match="a bug in the app"):
        t.query("messages:broken")
    assert t.table("messages") == []  # the failed mutation wrote nothing


def test_actions_run_in_process(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("messages:send", {"channel": "c", "body": "first"})
    result = t.as_user("alice").action("agent:post", {"channel": "c", "body": "from an action"})
    assert result == {"before": 1, "user": "alice"}
    assert t.query("messages:list", {"channel": "c"}) == ["first", "from an action"]
    assert [job["name"] for job in t.scheduled(state="pending")] == ["notes:write"]
    with pytest.raises(AppError) as refused:
        t.action("agent:refuse", {"reason": "no"})
    assert refused.value.data == {"code": "Refused", "reason": "no"}


def test_run_and_table(livebase_app: AppHarness) -> None:
    t = livebase_app
    seeded = t.run(lambda ctx: ctx.db.insert("messages", {"channel": "c", "body": "seeded"}))
    assert t.query("messages:list", {"channel": "c"}) == ["seeded"]
    (doc,) = t.table("messages")
    assert doc["_id"] == seeded and doc["body"] == "seeded"
    doc["body"] = "changed by the test"  # a copy: the database is not affected
    assert t.run(lambda ctx: ctx.db.get(seeded))["body"] == "seeded"
    listed = t.run(lambda ctx: ctx.run_query("messages:list", {"channel": "c"}))
    assert listed == ["seeded"]  # functions can be called from ``run`` too


def test_results_are_copies(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("messages:send", {"channel": "c", "body": "x"})
    first = t.query("messages:list", {"channel": "c"})
    first.append("mutated")
    assert t.query("messages:list", {"channel": "c"}) == ["x"]


def test_several_apps_in_one_test(
    make_livebase_app: Callable[..., AppHarness], livebase_app_dir: object
) -> None:
    one = make_livebase_app(livebase_app_dir)
    two = make_livebase_app(livebase_app_dir, start_ms=1_000)
    one.mutation("messages:send", {"channel": "c", "body": "only in one"})
    assert two.query("messages:list", {"channel": "c"}) == []
    assert two.query("notes:now") == 1_000
    assert one.deployment.app.package != two.deployment.app.package


def test_closed_harness_refuses_calls(
    make_livebase_app: Callable[..., AppHarness], livebase_app_dir: object
) -> None:
    t = make_livebase_app(livebase_app_dir)
    with t:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        t.query("messages:list", {"channel": "c"})
    t.close()  # closing twice is fine (the fixture closes it again)
