"""The feed's text search: two full-text search indexes on ``events`` (``schema.py``), one per
audience, and the rule that turns a search string into feed results.

- ``search_summary`` indexes each event's ``summary`` as stored: the owner's search.
- ``search_public`` indexes ``redacted.summary``, the summary of the event's redacted copy
  (``redacted.py``: made from the payload as received, redacted before it was cut): the public's
  search. A secret is never in that field, so no public search can match one, and the public
  search never reads the owner's index.

Livebase's search matches *any* of the words and ranks by relevance (BM25); a feed filter should
narrow as one types, so a result must also hold *every* word of the search, the last one as a
prefix (type-ahead), in the very text its index holds. That check is on what the caller is shown
(the redacted summary, for the public): a public search can only find events whose public
summary shows the words searched for, so watching which events come back tells nothing about
the text the public view hides. Words are split as Livebase's search tokenizer splits them
(letters and digits, lowercased); a word over 32 bytes, which that tokenizer drops, must still be
in the text, so searching for a long token finds only events that show it.

A subscribed search is live like any query: Livebase re-runs it when a written event holds one
of its words and its filter values (``docs/search.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

OWNER_INDEX = "search_summary"
PUBLIC_INDEX = "search_public"
OWNER_FIELD = "summary"
PUBLIC_FIELD = "redacted.summary"
OWNER_FILTERS = {name: name for name in ("project", "session_id", "type", "tool_name")}
"""Event field the feed filters on -> filter field of ``search_summary``."""
PUBLIC_FILTERS = {**OWNER_FILTERS, "tool_name": "redacted.tool_name"}
"""Event field the feed filters on -> filter field of ``search_public`` (the public filters by
the tool name it is shown)."""
MAX_WORDS = 16
"""Livebase's limit on the terms of one search."""

_WORD = re.compile(r"[^\W_]+")


class SearchTooLong(ValueError):
    """A search string of more words than one search may have."""


def words(search: str | None) -> list[str]:
    """The words of a search string (lowercased letters and digits), at most ``MAX_WORDS``;
    none for an empty string or one without letters or digits."""
    found: list[str] = []
    for match in _WORD.finditer(search or ""):
        found.append(match.group().lower())
        if len(found) > MAX_WORDS:
            raise SearchTooLong(
                f"the search has more than {MAX_WORDS} words; search for at most {MAX_WORDS}"
            )
    return found


def holds_all(text: Any, wanted: list[str]) -> bool:
    """Whether ``text`` holds every word of ``wanted``: the last as the start of a word, the
    others whole."""
    if not isinstance(text, str):
        return False
    present = {match.group().lower() for match in _WORD.finditer(text)}
    *whole, last = wanted
    if any(word not in present for word in whole):
        return False
    return any(word.startswith(last) for word in present)


def shown_text(doc: dict[str, Any], owner: bool) -> Any:
    """The text an event is searched by: its summary, or for the public its redacted one."""
    if owner:
        return doc.get(OWNER_FIELD)
    copy = doc.get("redacted")
    return copy.get("summary") if isinstance(copy, dict) else None


def query(
    ctx: Any,
    owner: bool,
    wanted: list[str],
    filters: dict[str, str | None],
    shown: Callable[[dict[str, Any]], bool],
) -> Any:
    """The events matching ``wanted`` (``words``) and the feed's ``filters`` (event field ->
    value, None: any), best first, through the caller's index; ``shown`` is the further test a
    result must pass (the public view's: a public project's event with a current redacted
    copy)."""
    index, field = (OWNER_INDEX, OWNER_FIELD) if owner else (PUBLIC_INDEX, PUBLIC_FIELD)
    fields = OWNER_FILTERS if owner else PUBLIC_FILTERS
    given = {fields[name]: value for name, value in filters.items() if value is not None}
    text = " ".join(wanted)

    def build(q: Any) -> Any:
        q = q.search(field, text)
        for name, value in given.items():
            q = q.eq(name, value)
        return q

    return (
        ctx.db.query("events")
        .with_search_index(index, build)
        .filter(lambda doc: shown(doc) and holds_all(shown_text(doc, owner), wanted))
    )
