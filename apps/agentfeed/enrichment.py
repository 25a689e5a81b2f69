"""The enrichment queue and its worker.

A trigger on ``events`` puts every stored event in ``enrichment_queue`` in the transaction that
stores it: one row for the built-in ``sessions`` stage, and one for every stage registered by an
``ActivityStore`` (``pipeline.py``), so no stored event can miss the queue and no queued event
can be missing. The same trigger wakes the worker: the first event after the queue went idle
schedules ``enrichment:run`` ``WAKE_SECONDS`` later (a scheduled function), so events that
arrive together are grouped in one run.

The worker is a scheduled mutation, not a change-stream consumer: it runs inside the server with
no admin key and no extra process, each batch is one transaction (taking the rows off the queue
and writing the sessions commit together, so a crash repeats nothing and loses nothing), and the
scheduler already retries it and runs it once across several nodes. It takes ``BATCH`` rows in
the order they were queued, groups their events into activity sessions (``grouping.py``),
guesses each touched session's intent (``intent.py``), hands sessions with new prompts to the
LLM enricher when one is configured (``llm.py``), and schedules itself again at once while rows
remain. A cron (``tick``) moves sessions to paused and ended as time passes, and wakes the
worker again if a run failed.
"""

from __future__ import annotations

from typing import Any

from livebase import UNSET, internal_mutation, trigger

from . import grouping, intent, llm

STAGE = "sessions"
BATCH = 200
WAKE_SECONDS = 1.0
TICK_BATCH = 200
NEAREST_SCAN = 20
"""Sessions of a project read to place one event (those ending within the gap before it)."""
STALLED_MS = 5 * 60_000
"""A queue not worked for this long while a run is due is woken again by the cron."""
CORRECTIONS_USED = 100
"""The most recent corrections a guess is matched against."""


def _state(ctx: Any, stage: str) -> dict[str, Any] | None:
    rows = ctx.db.query("enrichment_state")
    return rows.with_index("by_stage", lambda q: q.eq("stage", stage)).unique()


@trigger("events")
def enqueue(ctx: Any, change: Any) -> None:
    """Queue a newly stored event for every stage, and wake the worker if it sleeps."""
    if change.operation != "insert":
        return
    stages = [STAGE] + [row["name"] for row in ctx.db.query("pipeline_stages").collect()]
    for stage in stages:
        ctx.db.insert(
            "enrichment_queue",
            {
                "stage": stage,
                "event": change.id,
                "event_id": change.new_doc["event_id"],
                "enqueued_at": ctx.now,
            },
        )
    state = _state(ctx, STAGE)
    woken = {"scheduled": True, "woken_at": ctx.now}
    if state is None:
        ctx.db.insert("enrichment_state", {"stage": STAGE, "processed": 0.0, **woken})
    elif state["scheduled"]:
        return
    else:
        ctx.db.patch(state["_id"], woken)
    ctx.scheduler.run_after(WAKE_SECONDS, "enrichment:run", {})


def _nearest_session(ctx: Any, project: str, timestamp: float, gap: float) -> dict[str, Any] | None:
    """The project's session nearest the event's time among those that ended at most ``gap``
    before it, ended or not: events are grouped by their own times, so a late delivery, a
    replayed spool or an imported transcript lands where it belongs (reopening that session)."""
    around = (
        ctx.db.query("activity_sessions")
        .with_index(
            "by_project_last", lambda q: q.eq("project", project).gte("last_at", timestamp - gap)
        )
        .take(NEAREST_SCAN)
    )
    return grouping.nearest(around, timestamp)


def _close(ctx: Any, session: dict[str, Any], status: str | None = None) -> None:
    ended = status or grouping.ending_status(session)
    ctx.db.patch(session["_id"], {"status": ended, "ended_at": session["last_at"]})


def _recent_corrections(ctx: Any) -> list[dict[str, Any]]:
    return (
        ctx.db.query("intent_corrections")
        .with_index("by_time")
        .order("desc")
        .take(CORRECTIONS_USED)
    )


def guess_fields(session: dict[str, Any], corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """The intent fields of a session not validated by the owner: a fresh guess, unless the
    LLM's guess is newer than the evidence it was made from."""
    fresh = intent.guess(session, corrections)
    fields: dict[str, Any] = {"heuristic_intent": intent.heuristic(session).intent}
    if (
        session.get("intent_source") == "llm"
        and session.get("llm_prompts") == session["prompt_count"]
    ):
        return fields
    fields.update(
        guessed_intent=fresh.intent,
        intent_kind=fresh.kind,
        confidence=fresh.confidence,
        intent_source=fresh.source,
        needs_validation=fresh.confidence < intent.VALIDATION_THRESHOLD,
    )
    return fields


def _process(ctx: Any, event: dict[str, Any], gap: float, touched: set[str]) -> None:
    found = grouping.features(event)
    session = _nearest_session(ctx, found.project, found.timestamp, gap)
    if grouping.starts_new(session, found, gap):
        if found.type == "SessionEnd":
            return  # the end of a Claude session whose work is over starts nothing
        after = session is not None and found.timestamp > session["last_at"]
        if after and session is not None and session["status"] in ("active", "paused"):
            _close(ctx, session)
        doc = grouping.new_session(found)
        doc.update(grouping.apply(doc, found))
        placeholder = {"guessed_intent": "", "intent_kind": "unknown", "confidence": 0.0}
        doc.update(placeholder, intent_source="heuristic", heuristic_intent="")
        doc["needs_validation"] = True
        touched.add(ctx.db.insert("activity_sessions", doc))
        return
    assert session is not None
    patch = grouping.apply(session, found)
    if session["status"] in ("completed", "abandoned"):
        patch["ended_at"] = UNSET  # open again until the clock or the next gap ends it
    ctx.db.patch(session["_id"], patch)
    touched.add(session["_id"])


@internal_mutation
def run(ctx, batch: float = BATCH) -> dict[str, Any]:
    """Take up to ``batch`` queued events of the ``sessions`` stage and group them; schedule the
    next run at once while the queue holds more. Returns ``{processed, sessions}``."""
    limit = max(1, int(batch))
    rows = (
        ctx.db.query("enrichment_queue")
        .with_index("by_stage", lambda q: q.eq("stage", STAGE))
        .take(limit)
    )
    gap = grouping.gap_ms()
    touched: set[str] = set()
    for row in rows:
        event = ctx.db.get(row["event"])
        if event is not None:
            _process(ctx, event, gap, touched)
        ctx.db.delete(row["_id"])
    corrections = _recent_corrections(ctx) if touched else []
    use_llm = llm.enabled(ctx)
    for session_id in touched:
        session = ctx.db.get(session_id)
        if session["intent_source"] == "owner":
            continue
        fields = guess_fields(session, corrections)
        if use_llm and session.get("llm_prompts") != session["prompt_count"]:
            fields["llm_prompts"] = session["prompt_count"]
            ctx.scheduler.run_after(0, "llm:refine_intent", {"session": session_id})
        ctx.db.patch(session_id, fields)
    ended = _age_sessions(ctx, gap)
    state = _state(ctx, STAGE)
    done = float(len(rows)) + (state["processed"] if state else 0.0)
    more = len(rows) == limit
    if state is not None:
        ctx.db.patch(state["_id"], {"scheduled": more, "processed": done, "last_run_at": ctx.now})
    if more:
        ctx.scheduler.run_after(0, "enrichment:run", {"batch": float(limit)})
    return {"processed": len(rows), "sessions": len(touched), "ended": ended}


def _age_sessions(ctx: Any, gap: float) -> int:
    """Move open sessions to paused or ended by the clock; returns how many ended."""
    ended = 0
    for status in ("active", "paused"):
        rows = (
            ctx.db.query("activity_sessions")
            .with_index(
                "by_status_last",
                lambda q, s=status: q.eq("status", s).lt("last_at", ctx.now - grouping.PAUSE_MS),
            )
            .take(TICK_BATCH)
        )
        for session in rows:
            now_status = grouping.status_at(session, ctx.now, gap)
            if now_status in ("completed", "abandoned"):
                _close(ctx, session, now_status)
                ended += 1
            elif now_status != session["status"]:
                ctx.db.patch(session["_id"], {"status": now_status})
    return ended


@internal_mutation
def tick(ctx) -> int:
    """Run by a cron: pause and end sessions as time passes, and wake the worker again if its
    last run failed (a scheduled mutation that fails is not retried, and the queue would wait
    for it forever). Returns how many sessions it ended."""
    state = _state(ctx, STAGE)
    stalled = (
        state is not None
        and state["scheduled"]
        and ctx.now - max(state.get("last_run_at", 0.0), state.get("woken_at", 0.0)) > STALLED_MS
        and ctx.db.query("enrichment_queue")
        .with_index("by_stage", lambda q: q.eq("stage", STAGE))
        .first()
        is not None
    )
    if stalled:
        assert state is not None
        ctx.db.patch(state["_id"], {"woken_at": ctx.now})
        ctx.scheduler.run_after(0, "enrichment:run", {})
    return _age_sessions(ctx, grouping.gap_ms())
