"""The catalog: table names and numbers, index ids and fields, and the applied schema fingerprint.

It is stored as one JSON global and treated as an immutable value: a transaction that creates a
table builds a new catalog, which becomes current only when that transaction commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from livebase.values.ordering import MISSING, encode_key

CATALOG_KEY = "catalog"
FIRST_TABLE_NUMBER = 10001
BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"


@dataclass(frozen=True)
class IndexInfo:
    index_id: int
    fields: tuple[str, ...]  # user fields; system indexes have none of their own

    def key_for(self, name: str, doc: dict[str, Any]) -> bytes:
        if name == BY_ID:
            return encode_key((doc["_id"],))
        values = [_field_value(doc, f) for f in self.fields]
        values.append(doc["_creationTime"])
        values.append(doc["_id"])
        return encode_key(values)


def _field_value(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


@dataclass(frozen=True)
class SearchIndexInfo:
    index_id: int
    search_field: str
    filter_fields: tuple[str, ...]


@dataclass(frozen=True)
class VectorIndexInfo:
    """A vector index as built in storage (``livebase.engine.vector_migration``)."""

    index_id: int
    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...]
    metric: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.index_id,
            "vectorField": self.vector_field,
            "dimensions": self.dimensions,
            "filterFields": list(self.filter_fields),
            "metric": self.metric,
        }

    @classmethod
    def from_json(cls, i: dict[str, Any]) -> VectorIndexInfo:
        return cls(
            i["id"], i["vectorField"], i["dimensions"], tuple(i["filterFields"]), i["metric"]
        )


@dataclass(frozen=True)
class TableInfo:
    name: str
    number: int
    indexes: dict[str, IndexInfo] = field(default_factory=dict)
    search_indexes: dict[str, SearchIndexInfo] = field(default_factory=dict)
    vector_indexes: dict[str, VectorIndexInfo] = field(default_factory=dict)

    def index_keys(self, doc: dict[str, Any]) -> dict[int, bytes]:
        """Each index's key for ``doc`` (``IndexInfo.key_for``), the ``(_creationTime, _id)``
        every key but ``by_id``'s ends with encoded once (the encoding is a concatenation)."""
        tail = encode_key((doc["_creationTime"], doc["_id"]))
        return {
            info.index_id: info.key_for(name, doc)
            if name == BY_ID
            else encode_key([_field_value(doc, f) for f in info.fields]) + tail
            for name, info in self.indexes.items()
        }


VALUE_MODEL = 2
"""1: a Python ``int`` was stored as int64. 2: it is a float64 number and int64 is declared
(``v.int64()``, ``Int64``); opening a model-1 database migrates its documents (see
``livebase.engine.migration``)."""


@dataclass(frozen=True)
class Catalog:
    tables: dict[str, TableInfo] = field(default_factory=dict)
    next_table_number: int = FIRST_TABLE_NUMBER
    next_index_id: int = 1
    schema_fingerprint: str = ""
    value_model: int = VALUE_MODEL
    """The number model the stored documents follow (see ``VALUE_MODEL``)."""

    def by_number(self, number: int) -> TableInfo | None:
        for t in self.tables.values():
            if t.number == number:
                return t
        return None

    def with_table(self, name: str) -> Catalog:
        """A catalog that also has table ``name`` with its two system indexes."""
        indexes = {
            BY_ID: IndexInfo(self.next_index_id, ()),
            BY_CREATION_TIME: IndexInfo(self.next_index_id + 1, ()),
        }
        table = TableInfo(name, self.next_table_number, indexes)
        return replace(
            self,
            tables={**self.tables, name: table},
            next_table_number=self.next_table_number + 1,
            next_index_id=self.next_index_id + 2,
        )

    def with_index(self, table: str, name: str, fields: tuple[str, ...]) -> Catalog:
        t = self.tables[table]
        new_t = replace(t, indexes={**t.indexes, name: IndexInfo(self.next_index_id, fields)})
        return replace(
            self, tables={**self.tables, table: new_t}, next_index_id=self.next_index_id + 1
        )

    def with_search_index(self, table: str, name: str, info: SearchIndexInfo) -> Catalog:
        t = self.tables[table]
        new_t = replace(t, search_indexes={**t.search_indexes, name: info})
        return replace(
            self, tables={**self.tables, table: new_t}, next_index_id=self.next_index_id + 1
        )

    def without_search_index(self, table: str, name: str) -> Catalog:
        t = self.tables[table]
        kept = {k: i for k, i in t.search_indexes.items() if k != name}
        return replace(self, tables={**self.tables, table: replace(t, search_indexes=kept)})

    def with_vector_index(self, table: str, name: str, info: VectorIndexInfo) -> Catalog:
        t = self.tables[table]
        new_t = replace(t, vector_indexes={**t.vector_indexes, name: info})
        return replace(
            self, tables={**self.tables, table: new_t}, next_index_id=self.next_index_id + 1
        )

    def without_vector_index(self, table: str, name: str) -> Catalog:
        t = self.tables[table]
        kept = {k: i for k, i in t.vector_indexes.items() if k != name}
        return replace(self, tables={**self.tables, table: replace(t, vector_indexes=kept)})

    def without_index(self, table: str, name: str) -> Catalog:
        t = self.tables[table]
        indexes = {k: i for k, i in t.indexes.items() if k != name}
        return replace(self, tables={**self.tables, table: replace(t, indexes=indexes)})

    def to_json(self) -> str:
        return json.dumps(
            {
                "tables": {
                    name: {
                        "number": t.number,
                        "indexes": {
                            iname: {"id": i.index_id, "fields": list(i.fields)}
                            for iname, i in t.indexes.items()
                        },
                        **_search_indexes_json(t),
                        **(
                            {"vectorIndexes": {n: i.to_json() for n, i in t.vector_indexes.items()}}
                            if t.vector_indexes
                            else {}
                        ),
                    }
                    for name, t in self.tables.items()
                },
                "nextTableNumber": self.next_table_number,
                "nextIndexId": self.next_index_id,
                "schemaFingerprint": self.schema_fingerprint,
                "valueModel": self.value_model,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Catalog:
        if not text:
            return cls()
        data = json.loads(text)
        tables = {
            name: TableInfo(
                name,
                t["number"],
                {
                    iname: IndexInfo(i["id"], tuple(i["fields"]))
                    for iname, i in t["indexes"].items()
                },
                {
                    iname: SearchIndexInfo(i["id"], i["searchField"], tuple(i["filterFields"]))
                    for iname, i in t.get("searchIndexes", {}).items()
                },
                {
                    iname: VectorIndexInfo.from_json(i)
                    for iname, i in t.get("vectorIndexes", {}).items()
                },
            )
            for name, t in data["tables"].items()
        }
        return cls(
            tables,
            data["nextTableNumber"],
            data["nextIndexId"],
            data.get("schemaFingerprint", ""),
            data.get("valueModel", 1),
        )


def _search_indexes_json(t: TableInfo) -> dict[str, Any]:
    if not t.search_indexes:
        return {}
    return {
        "searchIndexes": {
            name: {
                "id": i.index_id,
                "searchField": i.search_field,
                "filterFields": list(i.filter_fields),
            }
            for name, i in t.search_indexes.items()
        }
    }
