"""Live queries whose result is one index range are kept current by applying commits to it, and
always answer what running them again would; every other live query still runs again.

A seeded random run of inserts, edits (moving documents within and across ranges and channels),
deletes and multi-document commits is checked after every step: each subscription's value must
equal a fresh run of the same query, and the maintained ones must not have run again at all.
On SQLite and PostgreSQL (the test kit on each backend).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livebase.config import Limits, Settings
from livebase.engine.live_range import MAX_PENDING_WRITES
from livebase.errors import LivebaseError
from livebase.testing.harness import AppHarness, Subscription
from tests.support.postgres import fresh_database_url

APP = Path(__file__).parent / "live_app"

MAINTAINED = {
    "plain": {"channel": "a"},
    "newest_first": {"channel": "a"},
    "between": {"channel": "a", "lo": 10.0, "hi": 60.0},
    "validated": {"channel": "a"},
    "latest": {"channel": "a", "count": 5.0},
    "oldest": {"channel": "a", "count": 5.0},
}
RUN_AGAIN = {
    "short_or_nothing": {"channel": "a"},
    "unless_stopped": {"channel": "a"},
    "filtered": {"channel": "a"},
    "renamed": {"channel": "a"},
    "until": {"channel": "a", "deadline": 0.0},  # set from the fake clock
    "logged": {"channel": "a"},
    "wrapped": {"channel": "a"},
}


@pytest.fixture(params=["sqlite", "postgres"])
def make_app(
    request: pytest.FixtureRequest, make_livebase_app: Callable[..., AppHarness]
) -> Iterator[Callable[..., AppHarness]]:
    if request.param == "sqlite":
        yield lambda **options: make_livebase_app(APP, **options)
        return
    with fresh_database_url("live") as url:
        yield lambda **options: make_livebase_app(APP, db=url, **options)


def runs(h: AppHarness, name: str) -> float:
    return h.deployment.runner.executions.get(f"messages:{name}", "query")


def applied(h: AppHarness) -> float:
    return h.deployment.sync.manager.applied.get()


def check_all(h: AppHarness, subs: dict[str, Subscription], args: dict[str, dict]) -> None:
    for name, sub in subs.items():
        fresh = h.query(f"messages:{name}", args[name])
        assert sub.value == fresh, f"{name} differs from a fresh run"


def test_maintained_ranges_match_a_fresh_run_after_every_commit(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    args = {**MAINTAINED, **RUN_AGAIN}
    args["until"] = {"channel": "a", "deadline": h.now_ms + 3_600_000}
    rng = random.Random(17)
    ids: list[str] = []
    for i in range(12):
        ids.append(h.mutation("messages:send", {"channel": rng.choice("ab"), "body": f"m{i}",
                                                "n": float(rng.randrange(100))}))  # fmt: skip
    subs = {name: h.subscribe(f"messages:{name}", args[name]) for name in args}
    check_all(h, subs, args)
    first_runs = {name: runs(h, name) for name in subs}
    steps = 150
    for step in range(steps):
        op = rng.random()
        if op < 0.35 or len(ids) < 3:
            ids.append(h.mutation("messages:send", {"channel": rng.choice("aab"),
                                                    "body": f"s{step}",
                                                    "n": float(rng.randrange(100))}))  # fmt: skip
        elif op < 0.65:
            fields: dict[str, Any] = {"n": float(rng.randrange(100))}
            if rng.random() < 0.3:
                fields["channel"] = rng.choice("ab")  # moves it to the other range
            if rng.random() < 0.2:
                fields["body"] = "stop" if rng.random() < 0.5 else f"e{step}"
            h.mutation("messages:edit", {"id": rng.choice(ids), "fields": fields})
        elif op < 0.85:
            victim = ids.pop(rng.randrange(len(ids)))
            h.mutation("messages:remove", {"id": victim})
        else:
            h.mutation("messages:send_many", {"channel": "a", "count": 3.0})
        check_all(h, subs, args)
    # Each step ran every query once afresh (check_all); what is left is the subscriptions'.
    again = {name: runs(h, name) - first_runs[name] - steps for name in subs}
    for name in ("plain", "newest_first", "between", "validated"):
        assert again[name] == 0, f"{name} ran again: the commits were not applied to its range"
    for name in ("latest", "oldest"):  # a document leaving the first 5 makes them run again
        assert again[name] < steps / 2, f"{name} ran again {again[name]:.0f} times"
    for name in RUN_AGAIN:
        assert again[name] >= steps / 3, f"{name} was not run again ({again[name]:.0f} times)"
    assert applied(h) >= steps / 2


def test_a_maintained_query_runs_once_and_then_only_applies(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    with h.subscribe("messages:plain", {"channel": "a"}) as sub:
        assert sub.value == []
        for i in range(20):
            h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
            assert [m["body"] for m in sub.value] == [f"m{j}" for j in range(i + 1)]
        assert runs(h, "plain") == 1
        assert applied(h) == 20
        h.mutation("messages:send", {"channel": "b", "body": "elsewhere", "n": 1.0})
        assert sub.reruns == 20  # a write outside the range touches nothing


def test_a_query_that_branches_on_the_documents_is_run_again(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    with h.subscribe("messages:short_or_nothing", {"channel": "a"}) as sub:
        for i in range(2):
            h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
        assert len(sub.value) == 2
        h.mutation("messages:send", {"channel": "a", "body": "third", "n": 3.0})
        assert sub.value == []  # applying the insert would have shown three
    assert applied(h) == 0


def test_a_document_the_returns_validator_rejects_fails_the_query_as_a_run_would(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    with h.subscribe("messages:validated", {"channel": "a"}) as sub:
        h.mutation("messages:send", {"channel": "a", "body": "fits", "n": 1.0})
        assert [m["body"] for m in sub.value] == ["fits"]
        h.mutation("messages:send", {"channel": "a", "body": "no", "n": 2.0, "extra": "x"})
        error = sub.error
        assert isinstance(error, LivebaseError)
        assert error.code == "ReturnsValidationError"
        assert runs(h, "validated") == 2


def test_a_result_past_the_read_limit_fails_as_a_run_would(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app(settings=Settings(action_isolation="thread", limits=Limits(
        max_documents_scanned=5)))  # fmt: skip
    with h.subscribe("messages:plain", {"channel": "a"}) as sub:
        for i in range(5):
            h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
        assert len(sub.value) == 5
        h.mutation("messages:send", {"channel": "a", "body": "one too many", "n": 9.0})
        error = sub.error
        assert isinstance(error, LivebaseError)
        with pytest.raises(LivebaseError) as fresh:
            h.query("messages:plain", {"channel": "a"})
        assert error.code == fresh.value.code == "TooManyDocumentsRead"


def test_a_code_reload_or_env_change_runs_the_query_again(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    with h.subscribe("messages:plain", {"channel": "a"}) as sub:
        h.mutation("messages:send", {"channel": "a", "body": "m", "n": 1.0})
        assert len(sub.value) == 1
        h.deployment.sync.manager.invalidate()
        h.mutation("messages:send", {"channel": "a", "body": "m2", "n": 2.0})
        assert len(sub.value) == 2
        assert runs(h, "plain") == 2  # the invalidation dropped the kept range


def test_the_latest_n_take_in_new_documents_and_run_again_when_one_leaves(
    make_app: Callable[..., AppHarness],
) -> None:
    h = make_app()
    ids = [h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
           for i in range(8)]  # fmt: skip
    with h.subscribe("messages:latest", {"channel": "a", "count": 3.0}) as sub:
        assert [m["body"] for m in sub.value] == ["m7", "m6", "m5"]
        for i in range(8, 14):
            h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
            assert [m["body"] for m in sub.value] == [f"m{i}", f"m{i - 1}", f"m{i - 2}"]
        assert runs(h, "latest") == 1  # six inserts applied, none run
        h.mutation("messages:remove", {"id": ids[7]})  # outside the newest three: no change
        assert [m["body"] for m in sub.value] == ["m13", "m12", "m11"]
        newest = sub.value[0]["_id"]
        h.mutation("messages:remove", {"id": newest})  # which one comes in is unknown here
        assert [m["body"] for m in sub.value] == ["m12", "m11", "m10"]
        assert runs(h, "latest") == 2


class Silent:
    """A subscriber that is told of changes and never asks for them (a client backed up)."""

    def __init__(self) -> None:
        self.told = 0

    def invalidate(self, query_id: int) -> None:
        self.told += 1


def test_a_subscriber_that_does_not_ask_for_long_gets_a_fresh_run(
    make_app: Callable[..., AppHarness],
) -> None:
    """Commits kept for a result nobody asked for are bounded: past MAX_PENDING_WRITES the kept
    range is dropped, and the next ask runs the query."""
    h = make_app()
    manager = h.deployment.sync.manager
    silent = Silent()
    shared = manager.subscribe(silent, 1, "messages:plain", {"channel": "a"}, identity=None,
                               admin=True, journal=None)  # fmt: skip
    assert manager.refresh(shared, inline=True) and shared.live is not None
    for i in range(MAX_PENDING_WRITES):
        h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
    assert len(shared.pending) == MAX_PENDING_WRITES and shared.live is not None
    h.mutation("messages:send", {"channel": "a", "body": "one more", "n": 1.0})
    assert shared.pending == [] and shared.live is None
    assert manager.refresh(shared, inline=True)
    assert shared.result is not None and len(shared.result.value) == MAX_PENDING_WRITES + 1
    assert runs(h, "plain") == 2 and silent.told == MAX_PENDING_WRITES + 1
    manager.unsubscribe(shared, silent, 1)


@pytest.mark.parametrize(
    ("name", "maintained"),
    [
        ("plain", True),
        ("clocked_inside", False),  # ctx.now
        ("lucky_inside", False),  # ctx.random
        ("via_nested_clock", False),
        ("via_nested_random", False),
        ("via_nested_plain", False),  # a nested call's value is a copy: not the range's list
    ],
)
def test_a_query_that_reads_the_clock_or_randomness_is_run_again(
    make_app: Callable[..., AppHarness], name: str, maintained: bool
) -> None:
    """``ctx.now`` and ``ctx.random``, in the query or in a query it calls, make its result
    depend on when it runs: it is never maintained, only run again."""
    h = make_app()
    args: dict[str, Any] = {"channel": "a"}
    if name in ("via_nested_clock", "clocked_inside"):
        args["deadline"] = h.now_ms + 3_600_000
    with h.subscribe(f"messages:{name}", args) as sub:
        for i in range(3):
            h.mutation("messages:send", {"channel": "a", "body": f"m{i}", "n": float(i)})
            assert len(sub.value) == i + 1
    assert applied(h) == (3 if maintained else 0)
    assert runs(h, name) == (1 if maintained else 4)
