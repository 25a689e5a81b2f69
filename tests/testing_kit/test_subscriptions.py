"""Live queries through the kit: the current value, its change after a commit that touches what
the query read, and no re-run for a write it did not read."""

from __future__ import annotations

import pytest

from livebase import AppError
from livebase.errors import FunctionNotFoundError
from livebase.testing import AppHarness


def test_a_subscription_follows_mutations(livebase_app: AppHarness) -> None:
    t = livebase_app
    sub = t.subscribe("messages:list", {"channel": "general"})
    assert sub.value == []
    t.mutation("messages:send", {"channel": "general", "body": "hi"})
    assert sub.value == ["hi"]
    t.as_user("alice").mutation("messages:send", {"channel": "general", "body": "hello"})
    assert sub.value == ["hi", "hello"]
    assert sub.history == [[], ["hi"], ["hi", "hello"]]
    assert sub.reruns == 2


def test_an_unrelated_write_runs_nothing_again(livebase_app: AppHarness) -> None:
    t = livebase_app
    sub = t.subscribe("messages:list", {"channel": "general"})
    t.mutation("messages:send", {"channel": "random", "body": "elsewhere"})
    t.run(lambda ctx: ctx.db.insert("notes", {"text": "n", "at": 0.0}))
    assert sub.reruns == 0 and sub.history == [[]]


def test_scheduled_functions_and_actions_update_subscriptions(livebase_app: AppHarness) -> None:
    t = livebase_app
    notes = t.subscribe("notes:texts")
    messages = t.subscribe("messages:list", {"channel": "c"})
    t.mutation("notes:remind", {"text": "later", "seconds": 60})
    assert notes.value == []
    t.advance(minutes=1)
    assert notes.value == ["later"]
    t.action("agent:post", {"channel": "c", "body": "from an action"})
    assert messages.value == ["from an action"]


def test_subscriptions_per_identity(livebase_app: AppHarness) -> None:
    t = livebase_app
    alice = t.as_user("alice", name="Alice")
    mine = alice.subscribe("messages:mine")
    anonymous = t.anonymous.subscribe("messages:mine")
    with pytest.raises(AppError) as refused:
        _ = anonymous.value
    assert refused.value.data == {"code": "NotSignedIn"}
    assert isinstance(anonymous.error, AppError)
    alice.mutation("messages:send", {"channel": "c", "body": "mine"})
    t.as_user("bob").mutation("messages:send", {"channel": "c", "body": "bob's"})
    assert mine.value == ["mine"] and mine.error is None
    with pytest.raises(FunctionNotFoundError):
        t.anonymous.subscribe("messages:count")  # internal
    assert t.subscribe("messages:count").value == 2  # the admin may


def test_a_closed_subscription_stops(livebase_app: AppHarness) -> None:
    t = livebase_app
    with t.subscribe("messages:list", {"channel": "c"}) as sub:
        t.mutation("messages:send", {"channel": "c", "body": "one"})
    t.mutation("messages:send", {"channel": "c", "body": "two"})
    assert sub.history == [[], ["one"]] and sub.closed
    with pytest.raises(RuntimeError, match="closed"):
        _ = sub.value
    assert t.deployment.sync.manager.subscriptions == 0
