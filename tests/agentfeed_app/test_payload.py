"""The app's pure modules: moving large fields out of line loses nothing and keeps ``raw`` small,
chunks stay under the document limit whatever JSON escaping does, and the small path helpers."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
BIG_TEXT = st.text(alphabet=st.sampled_from('ab"\\\n\x01é€😀'), min_size=0, max_size=40_000)


@pytest.fixture(scope="module")
def payload(app_modules: dict[str, ModuleType]) -> ModuleType:
    return app_modules["payload"]


@pytest.fixture(scope="module")
def normalize(app_modules: dict[str, ModuleType]) -> ModuleType:
    return app_modules["normalize"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    small=st.dictionaries(st.text(max_size=10), JSON, max_size=8),
    big=st.lists(BIG_TEXT, max_size=3),
)
def test_split_then_reassemble_gives_the_payload_back(
    payload: ModuleType, small: dict[str, Any], big: list[str]
) -> None:
    value = {**small, **{f"big{n}": text for n, text in enumerate(big)}}
    split = payload.split(value)
    assert len(split.raw) <= payload.RAW_INLINE_MAX + 2048
    assert payload.reassemble(split.raw, split.moved) == value
    for key, text in split.moved.items():
        assert key == payload.WHOLE or (key in value and len(text) > payload.MOVE_MIN)


def test_fields_move_until_the_rest_fits(payload: ModuleType) -> None:
    medium = {f"m{n}": "x" * 3000 for n in range(20)}  # 60 KiB in fields under 8 KiB each
    split = payload.split(medium)
    assert 0 < len(split.moved) < 20 and payload.WHOLE not in split.moved
    assert len(split.raw) <= payload.RAW_INLINE_MAX
    assert payload.reassemble(split.raw, split.moved) == medium

    many_large = {f"l{n}": "y" * 9000 for n in range(payload.MOVED_MAX + 1)}
    split = payload.split({"hook_event_name": "X", "event_id": "e", **many_large})
    assert list(split.moved) == [payload.WHOLE]
    slim = json.loads(split.raw)
    assert slim["hook_event_name"] == "X" and slim["event_id"] == "e"


def test_preview_keeps_the_shape_and_marks_the_cuts(payload: ModuleType) -> None:
    value = {"file_path": "/a/b.py", "content": "z" * 10_000, "items": list(range(5000))}
    shown = payload.preview(value)
    assert shown["file_path"] == "/a/b.py"
    assert shown["content"].startswith("zzz") and shown["content"].endswith("chars]")
    assert shown["items"][-1].startswith("…[+") and shown["items"][-1].endswith("items]")
    assert len(json.dumps(shown)) < 2 * payload.PREVIEW_BUDGET


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=BIG_TEXT)
def test_chunks_fit_the_limit_after_escaping(payload: ModuleType, text: str) -> None:
    limit = 1000
    pieces = payload.chunks(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(json.dumps(p, ensure_ascii=False)) <= limit for p in pieces)
    groups = payload.batches(pieces, 5 * limit)
    assert [p for group in groups for p in group] == pieces
    for group in groups:
        assert (
            len(group) == 1
            or sum(len(json.dumps(p, ensure_ascii=False)) for p in group) <= 5 * limit
        )


def test_control_characters_make_smaller_chunks(payload: ModuleType) -> None:
    text = "\x01" * 1_000_000  # six characters each once escaped
    pieces = payload.chunks(text)
    assert all(len(json.dumps(p)) <= payload.CHUNK_MAX for p in pieces)
    assert "".join(pieces) == text


def test_decode_says_why_a_body_is_unusable(payload: ModuleType) -> None:
    assert payload.decode(b'{"a": 1}').value == {"a": 1}
    assert "not UTF-8" in payload.decode(b"\xc3\x28").problem
    assert payload.decode(b"\xc3\x28").text == "\\xc3("
    assert "empty" in payload.decode(b"  \n").problem
    assert "not JSON" in payload.decode(b"{").problem


def test_paths_names_and_times(normalize: ModuleType) -> None:
    assert normalize.project_name("/home/u/app/") == "app"
    assert normalize.project_name("C:\\src\\tool") == "tool"
    assert normalize.project_path("/home/u/app/") == "/home/u/app"
    assert normalize.project_path("/") == "/"
    assert normalize.timestamp_ms(1_700_000_000) == 1_700_000_000_000.0  # seconds
    assert normalize.timestamp_ms(1_700_000_000_123) == 1_700_000_000_123.0
    assert normalize.timestamp_ms(True) is None and normalize.timestamp_ms(-5) is None
    assert normalize.day_of(1_700_000_000_000.0) == "2023-11-14"
    assert normalize.clip("a" * 100, 40).endswith("…[+60 chars]")
    assert len(normalize.clip("a" * 100, 40)) == 40
    assert normalize.clean("ok \ud800") == "ok ?"


def test_tool_subjects(normalize: ModuleType) -> None:
    line = normalize.tool_line
    assert line({"tool_name": "Bash", "tool_input": {"command": "ls\n  -la"}}) == "Bash: ls -la"
    assert line({"tool_name": "Grep", "tool_input": {"pattern": "TODO", "path": "."}}) == (
        "Grep: TODO"
    )
    assert line({"tool_name": "Task", "tool_input": {"description": "explore"}}) == "Task: explore"
    assert line({"tool_name": "TodoWrite", "tool_input": {"todos": [1, 2]}}) == "TodoWrite: 2 todos"
    assert line({"tool_name": "mcp__gh__issue", "tool_input": {"n": 3, "title": "bug"}}) == (
        "mcp__gh__issue: bug"
    )
    assert line({"tool_name": "Weird", "tool_input": "not an object"}) == "Weird"
