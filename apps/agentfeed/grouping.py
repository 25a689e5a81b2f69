"""How activity is grouped into activity sessions: what an event tells (its features), when it
starts a new session, and how it changes the session it joins. Pure functions over documents, so
the rules are tested without a server; ``enrichment.py`` applies them in its transaction.

An activity session is one stretch of work on one thing: a project (the event's project, else
its ``cwd``, else ``""``), on one git branch when the events say it, with no gap longer than
``AGENTFEED_SESSION_GAP_MINUTES`` (default 30) between events. Inside that, a prompt sent after
a pause of ``TOPIC_GAP_MS`` that shares almost no words with the session so far starts a new
one (a new task in the same project), and so does a ``SessionEnd`` followed by more work. A
session is ``active`` while events arrive, ``paused`` after ``PAUSE_MS`` without any, and when
it ends ``completed`` (its last turn finished) or ``abandoned`` (a prompt left without an
answer, or the last thing that happened was a failure or an interruption).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .settings import minutes_setting

GAP_ENV = "AGENTFEED_SESSION_GAP_MINUTES"
DEFAULT_GAP_MINUTES = 30.0
PAUSE_MS = 5 * 60_000
TOPIC_GAP_MS = 10 * 60_000
TOPIC_OVERLAP = 0.15
"""A prompt after ``TOPIC_GAP_MS`` sharing less than this share of its words with the session
starts a new one."""
KEEP_FILES = 30
KEEP_TOOLS = 20
KEEP_PROMPTS = 5
KEEP_KEYWORDS = 40
KEEP_AGENT_SESSIONS = 20
PROMPT_CHARS = 300
BRANCH_KEYS = ("gitBranch", "git_branch", "branch")
FILE_KEYS = ("file_path", "path", "notebook_path")
FAILED_TYPES = frozenset({"PostToolUseFailure", "StopFailure"})
STOPWORDS = frozenset(
    "the and for with that this from into you your are was were can could would should will "
    "have has had not but all any some our out use using make please then than there here "
    "about also just like get got let lets its it's what when which who why how does did "
    "them they their been being want need now one two more most other again still very "
    "file files code home src py js ts md json".split()
)
WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


def gap_ms() -> float:
    """``AGENTFEED_SESSION_GAP_MINUTES`` in milliseconds (a clear error for a bad value)."""
    return minutes_setting(GAP_ENV, DEFAULT_GAP_MINUTES) * 60_000


def words(text: str) -> list[str]:
    """The words of ``text`` that say what it is about (lower case, no stop words)."""
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]


@dataclass
class Features:
    """What one event tells about the work."""

    project: str
    timestamp: float
    type: str
    agent_session: str | None = None
    branch: str | None = None
    tool: str | None = None
    files: list[str] = field(default_factory=list)
    command: str | None = None
    prompt: str | None = None
    failed: bool = False
    keywords: list[str] = field(default_factory=list)


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def features(event: dict[str, Any]) -> Features:
    """The features of a stored event (its normalised fields; the branch from its raw payload,
    which hooks do not send but transcripts and other sources do)."""
    found = Features(
        project=event.get("project") or event.get("cwd") or "",
        timestamp=float(event["timestamp"]),
        type=event["type"],
        agent_session=event.get("session_id"),
        tool=event.get("tool_name"),
        prompt=event.get("prompt"),
        failed=event["type"] in FAILED_TYPES or event.get("interrupted") is True,
    )
    raw = _json(event.get("raw"))
    if isinstance(raw, dict):
        details = raw.get("details") if isinstance(raw.get("details"), dict) else {}
        for source in (raw, details):
            branch = next((source[k] for k in BRANCH_KEYS if isinstance(source.get(k), str)), None)
            if branch:
                found.branch = branch
                break
    tool_input = _json(event.get("tool_input"))
    if isinstance(tool_input, dict):
        found.files = [tool_input[k] for k in FILE_KEYS if isinstance(tool_input.get(k), str)]
        if isinstance(tool_input.get("command"), str):
            found.command = tool_input["command"]
    text = " ".join(filter(None, [found.prompt, found.command]))
    stems = [os.path.splitext(os.path.basename(path))[0] for path in found.files]
    found.keywords = words(text) + [w for stem in stems for w in words(stem.replace("-", "_"))]
    return found


def overlap(session: dict[str, Any], keywords: list[str]) -> float:
    """The share of ``keywords`` (distinct) the session has seen."""
    wanted = set(keywords)
    if not wanted:
        return 1.0
    seen = {item["word"] for item in session["keywords"]}
    return len(wanted & seen) / len(wanted)


def distance(session: dict[str, Any], timestamp: float) -> float:
    """How far ``timestamp`` is from a session's span (0 inside it)."""
    if timestamp < session["started_at"]:
        return session["started_at"] - timestamp
    return max(0.0, timestamp - session["last_at"])


def nearest(sessions: list[dict[str, Any]], timestamp: float) -> dict[str, Any] | None:
    """The session whose span is nearest ``timestamp`` (the latest of equals): the one an event
    of that time may join. Live events land in the latest session; a late or backfilled one in
    the session of its own time."""
    if not sessions:
        return None
    return min(sessions, key=lambda s: (distance(s, timestamp), -s["last_at"]))


def starts_new(session: dict[str, Any] | None, f: Features, gap: float) -> bool:
    """Whether the event ``f`` begins a new activity session rather than joining ``session``
    (its project's session nearest in time, ``nearest``)."""
    if session is None or distance(session, f.timestamp) > gap:
        return True
    idle = f.timestamp - session["last_at"]
    if f.branch and session.get("branch") and f.branch != session["branch"]:
        return True
    if session.get("last_type") == "SessionEnd" and f.agent_session not in (
        None,
        *session["agent_sessions"][-1:],
    ):
        return True
    return (
        f.prompt is not None
        and session["prompt_count"] > 0
        and idle > TOPIC_GAP_MS
        and overlap(session, f.keywords) < TOPIC_OVERLAP
    )


def new_session(f: Features) -> dict[str, Any]:
    """A session holding nothing yet, begun by ``f`` (``apply`` then adds ``f`` to it)."""
    doc: dict[str, Any] = {
        "started_at": f.timestamp,
        "last_at": f.timestamp,
        "event_count": 0.0,
        "prompt_count": 0.0,
        "tool_count": 0.0,
        "failure_count": 0.0,
        "agent_sessions": [],
        "tools": [],
        "files": [],
        "prompts": [],
        "keywords": [],
        "open_turn": False,
        "last_type": f.type,
        "status": "active",
        "project": f.project,
    }
    return doc


def _counted(items: list[dict[str, Any]], key: str, add: list[str], keep: int) -> list[Any]:
    counts = Counter({item[key]: item["count"] for item in items})
    counts.update(add)
    return [{key: name, "count": float(n)} for name, n in counts.most_common(keep)]


def apply(session: dict[str, Any], f: Features) -> dict[str, Any]:
    """The fields of ``session`` that change when ``f`` joins it."""
    patch: dict[str, Any] = {
        "event_count": session["event_count"] + 1,
        "started_at": min(session["started_at"], f.timestamp),
        "status": "active",
    }
    if f.timestamp >= session["last_at"]:
        patch.update(last_at=f.timestamp, last_type=f.type)
    if f.branch and not session.get("branch"):
        patch["branch"] = f.branch
    if f.agent_session and f.agent_session not in session["agent_sessions"]:
        patch["agent_sessions"] = [*session["agent_sessions"], f.agent_session][
            -KEEP_AGENT_SESSIONS:
        ]
    if f.prompt is not None:
        patch["prompt_count"] = session["prompt_count"] + 1
        patch["open_turn"] = True
        if len(session["prompts"]) < KEEP_PROMPTS:
            patch["prompts"] = [*session["prompts"], f.prompt[:PROMPT_CHARS]]
    if f.type in ("Stop", "SessionEnd"):
        patch["open_turn"] = False
    if f.type in ("PostToolUse", "PostToolUseFailure"):
        patch["tool_count"] = session["tool_count"] + 1
        if f.tool:
            patch["tools"] = _counted(session["tools"], "name", [f.tool], KEEP_TOOLS)
    if f.failed:
        patch["failure_count"] = session["failure_count"] + 1
    patch["last_failed"] = f.failed if f.timestamp >= session["last_at"] else None
    if patch["last_failed"] is None:
        del patch["last_failed"]
    if f.files:
        kept = [path for path in session["files"] if path not in f.files]
        patch["files"] = (kept + f.files)[-KEEP_FILES:]
    if f.keywords:
        patch["keywords"] = _counted(session["keywords"], "word", f.keywords, KEEP_KEYWORDS)
    return patch


def ending_status(session: dict[str, Any]) -> str:
    """``completed`` or ``abandoned``: how a session that has ended ended."""
    if session.get("open_turn") or session.get("last_failed"):
        return "abandoned"
    return "completed"


def status_at(session: dict[str, Any], now: float, gap: float) -> str:
    """An open session's status by the clock: active, paused, or ended (``ending_status``)."""
    idle = now - session["last_at"]
    if idle > gap:
        return ending_status(session)
    return "paused" if idle > PAUSE_MS else "active"
