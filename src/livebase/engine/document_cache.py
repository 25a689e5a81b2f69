"""Decoded documents kept by their stored text, so a query that runs again reads them as copies.

A live query re-runs on every commit that touches what it read, and most of what it reads again
has not changed: decoding each document's wire JSON again (and checking and encoding it again
when the result is sent) was most of the cost of a re-run. ``decode_document`` looks the stored
text up here first. A document with no array or object inside (the common shape) is kept once,
decoded, with its wire form; each read gets a ``StoredDocument``, a shallow copy, so a function
that changes what it read changes only its own copy, and the checks and the encoding reuse the
kept forms only while the copy is unchanged (``StoredDocument.unchanged``). A document with
nested values is decoded each time: a shallow copy would share them.

The same text always decodes to the same value, so an entry never goes stale; the cache is
bounded by the characters of text it holds and forgets the oldest entries first.
"""

from __future__ import annotations

import collections

from livebase.values.types import Kept, StoredDocument, Value
from livebase.values.wire import from_wire, loads

MAX_CHARS = 32 * 1024 * 1024
"""Stored text kept at most (about twice that in memory with the decoded forms)."""
MAX_DOCUMENT_CHARS = 16 * 1024
"""Larger documents are decoded each time: rarely read in bulk, and they would crowd out many."""

_SCALARS = (str, int, float, bool, bytes, type(None))


def _flat(text: str, doc: dict[str, Value]) -> bool:
    """Whether no value of ``doc`` is an array or object. One ``{`` and no ``[`` in its text
    says so at once; otherwise (a string holding one, or a ``$``-form) look at the values."""
    if text.count("{") == 1 and "[" not in text:
        return True
    return all(isinstance(value, _SCALARS) for value in doc.values())


class DocumentCache:
    """Stored text -> its decoded form, oldest forgotten first. The first read of a text only
    notes it (a function reading 30,000 documents once pays next to nothing more than their
    decoding); the second keeps its decoded form, which later reads copy."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self.max_chars = max_chars
        self._entries: collections.OrderedDict[str, Kept | None] = collections.OrderedDict()
        self._chars = 0
        self.hits = 0
        self.misses = 0

    def decode(self, text: str) -> dict[str, Value]:
        """The document stored as ``text``: a copy of its kept decoded form when it has one."""
        entries = self._entries
        entry = entries.get(text, _UNSEEN)
        if entry is not None and entry is not _UNSEEN:
            self.hits += 1
            return StoredDocument.of(entry)
        self.misses += 1
        doc = from_wire(loads(text))
        assert isinstance(doc, dict)
        if len(text) > MAX_DOCUMENT_CHARS or not _flat(text, doc):
            return doc
        if entry is None:  # read before: keep it; this read gets a copy
            kept = entries[text] = Kept(doc)
            return StoredDocument.of(kept)
        # No lock: each step is one operation on the dict, atomic for the interpreter; two
        # threads noting the same text at once only count its size twice for a while.
        entries[text] = None
        self._chars += len(text)
        while self._chars > self.max_chars:
            try:
                old, _ = entries.popitem(last=False)
            except KeyError:
                self._chars = 0
                break
            self._chars -= len(old)
        return doc

    def clear(self) -> None:
        self._entries.clear()
        self._chars = 0


_UNSEEN = Kept({})
"""``decode``'s marker for a text not in the cache."""


DOCUMENTS = DocumentCache()
"""The process's cache (documents are the same values in every database the process opens:
the key is the whole stored text, ``_id`` included)."""
