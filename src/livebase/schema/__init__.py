"""Schema definitions: tables, validators and indexes."""

from livebase.schema.definition import (
    EMPTY_SCHEMA,
    SYSTEM_INDEXES,
    SchemaDefinition,
    TableDefinition,
    define_schema,
    define_table,
)

__all__ = [
    "EMPTY_SCHEMA",
    "SYSTEM_INDEXES",
    "SchemaDefinition",
    "TableDefinition",
    "define_schema",
    "define_table",
]
