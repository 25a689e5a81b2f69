"""A transaction: snapshot reads, schema-checked writes, a read set, limits and the write list.

Queries get a read-only transaction over a storage reader; mutations get one over the storage
writer, so their reads see their own writes. This class is what functions see as ``ctx.db``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from livebase.config import FUNCTION_WALL_FACTOR, Limits
from livebase.cpu import thread_cpu
from livebase.engine.catalog import BY_ID, Catalog, TableInfo
from livebase.engine.document_cache import DOCUMENTS
from livebase.engine.reads import ReadSet
from livebase.errors import (
    InvalidIdError,
    InvalidValueError,
    LimitExceededError,
    ReadOnlyError,
    ValidationError,
)
from livebase.runtime import Runtime
from livebase.schema.definition import SchemaDefinition
from livebase.search.entries import update_entries
from livebase.storage.base import StorageReader, StorageWriter
from livebase.values.ids import id_table_number, make_id
from livebase.values.ordering import encode_key, prefix_successor
from livebase.values.types import check_value
from livebase.values.wire import dumps, from_wire, to_wire
from livebase.vectors.entries import update_entries as update_vector_entries

if TYPE_CHECKING:
    from livebase.engine.live_range import LiveRange
    from livebase.engine.query import Query

Document = dict[str, Any]


class OverBudget(Exception):
    """A call computed past its inline budget and was stopped, to be run off the event loop
    (``functions.offload``): not a failure."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""In ``db.patch(id, {"field": UNSET})``, removes the field (Convex's ``undefined``)."""


def encode_document(doc: Document) -> str:
    return dumps(to_wire(doc))


def decode_document(text: str) -> Document:
    """The document stored as ``text``; reads of the same text are copies of one decoded form
    (``document_cache``)."""
    return DOCUMENTS.decode(text)


@dataclass
class Write:
    """One document write, as the commit log records it."""

    table: str
    doc_id: str
    old_keys: dict[int, bytes]
    new_keys: dict[int, bytes]
    document: Document | None  # the new document, None for a delete
    previous: Document | None = None  # the document before this write, None for an insert
    text: str | None = None
    """``document`` as stored (wire JSON text), so the commit log embeds it without encoding
    it again."""

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "table": self.table,
            "id": self.doc_id,
            "old": {str(i): k.hex() for i, k in self.old_keys.items()},
            "new": {str(i): k.hex() for i, k in self.new_keys.items()},
        }
        if self.previous is not None:
            entry["prev"] = to_wire(self.previous)
        if self.document is not None:
            # The change stream reads the new document from here ("doc", wire form).
            entry["doc"] = orjson.Fragment(
                self.text if self.text is not None else encode_document(self.document)
            )
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Write:
        """A write read back from the commit log (another node's commit, for instance)."""
        doc = entry.get("doc")
        prev = entry.get("prev")
        return cls(
            entry["table"],
            entry["id"],
            {int(i): bytes.fromhex(k) for i, k in entry.get("old", {}).items()},
            {int(i): bytes.fromhex(k) for i, k in entry.get("new", {}).items()},
            None if doc is None else _as_document(from_wire(doc)),
            None if prev is None else _as_document(from_wire(prev)),
        )


def _as_document(value: Any) -> Document:
    assert isinstance(value, dict)
    return value


@dataclass(frozen=True)
class DocumentChange:
    """One write, as a trigger sees it: ``old_doc`` is None for an insert, ``new_doc`` for a
    delete."""

    table: str
    operation: str  # "insert" | "update" | "delete"
    id: str
    old_doc: Document | None
    new_doc: Document | None


ChangeHook = Callable[["Transaction", DocumentChange], None]


class Transaction:
    def __init__(
        self,
        store: StorageReader,
        catalog: Catalog,
        schema: SchemaDefinition,
        runtime: Runtime,
        limits: Limits,
        *,
        now_ms: float,
        writable: bool,
        snapshot_ts: int,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.catalog_changed = False
        self.schema = schema
        self.runtime = runtime
        self.limits = limits
        self.now_ms = now_ms
        self.writable = writable
        self.snapshot_ts = snapshot_ts
        self.read_set = ReadSet()
        self.writes: list[Write] = []
        self.page_journal: str | None = None
        """Where the first ``paginate`` of this call must end (a live query's journal)."""
        self.page_end: str | None = None
        """Where the first ``paginate`` of this call ended: the journal for later runs."""
        self.documents_scanned = 0
        self.bytes_read = 0
        self.collected: list[LiveRange] | None = None
        """Set to a list by a live subscription's run: every ``collect()`` of an index range
        is recorded in it (``engine.live_range``)."""
        self.bytes_written = 0
        self._last_creation_time = 0.0
        # The call's own CPU time (this thread's), as the watchdog counts it, with the same
        # wall-clock backstop: a busy machine slows a call down without failing it.
        self._cpu_start, self._wall_start = thread_cpu(), time.monotonic()
        self._cpu_deadline = self._cpu_start + limits.max_function_seconds
        self._deadline = self._wall_start + limits.max_function_seconds * FUNCTION_WALL_FACTOR
        self._budget_deadline = math.inf
        # A thread computes no faster than the clock on the wall: until this much wall time
        # has passed, no CPU deadline can have, and reading the CPU clock (a system call, at
        # every read and write) is not needed.
        self._quiet_until = self._wall_start + limits.max_function_seconds
        self.on_change: ChangeHook | None = None
        """Called after every write, inside this transaction (triggers)."""
        self.scheduled_count = 0
        self.trigger_stack: list[str] = []
        """Tables whose triggers are running now (guards against trigger loops)."""

    # -- bookkeeping ---------------------------------------------------------------------------

    def stop_at(self, budget_seconds: float) -> None:
        """Raise ``OverBudget`` at the next read or write once this call (counted from this
        transaction's start) has computed for ``budget_seconds`` of CPU time, the collector's
        not counted (``livebase.cpu``; the inline budget: the call then runs elsewhere).
        A safe point: nothing is ever half-sent to the database there."""
        self._budget_deadline = self._cpu_start + budget_seconds
        self._quiet_until = min(self._quiet_until, self._wall_start + budget_seconds)

    def check_deadline(self) -> None:
        if time.monotonic() < self._quiet_until:
            return
        now = thread_cpu()
        if now > self._budget_deadline:
            raise OverBudget
        if now > self._cpu_deadline or time.monotonic() > self._deadline:
            raise LimitExceededError(
                f"function ran longer than {self.limits.max_function_seconds} s "
                "(LIVEBASE_MAX_FUNCTION_SECONDS)",
                code="FunctionTimeout",
            )

    def count_read(self, text: str) -> None:
        self.documents_scanned += 1
        self.bytes_read += len(text)
        if self.documents_scanned > self.limits.max_documents_scanned:
            raise LimitExceededError(
                f"read more than {self.limits.max_documents_scanned} documents in one call; "
                "use an index range or paginate",
                code="TooManyDocumentsRead",
            )
        if self.bytes_read > self.limits.max_bytes_read:
            raise LimitExceededError(
                f"read more than {self.limits.max_bytes_read} bytes in one call",
                code="TooManyBytesRead",
            )

    def table_info(self, table: str) -> TableInfo | None:
        return self.catalog.tables.get(table)

    def table_for_write(self, table: str) -> TableInfo:
        """The table ``table`` as a write finds it: made if it does not exist yet (and the
        schema allows it), as an insert would."""
        return self._table_for_write(table)

    def table_name_of(self, number: int) -> str | None:
        t = self.catalog.by_number(number)
        return t.name if t else None

    @contextmanager
    def sub_transaction(self) -> Iterator[None]:
        """``with tx.sub_transaction():`` — if the body raises, every write it made (documents,
        index entries, scheduled jobs, trigger effects, tables it created) is undone and the
        error passes on; if it returns, its writes stay part of this transaction. Reads stay in
        the read set either way (the caller saw their outcome). Nests."""
        writer = self._writer()
        mark = (len(self.writes), self.bytes_written, self.catalog, self.catalog_changed)
        scheduled, triggers = self.scheduled_count, list(self.trigger_stack)
        writer.savepoint()
        try:
            yield
        except BaseException:
            writer.rollback_to_savepoint()
            del self.writes[mark[0] :]
            self.bytes_written, self.catalog, self.catalog_changed = mark[1:]
            self.scheduled_count, self.trigger_stack = scheduled, triggers
            raise
        writer.release_savepoint()

    # -- reads -----------------------------------------------------------------------------------

    def get(self, doc_id: str) -> Document | None:
        self.check_deadline()
        info = self.table_of_id(doc_id)
        if info is None:
            return None
        key = encode_key((doc_id,))
        self.read_set.add(info.indexes[BY_ID].index_id, key, prefix_successor(key), key)
        text = self.store.get_document(doc_id)
        if text is None:
            return None
        self.count_read(text)
        return decode_document(text)

    def query(self, table: str) -> Query:
        from livebase.engine.query import Query

        return Query(self, table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        try:
            info = self.table_of_id(doc_id)
        except InvalidIdError:
            return None
        return doc_id if info is not None and info.name == table else None

    def table_of_id(self, doc_id: object) -> TableInfo | None:
        number = id_table_number(doc_id)
        return self.catalog.by_number(number)

    # -- writes ----------------------------------------------------------------------------------

    def insert(self, table: str, document: Mapping[str, Any]) -> str:
        self._check_writable()
        if not isinstance(document, Mapping):
            raise InvalidValueError(f"insert into {table!r}: document must be a dict")
        for name in document:
            if isinstance(name, str) and name.startswith("_"):
                raise ValidationError(
                    f"{table}.{name}: fields starting with '_' are reserved for the system",
                    path=name,
                    code="SchemaValidationError",
                )
        info = self._table_for_write(table)
        fields = self._validated(table, dict(document))
        created = self._creation_time()
        doc_id = make_id(info.number, self.runtime.random_bytes, created)
        doc = {"_id": doc_id, "_creationTime": created, **fields}
        self._store(info, doc_id, {}, doc)
        if self.on_change is not None:
            self.on_change(self, DocumentChange(info.name, "insert", doc_id, None, doc))
        return doc_id

    def insert_as(
        self,
        table: str | TableInfo,
        doc_id: str,
        fields: Mapping[str, Any],
        creation_time: float | None = None,
    ) -> None:
        """Insert a document under a given ``_id`` (and ``_creationTime``), as restoring a
        snapshot does: the id must be one of this table's and unused; ``fields`` are checked
        against the schema like any insert."""
        self._check_writable()
        info = table if isinstance(table, TableInfo) else self._table_for_write(table)
        if id_table_number(doc_id) != info.number:
            raise ValidationError(
                f"{doc_id!r} is an id of table number {id_table_number(doc_id)}, not of "
                f"{info.name!r} (number {info.number})",
                path="_id",
            )
        if self.store.get_document(doc_id) is not None:
            raise ValidationError(f"a document with _id {doc_id!r} already exists", path="_id")
        created = self._creation_time() if creation_time is None else float(creation_time)
        doc = {"_id": doc_id, "_creationTime": created, **self._validated(info.name, dict(fields))}
        self._store(info, doc_id, {}, doc)
        self._last_creation_time = max(self._last_creation_time, created)
        if self.on_change is not None:
            self.on_change(self, DocumentChange(info.name, "insert", doc_id, None, doc))

    def lift_limits(self) -> None:
        """Make this one transaction of any size and length (restoring a snapshot): no limit on
        documents or bytes read and written, nor on time. Per-document limits stay."""
        big = 2**62
        self.limits = replace(
            self.limits,
            max_documents_written=big,
            max_bytes_written=big,
            max_documents_scanned=big,
            max_bytes_read=big,
        )
        self._cpu_deadline = self._deadline = math.inf

    def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        info, old = self._existing(doc_id, "patch")
        new = dict(old)
        for name, value in fields.items():
            if name in ("_id", "_creationTime"):
                if value != old[name]:
                    raise ValidationError(f"patch: {name} cannot be changed", path=name)
                continue
            if value is UNSET:
                new.pop(name, None)
            else:
                new[name] = value
        self._replace(info, old, new)

    def replace(self, doc_id: str, document: Mapping[str, Any]) -> None:
        info, old = self._existing(doc_id, "replace")
        new = {k: v for k, v in document.items() if k not in ("_id", "_creationTime")}
        new["_id"], new["_creationTime"] = old["_id"], old["_creationTime"]
        self._replace(info, old, new)

    def delete(self, doc_id: str) -> None:
        info, old = self._existing(doc_id, "delete")
        writer = self._writer()
        old_keys = info.index_keys(old)
        for index_id, key in old_keys.items():
            writer.delete_index_entry(index_id, key)
        writer.delete_document(doc_id)
        if info.search_indexes:
            update_search_entries(writer, info, doc_id, old, None)
        if info.vector_indexes:
            update_vector_entries(writer, info.vector_indexes.values(), doc_id, old, None)
        self._record_write(Write(info.name, doc_id, old_keys, {}, None, previous=old), 0)
        if self.on_change is not None:
            self.on_change(self, DocumentChange(info.name, "delete", doc_id, old, None))

    def _replace(self, info: TableInfo, old: Document, new: Document) -> None:
        user = {k: v for k, v in new.items() if not k.startswith("_")}
        for name in new:
            if name.startswith("_") and name not in ("_id", "_creationTime"):
                raise ValidationError(
                    f"{info.name}.{name}: fields starting with '_' are reserved",
                    path=name,
                    code="SchemaValidationError",
                )
        checked = self._validated(info.name, user)
        doc = {"_id": old["_id"], "_creationTime": old["_creationTime"], **checked}
        self._store(info, doc["_id"], info.index_keys(old), doc, previous=old)
        if self.on_change is not None:
            self.on_change(self, DocumentChange(info.name, "update", doc["_id"], old, doc))

    def _store(
        self,
        info: TableInfo,
        doc_id: str,
        old_keys: dict[int, bytes],
        doc: Document,
        previous: Document | None = None,
    ) -> None:
        definition = self.schema.tables.get(info.name)
        if definition is not None and definition.vector_indexes:
            from livebase.engine.vector_search import check_document_vectors

            check_document_vectors(self, info.name, doc)
        text = encode_document(doc)
        if len(text) > self.limits.max_document_bytes:
            raise LimitExceededError(
                f"document in {info.name!r} is {len(text)} bytes; the limit is "
                f"{self.limits.max_document_bytes} bytes",
                code="DocumentTooLarge",
            )
        writer = self._writer()
        new_keys = info.index_keys(doc)
        for index_id, key in old_keys.items():
            if new_keys.get(index_id) != key:
                writer.delete_index_entry(index_id, key)
        writer.put_index_entries(
            [
                (index_id, key, doc_id)
                for index_id, key in new_keys.items()
                if old_keys.get(index_id) != key
            ]
        )
        writer.put_document(doc_id, info.number, text)
        if info.search_indexes:
            update_search_entries(writer, info, doc_id, previous, doc)
        if info.vector_indexes:
            update_vector_entries(writer, info.vector_indexes.values(), doc_id, previous, doc)
        write = Write(info.name, doc_id, old_keys, new_keys, doc, previous, text)
        self._record_write(write, len(text))

    def _record_write(self, write: Write, size: int) -> None:
        self.writes.append(write)
        self.bytes_written += size
        if len(self.writes) > self.limits.max_documents_written:
            raise LimitExceededError(
                f"wrote more than {self.limits.max_documents_written} documents in one mutation",
                code="TooManyWrites",
            )
        if self.bytes_written > self.limits.max_bytes_written:
            raise LimitExceededError(
                f"wrote more than {self.limits.max_bytes_written} bytes in one mutation",
                code="TooManyBytesWritten",
            )

    def _existing(self, doc_id: str, op: str) -> tuple[TableInfo, Document]:
        self._check_writable()
        info = self.table_of_id(doc_id)
        old = self.get(doc_id) if info is not None else None
        if info is None or old is None:
            raise InvalidIdError(f"{op}: document {doc_id!r} does not exist")
        return info, old

    def _validated(self, table: str, fields: Document) -> Document:
        definition = self.schema.tables.get(table)
        validated = not (
            definition is None or definition.document is None or not self.schema.schema_validation
        )
        try:
            # Ints beyond 2**53 wait for the schema: the fields it declares v.int64() take them.
            check_value(fields, table, max_depth=self.limits.max_nesting, big_ints=validated)
        except InvalidValueError as exc:
            raise ValidationError(exc.message, code="SchemaValidationError") from None
        if definition is None or definition.document is None or not validated:
            return fields
        try:
            result: Document = definition.document.validate(fields, "", self.table_name_of)
        except ValidationError as exc:
            raise ValidationError(
                f"document for table {table!r} does not match the schema: {exc.message}",
                path=exc.path,
                code="SchemaValidationError",
            ) from None
        return result

    def _table_for_write(self, table: str) -> TableInfo:
        info = self.catalog.tables.get(table)
        if info is not None:
            return info
        if not table or not table.replace("_", "a").isalnum() or table.startswith("_"):
            raise ValidationError(f"invalid table name {table!r}", code="InvalidTableName")
        self.catalog = self.catalog.with_table(table)
        self.catalog_changed = True
        return self.catalog.tables[table]

    def _creation_time(self) -> float:
        ct = max(self.now_ms, self._last_creation_time + 0.001)
        self._last_creation_time = ct
        return ct

    def _check_writable(self) -> None:
        if not self.writable:
            raise ReadOnlyError("queries cannot write; use a mutation")
        self.check_deadline()

    def _writer(self) -> StorageWriter:
        assert isinstance(self.store, StorageWriter)
        return self.store


def update_search_entries(
    writer: StorageWriter, info: TableInfo, doc_id: str, old: Document | None, new: Document | None
) -> None:
    """Keep the table's full-text search indexes in step with one write, in its transaction."""
    indexes = [(s.index_id, s.search_field, s.filter_fields) for s in info.search_indexes.values()]
    update_entries(writer, indexes, doc_id, old, new)


ReadTxnFactory = Callable[[], Transaction]
