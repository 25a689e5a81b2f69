"""The owner confirms or corrects a guessed intent; corrections are kept and change the next
guesses of similar work."""

from __future__ import annotations

import pytest

from livebase import AppError
from tests.agentfeed_app.payloads import hook
from tests.agentfeed_pipeline.conftest import Feed
from tests.agentfeed_pipeline.fixture_day import at

SYNC = "/home/u/sync"


def _work(feed: Feed, session: str, start: str, prompt: str) -> dict[str, object]:
    """One prompt and its answer in ``SYNC``; the activity session it ends up in."""
    feed.ingest(hook("UserPromptSubmit", session, cwd=SYNC, ts=at(start), prompt=prompt))
    feed.ingest(hook("Stop", session, cwd=SYNC, ts=at(start) + 60_000))
    feed.enrich()
    latest = feed.sessions()[-1]
    assert latest["started_at"] == at(start)
    return latest


def test_a_correction_changes_a_later_guess(feed: Feed) -> None:
    first = _work(feed, "sync-1", "09:00", "tune the retry backoff for the uploader")
    assert first["guessed_intent"] == "Unclear: tune the retry backoff for the uploader"
    assert first["needs_validation"] is True

    corrected = feed.owner.mutation(
        "activity:correct",
        {"session": first["_id"], "intent": "  Harden uploads against flaky networks "},
    )
    assert corrected["guessed_intent"] == "Harden uploads against flaky networks"
    assert corrected["intent_source"] == "owner" and corrected["confidence"] == 1.0
    assert corrected["needs_validation"] is False
    [kept] = feed.app.table("intent_corrections")
    assert kept["guessed"] == first["guessed_intent"] and "uploader" in kept["keywords"]

    later = _work(feed, "sync-2", "14:00", "the uploader retry backoff needs jitter")
    assert later["heuristic_intent"].startswith("Unclear")  # what it would be without
    assert later["guessed_intent"] == "Harden uploads against flaky networks"
    assert later["intent_source"] == "learned"
    assert later["confidence"] >= 0.5 and later["needs_validation"] is False

    unrelated = _work(feed, "sync-3", "17:00", "rename the settings module")
    assert unrelated["guessed_intent"] == "Refactor: rename the settings module"
    assert unrelated["intent_source"] == "heuristic"


def test_an_owner_validated_intent_stays_when_more_work_comes(feed: Feed) -> None:
    first = _work(feed, "sync-4", "09:00", "hmm go on")
    confirmed = feed.owner.mutation("activity:confirm", {"session": first["_id"]})
    assert confirmed["guessed_intent"] == "Unclear: hmm go on"
    assert confirmed["needs_validation"] is False and confirmed["intent_source"] == "owner"
    feed.ingest(hook("UserPromptSubmit", "sync-4", cwd=SYNC, ts=at("09:05"), prompt="fix the bug"))
    feed.enrich()
    [session] = feed.sessions()
    assert session["prompt_count"] == 2
    assert session["guessed_intent"] == "Unclear: hmm go on"  # the owner's word stands
    assert len(feed.app.table("intent_corrections")) == 1


def test_bad_corrections_are_refused_with_the_reason(feed: Feed) -> None:
    first = _work(feed, "sync-5", "09:00", "hmm go on")
    cases = [
        (feed.owner, {"session": first["_id"], "intent": "   "}, "the intent is empty"),
        (feed.owner, {"session": first["_id"], "intent": "x" * 201}, "at most 200"),
        (feed.owner, {"session": "nope", "intent": "ok"}, "no activity session 'nope'"),
        (feed.app.anonymous, {"session": first["_id"], "intent": "ok"}, "sign in as the owner"),
    ]
    for caller, args, reason in cases:
        with pytest.raises(AppError) as failed:
            caller.mutation("activity:correct", args)
        assert reason in failed.value.data["message"]
    [session] = feed.sessions()
    assert session["intent_source"] == "heuristic" and feed.app.table("intent_corrections") == []


def test_one_shared_word_does_not_reuse_a_correction(feed: Feed) -> None:
    first = _work(feed, "sync-6", "09:00", "hmm continue please")
    feed.owner.mutation("activity:correct", {"session": first["_id"], "intent": "Misc chores"})
    later = _work(feed, "sync-7", "14:00", "continue the parser rewrite")
    assert later["intent_source"] == "heuristic" and later["guessed_intent"] != "Misc chores"
