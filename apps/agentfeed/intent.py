"""The heuristic enricher: a guess of what an activity session is for, with a confidence, from
its prompts, the files it touched and the tools it used, and from the owner's corrections of
earlier guesses. It runs offline, in the enrichment transaction (``enrichment.py``); the LLM
enricher (``llm.py``) may replace its guess later, and falls back to it.

A guess is a kind of work (fix, tests, feature, ...) and a topic (the first prompt's opening
words, else the files). The confidence is the winning kind's share of the evidence, scaled down
while there is little evidence. A correction whose words cover enough of a new session's words
is reused as that session's guess: the owner said what such work is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .grouping import words

VALIDATION_THRESHOLD = 0.5
"""Sessions guessed with less confidence are flagged ``needs_validation``."""
FULL_EVIDENCE = 6.0
"""Evidence (points) at which a clear winner gets its full share as confidence."""
LEARNED_SIMILARITY = 0.3
"""How much of a session's words a correction must share to be reused."""
MIN_SHARED_WORDS = 2
TOPIC_WORDS = 8

KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "fix": ("Fix a bug", frozenset(
        "fix fixes fixing bug bugs error errors fail fails failing failure broken crash crashes "
        "exception traceback regression debug wrong flaky".split())),
    "test": ("Write tests", frozenset(
        "test tests testing pytest coverage unittest spec specs assert fixture fixtures".split())),
    "feature": ("Build a feature", frozenset(
        "add adds adding implement implementing create build new feature support endpoint "
        "page option command".split())),
    "refactor": ("Refactor", frozenset(
        "refactor refactoring rename clean cleanup simplify extract split reorganize "
        "restructure tidy dedupe duplicate".split())),
    "docs": ("Write documentation", frozenset(
        "docs doc readme document documentation changelog guide tutorial docstring".split())),
    "explore": ("Explore the code", frozenset(
        "explain understand where look find investigate review overview walk "
        "through show".split())),
    "ops": ("Set up tooling", frozenset(
        "install configure config deploy docker dependency dependencies upgrade release "
        "setup workflow pipeline lint".split())),
}  # fmt: skip
READ_ONLY_TOOLS = frozenset({"Read", "Grep", "Glob", "LS", "WebFetch", "WebSearch"})
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


@dataclass
class Guess:
    intent: str
    kind: str
    confidence: float
    source: str  # heuristic | learned


def _topic(session: dict[str, Any]) -> str:
    if session["prompts"]:
        first = " ".join(session["prompts"][0].split()[:TOPIC_WORDS])
        return first if len(first) <= 80 else first[:79] + "…"
    names = [os.path.basename(path) for path in session["files"][-3:]]
    if names:
        return ", ".join(names)
    return os.path.basename(session.get("project") or "") or "unknown project"


def scores(session: dict[str, Any]) -> dict[str, float]:
    """Evidence points per kind of work."""
    points = dict.fromkeys(KINDS, 0.0)
    for prompt in session["prompts"]:
        for word in words(prompt):
            for kind, (_, vocabulary) in KINDS.items():
                if word in vocabulary:
                    points[kind] += 2.0
    for path in session["files"]:
        name = os.path.basename(path).lower()
        if name.startswith("test_") or "_test." in name or "/tests/" in path:
            points["test"] += 0.5
        elif name.endswith((".md", ".rst")):
            points["docs"] += 0.5
    tools = {item["name"]: item["count"] for item in session["tools"]}
    if tools and not EDIT_TOOLS & tools.keys() and READ_ONLY_TOOLS & tools.keys():
        points["explore"] += 2.0
    if session["failure_count"]:
        points["fix"] += min(2.0, 0.5 * session["failure_count"])
    return points


def heuristic(session: dict[str, Any]) -> Guess:
    points = scores(session)
    total = sum(points.values())
    topic = _topic(session)
    if total == 0:
        return Guess(f"Unclear: {topic}", "unknown", 0.0, "heuristic")
    kind = max(points, key=lambda k: (points[k], k == "feature"))
    share = points[kind] / total
    confidence = round(share * min(1.0, total / FULL_EVIDENCE), 3)
    return Guess(f"{KINDS[kind][0]}: {topic}", kind, confidence, "heuristic")


def session_words(session: dict[str, Any]) -> list[str]:
    """The words that stand for a session when matching corrections: its top keywords."""
    return [item["word"] for item in session["keywords"][:20]]


def similarity(mine: list[str], theirs: list[str]) -> float:
    """The share of the smaller word set found in the other; 0 unless they share at least
    ``MIN_SHARED_WORDS`` (one common word, "test" say, says little)."""
    a, b = set(mine), set(theirs)
    shared = len(a & b)
    if shared < MIN_SHARED_WORDS:
        return 0.0
    return shared / min(len(a), len(b))


def guess(session: dict[str, Any], corrections: list[dict[str, Any]]) -> Guess:
    """The heuristic's guess, or the owner's intent from the closest earlier correction."""
    base = heuristic(session)
    mine = session_words(session)
    best, best_score = None, 0.0
    for correction in corrections:
        score = similarity(mine, correction["keywords"])
        if score > best_score:
            best, best_score = correction, score
    if best is None or best_score < LEARNED_SIMILARITY:
        return base
    confidence = round(min(0.95, max(base.confidence, 0.5 + best_score / 2)), 3)
    return Guess(best["intent"], best.get("kind") or base.kind, confidence, "learned")
