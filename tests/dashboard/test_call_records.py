"""The call records' redaction and caps (``livebase.functions.call_records``): no secret-looking
key's value is kept, long values are cut saying how much, and the ring keeps the newest calls."""

from __future__ import annotations

import json

from livebase.functions.call_records import CallRecord, CallRecords, capped_json, redact


def test_secret_keys_are_redacted_at_any_depth() -> None:
    args = {
        "email": "a@example.com",
        "password": "hunter22",
        "nested": [{"apiKey": "k", "refresh_token": "t", "note": "kept"}],
        "clientSecret": {"anything": 1},
        "Authorization": "Bearer x",
    }
    text = capped_json(args)
    for secret in ("hunter22", '"k"', '"t"', "Bearer x", '"anything"'):
        assert secret not in text
    assert json.loads(text) == redact(args)
    assert json.loads(text)["nested"][0]["note"] == "kept"
    assert json.loads(text)["email"] == "a@example.com"


def test_long_values_are_cut_saying_how_much() -> None:
    text = capped_json({"body": "x" * 10_000}, cap=100)
    assert text.startswith('{"body": "xxx') and len(text) < 200
    assert text.endswith(f"({len(json.dumps({'body': 'x' * 10_000})) - 100} more characters)")


def test_the_ring_keeps_the_newest_calls() -> None:
    ring = CallRecords(kept=3)
    for i in range(5):
        ring.add(
            CallRecord(f"r{i}", "m:f", "mutation", "admin", "{}", "null", 1.0, "success", None)
        )
    assert ring.get("r0") is None and ring.get("r1") is None
    assert [ring.get(f"r{i}") is not None for i in (2, 3, 4)] == [True, True, True]
