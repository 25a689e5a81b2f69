"""Snapshot pieces without a server: Convex ids, id renumbering, the value encoding and reading
a ZIP's layout (also one nested under a top folder)."""

from __future__ import annotations

import io
import zipfile

from livebase import Int64
from livebase.snapshot.layout import open_snapshot
from livebase.snapshot.values import from_export, to_export
from livebase.values.ids import id_table_number, make_id, with_table_number
from tests.snapshot.test_export_import import convex_id, int64


def test_convex_ids_are_ids_and_renumber_both_ways() -> None:
    cid = convex_id(10007)
    assert len(cid) == 32 and id_table_number(cid) == 10007
    moved = with_table_number(cid, 123456)
    assert id_table_number(moved) == 123456 and with_table_number(moved, 10007) == cid
    own = make_id(10001, lambda n: bytes(range(n)))
    assert with_table_number(with_table_number(own, 5), 10001) == own


def test_export_encoding_round_trips() -> None:
    value = {"i": Int64(2**62), "f": 3, "h": 0.5, "b": b"\x00\xff", "n": float("-inf"),
             "l": [1, None, "s"]}  # fmt: skip
    encoded = to_export(value)
    assert encoded["i"] == 2**62 and type(encoded["i"]) is int  # int64: a bare JSON integer
    assert encoded["f"] == 3.0 and type(encoded["f"]) is float  # float64: written as 3.0
    assert encoded["b"] == {"$bytes": "AP8="}
    back = from_export(encoded)
    assert back == value and type(back["i"]) is Int64 and type(back["f"]) is int
    assert type(back["l"][0]) is int  # 1.0 read back: the number 1
    assert from_export({"x": int64(-5)}) == {"x": Int64(-5)}
    assert type(from_export({"x": int64(-5)})["x"]) is Int64


def test_layout_under_a_top_folder_with_storage_and_components() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("snap/_tables/documents.jsonl", '{"name": "a", "id": 10003}\n')
        z.writestr("snap/a/documents.jsonl", "{}\n")
        z.writestr("snap/_storage/documents.jsonl", "")
        z.writestr("snap/_storage/kg2abc", b"abc")
        z.writestr("snap/_components/auth/_tables/documents.jsonl", "")
    with zipfile.ZipFile(buffer) as z:
        snapshot = open_snapshot(z)
        assert [(t.name, t.number, t.member) for t in snapshot.tables] == [
            ("a", 10003, "snap/a/documents.jsonl")
        ]
        assert snapshot.skipped == ["_components/auth (components are not supported)"]
        assert snapshot.storage is not None
        assert snapshot.storage.member == "snap/_storage/documents.jsonl"
        assert snapshot.blobs == {"kg2abc": "snap/_storage/kg2abc"}
        assert list(snapshot.lines(snapshot.tables[0])) == [(1, {})]
