"""The optional LLM enricher: an action that asks a model what an activity session is for, when
``AGENTFEED_LLM_PROVIDER`` is set (settings in ``llm_client.py``).

The enrichment worker schedules ``llm:refine_intent`` for a session when it got a new prompt.
The action reads a brief of the session and the owner's latest corrections (as examples),
checks the day's token budget, asks (retries and a time budget in ``llm_client.ask``) and
records the answer and the tokens used. Whatever goes wrong — settings, budget, network,
an answer that is not the JSON asked for — the heuristic's guess stays, and ``llm_note`` on the
session says why. A session the owner validated, or whose evidence changed while the model was
thinking (another request is then on its way), is not overwritten.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from livebase import internal_action, internal_mutation, internal_query

from . import intent, llm_client

SETTINGS = (
    "PROVIDER", "API_KEY", "MODEL", "URL", "TIMEOUT_SECONDS", "RETRIES", "MAX_TOKENS",
    "DAILY_TOKENS",
)  # fmt: skip
EXAMPLES = 5
KEPT = "the heuristic's guess is kept"
CHARS_PER_TOKEN = 4
"""For the budget check before a request: a rough count of the prompt's tokens."""


def settings(ctx: Any) -> dict[str, str]:
    """``AGENTFEED_LLM_*`` from the deployment's variables (``ctx.env``), else the process's."""
    found: dict[str, str] = {}
    for name in SETTINGS:
        key = llm_client.PREFIX + name
        value = ctx.env.get(key) or os.environ.get(key)
        if value:
            found[key] = value
    return found


def enabled(ctx: Any) -> bool:
    return llm_client.enabled(settings(ctx))


def _day(ms: float) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d")


def _usage(ctx: Any, day: str) -> dict[str, Any] | None:
    return ctx.db.query("llm_usage").with_index("by_day", lambda q: q.eq("day", day)).unique()


def brief(session: dict[str, Any], corrections: list[dict[str, Any]]) -> str:
    """What the model is told about a session."""
    lines = [f"Project: {os.path.basename(session['project']) or '(none)'}"]
    if session.get("branch"):
        lines.append(f"Git branch: {session['branch']}")
    lines += [f"Prompt {i}: {text}" for i, text in enumerate(session["prompts"], 1)]
    if session["tools"]:
        tools = ", ".join(f"{t['name']} x{t['count']:g}" for t in session["tools"])
        lines.append(f"Tools used: {tools}")
    if session["files"]:
        lines.append("Files touched: " + ", ".join(session["files"][-10:]))
    lines.append(f"Events: {session['event_count']:g}, failures: {session['failure_count']:g}")
    lines.append(f"A simple heuristic guessed: {session['heuristic_intent']}")
    for example in corrections[:EXAMPLES]:
        words = ", ".join(example["keywords"][:10])
        said = example["intent"]
        lines.append(f"Earlier, the developer labelled a session about [{words}] as: {said}")
    return "\n".join(lines)


@internal_query
def facts(ctx, session: str) -> dict[str, Any] | None:
    """The brief of a session still open to guesses, with the day's token use."""
    doc = ctx.db.get(session)
    if doc is None or doc["intent_source"] == "owner":
        return None
    latest = ctx.db.query("intent_corrections").with_index("by_time").order("desc")
    corrections = latest.take(EXAMPLES)
    usage = _usage(ctx, _day(ctx.now))
    used = usage["input_tokens"] + usage["output_tokens"] if usage else 0.0
    return {"brief": brief(doc, corrections), "prompt_count": doc["prompt_count"], "used": used}


@internal_mutation
def record(
    ctx,
    session: str,
    prompt_count: float,
    input_tokens: float,
    output_tokens: float,
    requests: float,
    note: str | None = None,
    guessed_intent: str | None = None,
    confidence: float | None = None,
) -> bool:
    """Count the tokens; store the guess if the session still is as it was asked about, else
    the note. Returns whether the guess was stored."""
    day = _day(ctx.now)
    usage = _usage(ctx, day)
    if usage is None:
        zero = {"requests": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}
        usage = ctx.db.get(ctx.db.insert("llm_usage", {"day": day, **zero}))
    ctx.db.patch(
        usage["_id"],
        {
            "requests": usage["requests"] + requests,
            "input_tokens": usage["input_tokens"] + input_tokens,
            "output_tokens": usage["output_tokens"] + output_tokens,
        },
    )
    doc = ctx.db.get(session)
    if doc is None or doc["intent_source"] == "owner":
        return False
    if guessed_intent is None or confidence is None:
        ctx.db.patch(session, {"llm_note": note or "no answer; the heuristic's guess is kept"})
        return False
    if doc["prompt_count"] != prompt_count:
        return False
    ctx.db.patch(
        session,
        {
            "guessed_intent": guessed_intent,
            "confidence": confidence,
            "intent_source": "llm",
            "needs_validation": confidence < intent.VALIDATION_THRESHOLD,
            "llm_note": note or f"guessed by {llm_client.setting(settings(ctx), 'MODEL')}",
        },
    )
    return True


@internal_action
def refine_intent(ctx, session: str) -> str:
    """Ask the configured model for a session's intent; falls back to the heuristic's guess.
    Returns what happened (also kept in the session's ``llm_note``)."""
    seen = ctx.run_query("llm:facts", {"session": session})
    if seen is None:
        return "skipped: the owner has validated the session"
    base = {"session": session, "prompt_count": seen["prompt_count"]}
    spent = {"input_tokens": 0.0, "output_tokens": 0.0, "requests": 0.0}
    try:
        config = llm_client.load(settings(ctx))
    except llm_client.ConfigError as exc:
        note = f"LLM not used: {exc}; {KEPT}"
        ctx.run_mutation("llm:record", {**base, **spent, "note": note})
        return note
    estimate = len(seen["brief"]) / CHARS_PER_TOKEN + config.max_tokens
    if seen["used"] + estimate > config.daily_tokens:
        budget = config.daily_tokens
        note = f"LLM not used: the day's token budget ({budget}) is spent; {KEPT}"
        ctx.run_mutation("llm:record", {**base, **spent, "note": note})
        return note
    try:
        answer = llm_client.ask(config, seen["brief"])
    except llm_client.LlmFailure as exc:
        note = f"LLM failed: {exc}; {KEPT}"
        spent = {**spent, "input_tokens": float(exc.tokens), "requests": 1.0}
        ctx.run_mutation("llm:record", {**base, **spent, "note": note})
        return note
    tokens = {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens}
    note = f"guessed by {config.model} (attempts: {answer.attempts})"
    ctx.run_mutation(
        "llm:record",
        {**base, **tokens, "requests": 1.0, "note": note,
         "guessed_intent": answer.intent, "confidence": answer.confidence},
    )  # fmt: skip
    return note
