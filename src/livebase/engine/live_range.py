"""A live query whose result is one index range, kept current by applying commits to it.

Re-running a subscribed query on every commit that touches it costs the whole result: a one-row
insert into a 300-row list read, decoded, checked and encoded 300 rows again. When the query's
result *is* the documents of one index range, a commit's writes into that range can be applied
to the kept result instead (incremental maintenance): the rows written move, arrive or leave,
and the result's wire text is the stored texts joined, so an unchanged document is never read,
decoded or encoded again.

Python functions are opaque, so "the result is the range" is proven at run time, not guessed:

* the call read nothing but one ``collect()`` or ``take(n)`` of an index range with no
  ``filter`` (its read set is that range and nothing else: no other read can have steered what
  it returned);
* it returned the very list it was given, and never looked inside it: the list is a
  ``CollectedList`` that notes any use (iterating, indexing, ``len``, comparing, copying,
  changing), so code that branched on the documents (``return docs if len(docs) < 5 else []``)
  is never maintained, only re-run;
* it did not read the clock or draw random numbers (in it or in a query it called), wrote no
  log lines and did not fail;
* its encoded result is exactly the stored texts joined (checked once, on the full run).

For ``take(n)``, a document arriving among the first ``n`` pushes the last one out; one leaving
them cannot be applied (which document comes next is not known without reading). That, or
anything else a commit does that cannot be applied exactly (a key not where it should be, more
writes than are worth applying, a read limit the result would pass), drops the kept range, and
the query runs again as before.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, SupportsIndex

from livebase.engine.reads import ReadSet
from livebase.engine.transaction import Document, Write, decode_document, encode_document

MAX_PENDING_WRITES = 256
"""Writes (or commits) waiting for one kept range between two sends, beyond which the range is
dropped: running the query again is then as cheap, and memory stays bounded for a client that
does not read."""


class CollectedList(list):  # type: ignore[type-arg]
    """The list ``collect()`` returns when the call records its ranges: a ``list`` in every
    way, which notes whether the function used it (any use at all, reading or changing)."""

    __slots__ = ("used",)

    def __init__(self, items: Iterable[Any]) -> None:
        super().__init__(items)
        self.used = False

    def plain(self) -> list[Any]:
        """The same items as an ordinary list (for encoding, without counting as a use)."""
        return list.copy(self)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[type[list], tuple[list[Any]]]:  # type: ignore[type-arg]
        self.used = True  # copied or pickled: an ordinary list from then on
        return (list, (list.copy(self),))

    def __reduce__(self) -> tuple[type[list], tuple[list[Any]]]:  # type: ignore[type-arg]
        return self.__reduce_ex__(2)

    def __radd__(self, other: Any) -> Any:
        self.used = True  # ``[...] + docs``: list's own concatenation then reads it
        return NotImplemented


def _noting(name: str) -> Callable[..., Any]:
    base = getattr(list, name)

    def method(self: CollectedList, *args: Any, **kwargs: Any) -> Any:
        self.used = True
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


# Every operation ``list`` has, reading or writing: any of them may let the function's control
# flow depend on the documents. (C code reaches a list subclass through these slots as well;
# only code poking at a list's memory directly, such as ``heapq``, would not be noticed, and it
# changes the list, which the encoding check on the full run then sees; and ``orjson.dumps``,
# which serialises a list subclass from its memory.)
for _name in (
    "__iter__", "__reversed__", "__len__", "__getitem__", "__contains__", "__eq__", "__ne__",
    "__lt__", "__le__", "__gt__", "__ge__", "__repr__", "__add__", "__mul__", "__rmul__",
    "__iadd__", "__imul__", "__setitem__", "__delitem__", "__format__", "__sizeof__", "copy",
    "index", "count", "sort", "reverse", "pop", "remove", "append", "extend", "insert", "clear",
):  # fmt: skip
    setattr(CollectedList, _name, _noting(_name))
CollectedList.__hash__ = None


@dataclass(eq=False)
class LiveRange:
    """One ``collect()`` of an index range, as read: its keys, stored texts and documents in
    ascending key order (``desc`` reverses them on the way out)."""

    index_id: int
    lo: bytes
    hi: bytes
    desc: bool
    keys: list[bytes]
    texts: list[str]
    docs: list[Document]
    returned: CollectedList
    intervals: int = 0
    """Read-set intervals the scan recorded (all of the call's, if it is maintainable)."""
    reads_before: int = 0
    """Documents the call had read before this ``collect()`` (0 when it read nothing else)."""
    ts: int = 0
    limit: int | None = None
    """``take(limit)``; None for ``collect()``."""
    complete: bool = True
    """Whether the documents are all the range holds (``collect()``, or a ``take`` that found
    fewer than it asked for); else they are the first ``limit`` of it in the query's order,
    and what lies beyond the last one is unknown."""
    bytes_read: int = field(default=0)
    check_new: Callable[[Document, str], bool] | None = None
    """For a query with a ``returns`` validator: whether a newly arrived document passes it
    unchanged (else the query runs again, and fails or converts as a run would)."""

    def __post_init__(self) -> None:
        self.bytes_read = sum(len(t) for t in self.texts)

    # -- deciding -------------------------------------------------------------------------------

    def is_whole_result(self, value: Any, read_set: ReadSet, documents_scanned: int) -> bool:
        """Whether a call that recorded only this range returned it untouched."""
        return (
            value is self.returned
            and not self.returned.used
            and self.reads_before == 0
            and documents_scanned == len(self.keys)
            and not read_set.tables_absent
            and not read_set.searches
            and len(read_set.intervals) == self.intervals
            and all(
                i.index_id == self.index_id and self.lo <= i.lo and i.hi <= self.hi
                for i in read_set.intervals
            )
        )

    def value_text(self) -> str:
        """The result as wire JSON: the stored texts, joined in the query's order."""
        texts = reversed(self.texts) if self.desc else self.texts
        return f"[{','.join(texts)}]"

    def value(self) -> list[Document]:
        return self.docs[::-1] if self.desc else list(self.docs)

    # -- applying -------------------------------------------------------------------------------

    def _in_window(self, key: bytes) -> bool:
        """Whether ``key`` belongs among the documents kept: anywhere in the range when they
        are all of it; else up to the last one kept, in the query's order."""
        if not self.lo <= key < self.hi:
            return False
        if self.complete or not self.keys:
            return self.complete
        return key >= self.keys[0] if self.desc else key <= self.keys[-1]

    def _drop_beyond_limit(self) -> None:
        if self.limit is None or len(self.keys) <= self.limit:
            return
        i = 0 if self.desc else -1  # the far end in the query's order
        self.bytes_read -= len(self.texts[i])
        del self.keys[i], self.texts[i], self.docs[i]
        self.complete = False

    def apply(self, writes: Iterable[Write]) -> bool:
        """Apply writes committed after ``ts``; False (and the range is then unusable) if one
        cannot be applied exactly: for a ``take``, a document leaving the first ``limit``,
        whose successor is unknown here."""
        keys, texts, docs = self.keys, self.texts, self.docs
        for write in writes:
            old = write.old_keys.get(self.index_id)
            if old is not None and self._in_window(old):
                i = bisect.bisect_left(keys, old)
                if i == len(keys) or keys[i] != old:
                    return False
                self.bytes_read -= len(texts[i])
                del keys[i], texts[i], docs[i]
            new = write.new_keys.get(self.index_id)
            if new is None or write.document is None or not self._in_window(new):
                if not self.complete and self.limit is not None and len(keys) < self.limit:
                    return False  # one left the first ``limit``: which one follows is unknown
                continue
            text = write.text if write.text is not None else encode_document(write.document)
            doc = decode_document(text)
            if self.check_new is not None and not self.check_new(doc, text):
                return False
            i = bisect.bisect_left(keys, new)
            if i < len(keys) and keys[i] == new:
                return False
            keys.insert(i, new)
            texts.insert(i, text)
            docs.insert(i, doc)
            self.bytes_read += len(text)
            self._drop_beyond_limit()
        return True
