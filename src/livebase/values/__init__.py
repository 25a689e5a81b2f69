"""The Convex value model: Python types, wire JSON, ordering, index keys and document ids."""

from livebase.values.ids import id_table_number, make_id
from livebase.values.ordering import MISSING, compare_values, encode_key, prefix_successor
from livebase.values.types import Int64, Value, check_value, type_name, value_size
from livebase.values.wire import (
    decode_ts,
    dumps,
    encode_ts,
    from_wire,
    loads,
    to_clean_json,
    to_wire,
)

__all__ = [
    "MISSING",
    "Int64",
    "Value",
    "check_value",
    "compare_values",
    "decode_ts",
    "dumps",
    "encode_key",
    "encode_ts",
    "from_wire",
    "id_table_number",
    "loads",
    "make_id",
    "prefix_successor",
    "to_clean_json",
    "to_wire",
    "type_name",
    "value_size",
]
