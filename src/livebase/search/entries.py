"""What a document puts in a search index, and keeping the index in step with its writes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from livebase.search.tokenizer import tokenize
from livebase.storage.base import StorageWriter
from livebase.storage.search_types import SearchEntry
from livebase.values.ordering import MISSING, encode_key

FILTER_MARK = "\ue000"
"""Starts every filter token: a private-use character, never part of a term (terms are letters
and digits), so filter tokens never meet terms, in matching or in prefix expansion."""


def field_value(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``MISSING``."""
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def filter_token(position: int, value: Any) -> str:
    """The token for "filter field number ``position`` equals ``value``" (a hash of the
    value's index-key encoding, so any value type works; results are checked against the
    document too, so a hash collision cannot leak a wrong row)."""
    digest = hashlib.blake2b(encode_key((value,)), digest_size=12).hexdigest()
    return f"{FILTER_MARK}{position}x{digest}"


def entry_for(
    search_field: str, filter_fields: Sequence[str], doc: dict[str, Any] | None
) -> SearchEntry | None:
    """The document's entry, or None if it is not indexed (its search field is not a
    string, as in Convex)."""
    if doc is None:
        return None
    text = field_value(doc, search_field)
    if not isinstance(text, str):
        return None
    filters = tuple(filter_token(i, field_value(doc, f)) for i, f in enumerate(filter_fields))
    return SearchEntry(tuple(tokenize(text)), filters, float(doc["_creationTime"]))


def update_entries(
    writer: StorageWriter,
    search_indexes: Sequence[tuple[int, str, Sequence[str]]],
    doc_id: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> None:
    """Bring every search index ``(index id, search field, filter fields)`` of a table in step
    with one document write (``old``: None for an insert; ``new``: None for a delete), in the
    writer's transaction."""
    for index_id, search_field, filter_fields in search_indexes:
        before = entry_for(search_field, filter_fields, old)
        after = entry_for(search_field, filter_fields, new)
        if before == after:
            continue
        if after is None:
            writer.delete_search_entry(index_id, doc_id)
        else:
            writer.put_search_entry(index_id, doc_id, after, replace=before is not None)
