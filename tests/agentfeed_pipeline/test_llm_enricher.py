"""The optional LLM enricher, in an action, against a local server speaking the Anthropic
Messages API or OpenAI chat completions: the guess it stores, its retries, its time and token
budgets, and the fall back to the heuristic when anything goes wrong."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agentfeed.serving import wait_for
from tests.agentfeed_app.conftest import APP, Agentfeed, launch
from tests.agentfeed_app.payloads import hook, now_ms
from tests.agentfeed_pipeline.conftest import START_MS, Feed
from tests.agentfeed_pipeline.fake_llm import ANSWER, KEY, FakeLlm, serve

PROMPT = "fix the checkout total for discounted carts"
HEURISTIC = "Fix a bug: fix the checkout total for discounted carts"


@pytest.fixture(params=["anthropic", "openai"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeLlm]:
    with serve(FakeLlm(request.param)) as running:
        yield running


def _feed(make_livebase_app: Any, fake: FakeLlm, **settings: str) -> Feed:
    env = {
        "AGENTFEED_LLM_PROVIDER": fake.provider,
        "AGENTFEED_LLM_URL": fake.url,
        "AGENTFEED_LLM_API_KEY": KEY,
        "AGENTFEED_LLM_MODEL": "test-model",
        "AGENTFEED_LLM_RETRIES": "2",
        **{f"AGENTFEED_LLM_{k.upper()}": v for k, v in settings.items()},
    }
    app = make_livebase_app(APP, start_ms=START_MS, env=env)
    return Feed(app, app.as_user("owner"))


def _one_session(feed: Feed) -> dict[str, Any]:
    feed.ingest(hook("UserPromptSubmit", "llm-1", cwd="/home/u/shop", ts=START_MS, prompt=PROMPT))
    feed.ingest(hook("Stop", "llm-1", cwd="/home/u/shop", ts=START_MS + 1000))
    feed.enrich()
    [session] = feed.sessions()
    return session


def test_the_model_guesses_the_intent(make_livebase_app: Any, fake: FakeLlm) -> None:
    feed = _feed(make_livebase_app, fake)
    session = _one_session(feed)
    assert session["guessed_intent"] == ANSWER["intent"]
    assert session["confidence"] == ANSWER["confidence"]
    assert session["intent_source"] == "llm" and session["needs_validation"] is False
    assert session["heuristic_intent"] == HEURISTIC
    assert session["llm_note"] == "guessed by test-model (attempts: 1)"
    [sent] = fake.requests
    assert sent["body"]["model"] == "test-model" and sent["body"]["max_tokens"] == 300
    user_text = sent["body"]["messages"][-1]["content"]
    assert f"Prompt 1: {PROMPT}" in user_text and HEURISTIC in user_text
    [usage] = feed.app.table("llm_usage")
    assert (usage["requests"], usage["input_tokens"], usage["output_tokens"]) == (1, 120, 30)


def test_overloaded_answers_are_retried(make_livebase_app: Any, fake: FakeLlm) -> None:
    fake.failures = [529 if fake.provider == "anthropic" else 503, 500]
    feed = _feed(make_livebase_app, fake)
    session = _one_session(feed)
    assert len(fake.requests) == 3
    assert session["guessed_intent"] == ANSWER["intent"]
    assert session["llm_note"] == "guessed by test-model (attempts: 3)"


def test_failures_fall_back_to_the_heuristic(make_livebase_app: Any, fake: FakeLlm) -> None:
    fake.failures = [500] * 10
    feed = _feed(make_livebase_app, fake, retries="1")
    session = _one_session(feed)
    assert len(fake.requests) == 2
    assert session["guessed_intent"] == HEURISTIC and session["intent_source"] == "heuristic"
    assert session["llm_note"].startswith("LLM failed: HTTP 500: ")
    assert session["llm_note"].endswith("the heuristic's guess is kept")


def test_a_wrong_key_is_not_retried(make_livebase_app: Any, fake: FakeLlm) -> None:
    feed = _feed(make_livebase_app, fake, api_key="sk-wrong")
    session = _one_session(feed)
    assert len(fake.requests) == 1
    assert session["llm_note"].startswith("LLM failed: HTTP 401: ")
    assert session["guessed_intent"] == HEURISTIC


def test_an_answer_that_is_not_the_json_asked_for(make_livebase_app: Any, fake: FakeLlm) -> None:
    fake.answer_text = "I think they were fixing checkout."
    feed = _feed(make_livebase_app, fake, retries="0")
    session = _one_session(feed)
    assert "the answer holds no JSON object" in session["llm_note"]
    assert session["guessed_intent"] == HEURISTIC


def test_the_time_budget_bounds_a_guess(make_livebase_app: Any, fake: FakeLlm) -> None:
    fake.delay = 3.0
    feed = _feed(make_livebase_app, fake, timeout_seconds="0.5")
    started = time.monotonic()
    session = _one_session(feed)
    assert time.monotonic() - started < 2.5
    assert session["llm_note"].startswith("LLM failed: no answer from ")
    assert session["guessed_intent"] == HEURISTIC


def test_the_daily_token_budget(make_livebase_app: Any, fake: FakeLlm) -> None:
    feed = _feed(make_livebase_app, fake, daily_tokens="100")
    session = _one_session(feed)
    assert fake.requests == []
    assert "the day's token budget (100) is spent" in session["llm_note"]
    assert session["guessed_intent"] == HEURISTIC


def test_wrong_settings_are_named(make_livebase_app: Any, fake: FakeLlm) -> None:
    feed = _feed(make_livebase_app, fake, provider="gemini")
    session = _one_session(feed)
    assert fake.requests == []
    assert (
        "AGENTFEED_LLM_PROVIDER='gemini': expected one of anthropic, openai"
        in (session["llm_note"])
    )
    assert session["guessed_intent"] == HEURISTIC


def test_a_served_app_reads_the_settings_from_its_environment(tmp_path: Path) -> None:
    """``livebase serve`` with ``AGENTFEED_LLM_*`` in the process environment (actions in the
    server's own workers), events posted over HTTP."""
    with serve(FakeLlm("openai")) as fake:
        settings = {
            "AGENTFEED_LLM_PROVIDER": "openai",
            "AGENTFEED_LLM_URL": fake.url,
            "AGENTFEED_LLM_API_KEY": KEY,
            "AGENTFEED_LLM_MODEL": "served-model",
        }
        with launch(tmp_path, **settings) as server:
            feed = Agentfeed(server)
            now = now_ms()
            feed.post(hook("UserPromptSubmit", "served", cwd="/home/u/shop", ts=now, prompt=PROMPT))
            feed.post(hook("Stop", "served", cwd="/home/u/shop", ts=now + 1))

            def guessed() -> dict[str, Any] | None:
                found = feed.query("activity:sessions", {})["sessions"]
                done = [s for s in found if s.get("llm_note")]
                return done[0] if done else None

            session = wait_for(guessed, "the LLM's guess")
    assert session["guessed_intent"] == ANSWER["intent"], session
    assert session["llm_note"] == "guessed by served-model (attempts: 1)"
    assert len(fake.requests) == 1
