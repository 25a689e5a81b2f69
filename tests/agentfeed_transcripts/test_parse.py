"""The transcript parser and the price table, without a server: the per-response token dedup,
the split per model, events and their deterministic ids, costs from an edited pricing file,
unknown models, and where the files are looked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentfeed import pricing, transcripts
from tests.agentfeed_transcripts.fixtures import (
    HAIKU,
    HAIKU_TOKENS,
    MYSTERY,
    S1,
    S1_COST,
    S1_EVENT_TYPES,
    S1_TOKENS,
    S2,
    SONNET,
    SONNET_TOKENS,
    write_projects,
)


@pytest.fixture
def scan(tmp_path: Path) -> transcripts.Scan:
    return transcripts.scan(transcripts.find_files([write_projects(tmp_path / "projects")]))


def sessions(scan: transcripts.Scan) -> dict[str, transcripts.Session]:
    return {s.session_id: s for s in scan.sessions}


def tokens(t: transcripts.Tokens) -> dict[str, int]:
    return {
        "input": t.input,
        "output": t.output,
        "cache_creation": t.cache_creation,
        "cache_read": t.cache_read,
    }


def test_usage_is_counted_once_per_api_response(scan: transcripts.Scan) -> None:
    s1 = sessions(scan)[S1]
    assert tokens(s1.tokens) == S1_TOKENS  # subagent usage included
    assert tokens(s1.usage[SONNET].tokens) == SONNET_TOKENS
    assert tokens(s1.usage[HAIKU].tokens) == HAIKU_TOKENS
    assert (s1.usage[SONNET].requests, s1.usage[HAIKU].requests) == (3, 3)
    assert "<synthetic>" not in s1.usage  # zero usage, no model
    # msg_1 is on three lines (thinking, tool_use, a streamed copy), msg_3 on two (no requestId)
    assert scan.duplicate_lines == 3
    assert scan.responses == 8
    naive = sum(
        json.loads(line)["message"]["usage"]["output_tokens"]
        for path in Path(s1.transcript_path or "").parent.rglob("*.jsonl")
        for line in path.read_text().splitlines()
        if line.startswith("{") and '"assistant"' in line and S1 in line
    )
    assert naive > S1_TOKENS["output"]  # what summing every line would give


def test_the_largest_line_of_a_response_is_kept(tmp_path: Path) -> None:
    base = {"type": "assistant", "timestamp": "2026-01-01T00:00:00Z", "requestId": "r"}
    lines = [
        {**base, "message": {"id": "m", "model": SONNET, "usage": {"output_tokens": n}}}
        for n in (3, 90, 40)
    ]
    other_request = {**lines[0], "requestId": "r2"}  # same message id, other request: counted
    path = tmp_path / "p" / "s.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(x) for x in [*lines, other_request]))
    result = transcripts.scan(transcripts.find_files([tmp_path]))
    assert result.sessions[0].tokens.output == 93


def test_events_map_onto_hook_events(scan: transcripts.Scan) -> None:
    s1 = sessions(scan)[S1]
    assert [e["hook_event_name"] for e in s1.events] == S1_EVENT_TYPES
    assert s1.cwd == "/home/u/app" and s1.model == SONNET
    by_type: dict[str, list[dict]] = {}
    for e in s1.events:
        by_type.setdefault(e["hook_event_name"], []).append(e)
    prompts = [e["prompt"] for e in by_type["UserPromptSubmit"]]
    assert prompts == ["Fix the tests", "/compact"]  # isMeta and the command wrapper handled
    pre = {e["tool_use_id"]: e for e in by_type["PreToolUse"]}
    assert pre["toolu_1"]["tool_input"] == {"command": "pytest -q"}
    assert pre["toolu_s1"]["agent_id"] == "abc" and "agent_id" not in pre["toolu_1"]
    post = by_type["PostToolUse"][1]
    assert post["tool_use_id"] == "toolu_1" and post["tool_response"]["stdout"] == "1 failed"
    failure = by_type["PostToolUseFailure"][0]
    assert failure["tool_name"] == "Read" and failure["error"] == "File does not exist."
    assert [e["last_assistant_message"] for e in by_type["Stop"]] == ["Done: fixed.", "Compacted."]
    assert all(e["event_id"].startswith("transcript:") for e in s1.events)
    assert all(e["agentfeed_origin"] == "transcript" for e in s1.events)
    assert len({e["event_id"] for e in s1.events}) == len(s1.events)
    assert scan.bad_lines == 1 and dict(scan.unknown_types) == {"weird-new-type": 1}


def test_event_ids_are_deterministic(tmp_path: Path, scan: transcripts.Scan) -> None:
    again = transcripts.scan(transcripts.find_files([write_projects(tmp_path / "again")]))
    first = [e["event_id"] for s in scan.sessions for e in s.events]
    assert first == [e["event_id"] for s in again.sessions for e in s.events]


def test_cost_with_the_default_table(scan: transcripts.Scan) -> None:
    costed = transcripts.usage_doc(sessions(scan)[S1], pricing.defaults())
    assert costed.doc["cost_usd"] == pytest.approx(S1_COST)
    assert costed.unpriced == []
    unknown = transcripts.usage_doc(sessions(scan)[S2], pricing.defaults())
    assert unknown.doc["cost_usd"] is None and unknown.unpriced == [MYSTERY]
    assert unknown.doc["usage"][0]["cost_usd"] is None


def test_cost_with_an_edited_pricing_file(tmp_path: Path, scan: transcripts.Scan) -> None:
    path = tmp_path / "prices.json"
    models = {
        "claude-sonnet-4": {"input": 2, "output": 10, "cache_write": 0, "cache_read": 1},
        "claude-sonnet-4-5": {"input": 4, "output": 10, "cache_write": 0, "cache_read": 1},
        "claude-haiku": {"input": 0, "output": 0, "cache_write": 0, "cache_read": 0},
        "claude-mystery": {"input": 1000, "output": 0},
    }
    path.write_text(json.dumps({"models": models}))
    prices = pricing.load(path)
    costed = transcripts.usage_doc(sessions(scan)[S1], prices)
    by_model = {row["model"]: row["cost_usd"] for row in costed.doc["usage"]}
    # the longest matching key wins: claude-sonnet-4-5, not claude-sonnet-4
    assert by_model[SONNET] == pytest.approx((35 * 4 + 120 * 10 + 1100 * 1) / 1e6)
    assert by_model[HAIKU] == 0
    assert costed.doc["cost_usd"] == pytest.approx((35 * 4 + 120 * 10 + 1100) / 1e6)
    s2 = transcripts.usage_doc(sessions(scan)[S2], prices)
    assert s2.doc["cost_usd"] == pytest.approx(9 * 1000 / 1e6) and s2.unpriced == []


def test_pricing_file_is_written_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTFEED_HOME", str(tmp_path / "home"))
    prices = pricing.load()
    assert prices.path == tmp_path / "home" / "pricing.json"
    document = json.loads(prices.path.read_text())
    assert document["models"]["claude-sonnet-4"]["output"] == 15
    document["models"]["claude-sonnet-4"]["output"] = 1
    prices.path.write_text(json.dumps(document))
    reloaded = pricing.load()  # an edited file is kept, not overwritten
    assert reloaded.lookup(SONNET) == pricing.Price(3, 1, 3.75, 0.3)


def test_pricing_lookup_and_bad_files(tmp_path: Path) -> None:
    prices = pricing.defaults()
    assert prices.lookup("us.anthropic.claude-opus-4-1-20250805-v1:0") == pricing.Price(
        15, 75, 18.75, 1.5
    )
    assert prices.lookup("claude-opus-4-5-20251101") == pricing.Price(5, 25, 6.25, 0.5)
    assert prices.lookup("claude-sonnet-4-5[1m]") == pricing.Price(3, 15, 3.75, 0.3)
    assert prices.lookup("gpt-5") is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"x": {"input": "cheap"}}}')
    with pytest.raises(pricing.PricingError, match=r"models\.x\.input"):
        pricing.load(bad)
    bad.write_text("{")
    with pytest.raises(pricing.PricingError):
        pricing.load(bad)


def test_default_roots(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "projects").mkdir(parents=True)
    (two / "projects").mkdir(parents=True)
    env = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": f"{one},{two}, {tmp_path / 'missing'}"}
    assert transcripts.default_roots(env) == [one / "projects", two / "projects"]
    (tmp_path / ".claude" / "projects").mkdir(parents=True)
    (tmp_path / ".config" / "claude" / "projects").mkdir(parents=True)
    assert transcripts.default_roots({"HOME": str(tmp_path)}) == [
        tmp_path / ".config" / "claude" / "projects",
        tmp_path / ".claude" / "projects",
    ]
