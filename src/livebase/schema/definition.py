"""``define_schema`` / ``define_table``: the tables, field validators and indexes of an app.

A table listed in the schema has every write checked against its validator; a table not listed
(or every table, when the app has no ``schema.py``) is schemaless. Every table, listed or not, has
the ``by_id`` and ``by_creation_time`` indexes; user indexes end with ``_creationTime`` as the
tiebreak, and ``_id`` after it, so index keys are unique.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livebase.search.tokenizer import MAX_FILTER_FIELDS, MAX_SEARCH_INDEXES_PER_TABLE
from livebase.values.validators import Validator, _Object, v
from livebase.vectors.definition import VectorIndexDefinition, make_definition

SYSTEM_INDEXES = ("by_id", "by_creation_time")
MAX_INDEX_FIELDS = 16
MAX_INDEXES_PER_TABLE = 32
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class SearchIndexDefinition:
    search_field: str
    filter_fields: tuple[str, ...] = ()


@dataclass
class TableDefinition:
    """One table: a document validator (or ``None`` for any document) and named indexes."""

    document: Validator | None
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    search_indexes: dict[str, SearchIndexDefinition] = field(default_factory=dict)
    vector_indexes: dict[str, VectorIndexDefinition] = field(default_factory=dict)

    def index(self, name: str, fields: Sequence[str]) -> TableDefinition:
        if not _NAME.match(name) or name in SYSTEM_INDEXES:
            raise ValueError(f"invalid index name {name!r}")
        if name in self.indexes or name in self.search_indexes:
            raise ValueError(f"index {name!r} is defined twice")
        fields = tuple(fields)
        if not fields or len(fields) >= MAX_INDEX_FIELDS:
            raise ValueError(f"index {name!r} needs 1..{MAX_INDEX_FIELDS - 1} fields")
        for f in fields:
            if f in ("_id", "_creationTime"):
                raise ValueError(f"index {name!r}: {f} is added automatically; do not list it")
        if len(self.indexes) >= MAX_INDEXES_PER_TABLE:
            raise ValueError(f"at most {MAX_INDEXES_PER_TABLE} indexes per table")
        self.indexes[name] = fields
        return self

    def search_index(
        self, name: str, *, search_field: str, filter_fields: Sequence[str] = ()
    ) -> TableDefinition:
        """A full-text search index on the string field ``search_field``, with equality
        filters on ``filter_fields`` (see ``docs/search.md``)."""
        if not _NAME.match(name) or name in SYSTEM_INDEXES:
            raise ValueError(f"invalid search index name {name!r}")
        if name in self.indexes or name in self.search_indexes:
            raise ValueError(f"index {name!r} is defined twice")
        if len(self.search_indexes) >= MAX_SEARCH_INDEXES_PER_TABLE:
            raise ValueError(f"at most {MAX_SEARCH_INDEXES_PER_TABLE} search indexes per table")
        filters = tuple(filter_fields)
        if len(filters) > MAX_FILTER_FIELDS:
            raise ValueError(f"search index {name!r}: at most {MAX_FILTER_FIELDS} filter fields")
        for f in (search_field, *filters):
            if not isinstance(f, str) or not f or f.startswith("_"):
                raise ValueError(f"search index {name!r}: {f!r} is not a field name")
        if len(set(filters)) != len(filters) or search_field in filters:
            raise ValueError(f"search index {name!r}: a field is listed twice")
        self.search_indexes[name] = SearchIndexDefinition(search_field, filters)
        return self

    def vector_index(
        self,
        name: str,
        *,
        vector_field: str,
        dimensions: int,
        filter_fields: Sequence[str] = (),
        metric: str = "cosine",
    ) -> TableDefinition:
        """A vector index on ``vector_field`` (a list of ``dimensions`` floats), with equality
        filters on ``filter_fields`` (see ``docs/vector-search.md``)."""
        if not _NAME.match(name) or name in SYSTEM_INDEXES:
            raise ValueError(f"invalid vector index name {name!r}")
        if name in self.indexes or name in self.search_indexes or name in self.vector_indexes:
            raise ValueError(f"index {name!r} is defined twice")
        self.vector_indexes[name] = make_definition(
            name, vector_field, dimensions, filter_fields, metric
        )
        return self

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "document": self.document.to_json() if self.document else None,
            "indexes": {k: list(f) for k, f in self.indexes.items()},
        }
        if self.search_indexes:  # absent when empty: older schemas keep their fingerprint
            out["searchIndexes"] = {
                k: {"searchField": s.search_field, "filterFields": list(s.filter_fields)}
                for k, s in self.search_indexes.items()
            }
        if self.vector_indexes:  # absent when empty, as searchIndexes
            out["vectorIndexes"] = {k: d.to_json() for k, d in self.vector_indexes.items()}
        return out


def define_table(fields: Mapping[str, Validator] | Validator | None = None) -> TableDefinition:
    """A table whose documents have ``fields`` (an object validator is built from a dict)."""
    if fields is None:
        return TableDefinition(None)
    if isinstance(fields, Validator):
        return TableDefinition(fields)
    for name in fields:
        if name.startswith("_"):
            raise ValueError(f"field {name!r}: names starting with '_' are reserved")
    return TableDefinition(v.object(fields))


@dataclass
class SchemaDefinition:
    tables: dict[str, TableDefinition]
    schema_validation: bool = True

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": {name: t.to_json() for name, t in sorted(self.tables.items())},
            "schemaValidation": self.schema_validation,
        }

    def table_fields(self, table: str) -> dict[str, Validator] | None:
        t = self.tables.get(table)
        if t is None or not isinstance(t.document, _Object):
            return None
        return t.document.fields


def define_schema(
    tables: Mapping[str, TableDefinition], *, schema_validation: bool = True
) -> SchemaDefinition:
    for name, t in tables.items():
        if not _NAME.match(name):
            raise ValueError(f"invalid table name {name!r}: letters, digits, '_', at most 64")
        if not isinstance(t, TableDefinition):
            raise TypeError(f"table {name!r} must be define_table(...), got {type(t).__name__}")
    return SchemaDefinition(dict(tables), schema_validation)


EMPTY_SCHEMA = SchemaDefinition({}, schema_validation=False)
