"""Reads as of an earlier commit timestamp, for ``/api/query_at_ts`` (JS ``consistentQuery``).

Storage keeps only the latest version of each document, but every commit-log entry records, per
write, the document before it and the index keys before and after. Undoing the entries after
``ts`` on top of the latest snapshot gives the state at ``ts``: documents touched since then are
served from the log, their current index keys are hidden and their keys at ``ts`` shown.
"""

from __future__ import annotations

from livebase.storage.base import IndexRow, StorageReader
from livebase.values.wire import dumps, loads

MAX_COMMITS_BACK = 10_000
"""How many commits a historical read may undo; older timestamps are refused."""


class HistoricalReader(StorageReader):
    def __init__(self, current: StorageReader, ts: int, commits: list[tuple[int, str]]) -> None:
        self._current = current
        self._ts = ts
        self._docs: dict[str, str | None] = {}  # document text at ts (None: did not exist)
        keys_then: dict[str, dict[int, bytes]] = {}
        keys_now: dict[str, dict[int, bytes]] = {}
        for _, entry in commits:
            for write in loads(entry)["writes"]:
                doc_id = write["id"]
                if doc_id not in self._docs:
                    prev = write.get("prev")
                    self._docs[doc_id] = None if prev is None else dumps(prev)
                    keys_then[doc_id] = {int(i): bytes.fromhex(k) for i, k in write["old"].items()}
                keys_now[doc_id] = {int(i): bytes.fromhex(k) for i, k in write["new"].items()}
        self._hidden: dict[int, set[bytes]] = {}
        self._shown: dict[int, list[tuple[bytes, str]]] = {}
        for keys in keys_now.values():
            for index_id, key in keys.items():
                self._hidden.setdefault(index_id, set()).add(key)
        for doc_id, keys in keys_then.items():
            for index_id, key in keys.items():
                self._shown.setdefault(index_id, []).append((key, doc_id))

    def latest_ts(self) -> int:
        return self._ts

    def get_document(self, doc_id: str) -> str | None:
        if doc_id in self._docs:
            return self._docs[doc_id]
        return self._current.get_document(doc_id)

    def scan_index(
        self, index_id: int, lo: bytes, hi: bytes, *, reverse: bool, limit: int
    ) -> list[IndexRow]:
        hidden = self._hidden.get(index_id, set())
        # Fetch enough current rows that, after hiding, ``limit`` of them remain if they exist;
        # then the first ``limit`` merged rows all lie within what was fetched.
        rows = self._current.scan_index(
            index_id, lo, hi, reverse=reverse, limit=limit + len(hidden)
        )
        merged = [r for r in rows if r.key not in hidden]
        for key, doc_id in self._shown.get(index_id, []):
            text = self._docs[doc_id]
            if lo <= key < hi and text is not None:
                merged.append(IndexRow(key, text))
        merged.sort(key=lambda r: r.key, reverse=reverse)
        return merged[:limit]

    def get_global(self, key: str) -> str | None:
        return self._current.get_global(key)

    def commits_after(self, ts: int, limit: int) -> list[tuple[int, str]]:
        return [c for c in self._current.commits_after(ts, limit) if c[0] <= self._ts]
