"""``POST /event`` and ``POST /activity`` on a real server: every hook event type stored with its
normalised fields, replays stored once, unusable payloads kept with a reason (and still 200),
large fields out of line, the raw payload given back whole, and the API key."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed, add_owner, launch, sign_in
from tests.agentfeed_app.payloads import CWD, EVERY_EVENT, FUTURE, hook, now_ms

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
_tokens: dict[str, str] = {}


def raw_of(feed: Agentfeed, event_id: str) -> Any:
    """An event's payload as received: what the signed-in owner gets from ``GET /raw``."""
    url = feed.server.url
    if url not in _tokens:
        add_owner(feed.server)
        _tokens[url] = sign_in(url)
    headers = {"X-Agentfeed-Key": KEY, "Authorization": f"Bearer {_tokens[url]}"}
    response = httpx.get(f"{url}/raw/{event_id}", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_hook_event_type_is_stored_with_its_normalised_fields(
    agentfeed: Agentfeed, app_modules: dict[str, Any]
) -> None:
    known = app_modules["normalize"].KNOWN_TYPES
    assert {name for name, _, _ in EVERY_EVENT} == known | {"SomeFutureEvent"}
    session_id = f"every-{uuid.uuid4()}"
    sent = []
    start = now_ms()
    for n, (name, fields, expected) in enumerate(EVERY_EVENT):
        payload = hook(name, session_id, ts=start + n, **fields)
        result = agentfeed.post(payload)
        assert result["status"] == "stored", (name, result)
        sent.append((payload, expected))

    for payload, expected in sent:
        event = agentfeed.event(payload["event_id"])
        name = payload["hook_event_name"]
        assert event["type"] == name
        assert event["origin"] == "hook" and event["source"] == "claude-code"
        assert event["session_id"] == session_id
        assert event["cwd"] == CWD and event["project"] == CWD
        assert event["timestamp"] == payload["timestamp"]
        assert event["permission_mode"] == "default"
        assert event["transcript_path"] == payload["transcript_path"]
        for field, value in expected.items():
            assert event.get(field) == value, (name, field, event.get(field))
        if "success" not in expected:
            assert "success" not in event, name
        # The raw payload is kept beside the normalised fields, unknown fields included.
        assert json.loads(event["raw"]) == payload
        assert json.loads(event["raw"])["future_field"] == FUTURE["future_field"]
        assert event["blobs"] == []

    timeline = agentfeed.timeline(session_id)
    assert [e["type"] for e in timeline] == [name for name, _, _ in EVERY_EVENT]
    assert all("raw" not in e for e in timeline)  # listings leave the raw text out
    assert agentfeed.session(session_id)["event_count"] == len(EVERY_EVENT)


def test_a_replayed_event_is_stored_once(agentfeed: Agentfeed) -> None:
    session_id = f"replay-{uuid.uuid4()}"
    payload = hook("UserPromptSubmit", session_id, prompt="run the tests")
    first = agentfeed.post(payload)
    assert first["status"] == "stored"
    for _ in range(3):
        again = agentfeed.post(payload)
        assert again == {"status": "duplicate", "id": first["id"], "event_id": payload["event_id"]}
    assert len(agentfeed.timeline(session_id)) == 1
    session = agentfeed.session(session_id)
    assert session["event_count"] == 1 and session["prompt_count"] == 1


def rejections(feed: Agentfeed) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = feed.query("events:rejected", {"limit": 100})
    return rows


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the body is not JSON"),
        (b"", "the body is empty"),
        (b"\xff\xfe not utf-8", "the body is not UTF-8"),
        (b"[1, 2, 3]", "the body is not a JSON object"),
        (b'"just a string"', "the body is not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"event_id": "e", "timestamp": 1, "raw": "not json at all"}', "stdin was not JSON"),
        (b'{"session_id": "s", "event_id": "e2"}', "no hook_event_name"),
        (b'{"hook_event_name": 5, "event_id": "e3"}', "hook_event_name must be"),
        (b'{"hook_event_name": "Stop", "event_id": 7}', "event_id must be"),
    ],
)
def test_an_unusable_payload_is_kept_with_its_reason_and_answered_200(
    agentfeed: Agentfeed, body: bytes, reason: str
) -> None:
    result = agentfeed.post(content=body)
    assert result["status"] == "rejected"
    assert reason in result["reason"]
    kept = next(r for r in rejections(agentfeed) if r["_id"] == result["id"])
    assert kept["endpoint"] == "event"
    assert reason in kept["reason"]
    assert kept["body_bytes"] == len(body)
    text = body.decode("utf-8", "backslashreplace")
    if body.startswith(b'{"'):  # parsed, then kept as the JSON it was
        assert json.loads(kept["body"]) == json.loads(body)
    elif len(text) <= 64 * 1024:
        assert kept["body"] == text and kept["blobs"] == []
    else:  # an excerpt inline, all of it in a blob
        assert text.startswith(kept["body"][:1000])
        assert [ref["field"] for ref in kept["blobs"]] == ["body"]


def test_a_huge_unusable_body_is_kept_whole_out_of_line(agentfeed: Agentfeed) -> None:
    text = "not json: " + "x" * 300_000
    result = agentfeed.post(content=text.encode())
    assert result["status"] == "rejected"
    kept = next(r for r in rejections(agentfeed) if r["_id"] == result["id"])
    assert len(kept["body"]) <= 64 * 1024 and kept["body"].startswith("not json: xxx")
    [ref] = kept["blobs"]
    assert ref["field"] == "body" and ref["bytes"] == len(text)
    chunk = agentfeed.query("blobs:chunk", {"blob": ref["blob"], "index": 0})
    assert chunk["text"] == text and chunk["chunks"] == 1


def test_a_large_write_is_stored_out_of_line(agentfeed: Agentfeed) -> None:
    """A 3 MiB file written: the event keeps an excerpt, a file the whole content (with its size,
    sha256 and content type in the event's reference), and /raw gives back the payload
    exactly."""
    session_id = f"large-{uuid.uuid4()}"
    content = "".join(f"line {n}: print('hello')\n" for n in range(120_000))
    assert len(content) > 3_000_000
    tool_input = {"file_path": f"{CWD}/big.py", "content": content}
    payload = hook(
        "PostToolUse",
        session_id,
        tool_name="Write",
        tool_input=tool_input,
        tool_response={"filePath": f"{CWD}/big.py", "success": True},
        tool_use_id="toolu_big",
    )
    result = agentfeed.post(payload)
    assert result["status"] == "stored"

    event = agentfeed.event(payload["event_id"])
    assert len(json.dumps(event)) < 16 * 1024  # the event document stays small
    assert event["summary"] == f"Write: {CWD}/big.py"
    assert event["tool_input"].startswith('{"file_path":"/home/u/app/big.py","content":"line 0')
    assert len(event["tool_input"]) <= 2000
    [ref] = event["blobs"]
    assert ref["field"] == "tool_input"
    assert ref["bytes"] == len(json.dumps(tool_input, separators=(",", ":")))
    slim = json.loads(event["raw"])
    assert slim["tool_input"]["file_path"] == f"{CWD}/big.py"
    assert "…[+" in slim["tool_input"]["content"]  # a preview, marked as cut

    text = json.dumps(tool_input, separators=(",", ":"), ensure_ascii=False).encode()
    assert ref["sha256"] == hashlib.sha256(text).hexdigest()
    assert ref["content_type"] == "application/json" and ref["file"]
    assert agentfeed.query("blobs:chunk", {"blob": ref["blob"], "index": 0}) is None  # no chunks
    assert raw_of(agentfeed, payload["event_id"]) == payload

    # A replay of a large event is recognised before its fields are uploaded again.
    again = agentfeed.post(payload)
    assert again == {"status": "duplicate", "id": result["id"], "event_id": payload["event_id"]}
    assert len(agentfeed.timeline(session_id)) == 1


def test_a_body_near_the_http_limit_is_stored(agentfeed: Agentfeed) -> None:
    """18 MiB of output that JSON must escape heavily: more than one mutation may write, so it
    is uploaded in batches; the event is stored and the output comes back whole."""
    session_id = f"huge-{uuid.uuid4()}"
    stdout = 'a "quoted"\tline\\n\n' * 800_000
    payload = hook(
        "PostToolUse",
        session_id,
        tool_name="Bash",
        tool_input={"command": "cat big.log"},
        tool_response={"stdout": stdout, "stderr": "", "interrupted": False},
        tool_use_id="toolu_huge",
    )
    body = json.dumps(payload).encode()
    assert 17 * 1024 * 1024 < len(body) < 20 * 1024 * 1024
    result = agentfeed.post(content=body)
    assert result["status"] == "stored", result
    event = agentfeed.event(payload["event_id"])
    assert event["summary"] == "Bash: cat big.log"
    assert event["raw_bytes"] == len(body)
    assert [ref["field"] for ref in event["blobs"]] == ["tool_response"]
    assert raw_of(agentfeed, payload["event_id"]) == payload


def test_a_payload_with_many_fields_goes_out_of_line_whole(agentfeed: Agentfeed) -> None:
    session_id = f"wide-{uuid.uuid4()}"
    wide = {f"field_{n}": f"value {n}" for n in range(5000)}
    payload = hook("SomeWideEvent", session_id, **wide)
    assert agentfeed.post(payload)["status"] == "stored"
    event = agentfeed.event(payload["event_id"])
    assert [ref["field"] for ref in event["blobs"]] == ["*"]
    assert len(event["raw"]) <= 32 * 1024
    assert event["type"] == "SomeWideEvent" and event["session_id"] == session_id
    assert raw_of(agentfeed, payload["event_id"]) == payload


def test_keys_json_cannot_store_are_kept_in_raw(agentfeed: Agentfeed) -> None:
    """``$``-keys, non-ASCII keys, integers beyond int64 and deep nesting: fine in raw text."""
    session_id = f"odd-{uuid.uuid4()}"
    deep: Any = "bottom"
    for _ in range(40):
        deep = {"d": deep}
    tool_input = {"$schema": "x", "ключ": "значение", "big": 2**80, "deep": deep, "s": "\ud800"}
    payload = hook(
        "PreToolUse", session_id, tool_name="mcp__db__query", tool_input=tool_input,
        tool_use_id="toolu_odd",
    )  # fmt: skip
    assert agentfeed.post(content=json.dumps(payload).encode())["status"] == "stored"
    event = agentfeed.event(payload["event_id"])
    assert event["summary"] == "mcp__db__query: x"
    back = json.loads(event["raw"])["tool_input"]
    assert back["big"] == 2**80 and back["ключ"] == "значение" and back["deep"] == deep


def test_activity_from_other_sources(agentfeed: Agentfeed) -> None:
    session_id = f"term-{uuid.uuid4()}"
    ts = now_ms()
    activity = {
        "source": "terminal",
        "type": "command",
        "summary": "git push origin main",
        "details": {"exit_code": 0, "duration_s": 1.5},
        "timestamp": ts,
        "sessionId": session_id,
        "cwd": "/home/u/other",
        "id": "cmd-1",
    }
    stored = agentfeed.post(activity, path="/activity")
    assert stored["status"] == "stored"
    again = agentfeed.post(activity, path="/activity")
    assert again == {"status": "duplicate", "id": stored["id"], "event_id": stored["event_id"]}
    event = agentfeed.event("terminal:cmd-1")
    assert event["origin"] == "activity" and event["source"] == "terminal"
    assert event["type"] == "command" and event["summary"] == "git push origin main"
    assert json.loads(event["details"]) == {"exit_code": 0, "duration_s": 1.5}
    assert event["timestamp"] == ts and event["session_id"] == session_id
    assert event["project"] == "/home/u/other"
    assert agentfeed.session(session_id)["source"] == "terminal"

    # Without an id, every post is a new event; a timestamp in seconds is understood.
    seconds = ts // 1000
    note = {"source": "manual", "type": "note", "summary": "lunch", "timestamp": seconds}
    first = agentfeed.post(note, path="/activity")
    second = agentfeed.post(note, path="/activity")
    assert first["status"] == second["status"] == "stored" and first["id"] != second["id"]
    page = agentfeed.query(
        "events:feed",
        {"type": "note", "paginationOpts": {"numItems": 10, "cursor": None}},
    )["page"]
    assert [e["timestamp"] for e in page] == [seconds * 1000.0] * 2

    # An unusable activity is kept too, and its sender hears why.
    bad = agentfeed.post({"source": "browser", "summary": "no type"}, path="/activity", expect=400)
    assert bad["status"] == "rejected" and "'type'" in bad["reason"]
    kept = next(r for r in rejections(agentfeed) if r["_id"] == bad["id"])
    assert kept["endpoint"] == "activity"
    late = agentfeed.post(
        {"source": "x", "type": "y", "timestamp": "yesterday"}, path="/activity", expect=400
    )
    assert "'timestamp'" in late["reason"]


def test_a_missing_or_wrong_key_gets_401_and_stores_nothing(agentfeed: Agentfeed) -> None:
    session_id = f"key-{uuid.uuid4()}"
    payload = hook("Stop", session_id, last_assistant_message="done")
    before = len(rejections(agentfeed))
    for key in ("", "wrong-key", KEY + "x"):
        for path in ("/event", "/activity"):
            response = httpx.post(
                f"{agentfeed.server.url}{path}", json=payload, headers={"X-Agentfeed-Key": key}
            )
            assert response.status_code == 401
    assert httpx.post(f"{agentfeed.server.url}/event", json=payload).status_code == 401
    assert httpx.get(f"{agentfeed.server.url}/raw/{payload['event_id']}").status_code == 401
    assert agentfeed.query("sessions:session", {"session_id": session_id}) is None
    assert len(rejections(agentfeed)) == before
    assert agentfeed.post(payload)["status"] == "stored"


def test_in_development_without_a_configured_key_posts_need_none(tmp_path: Path) -> None:
    with launch(tmp_path, key=None, command="dev") as server:
        feed = Agentfeed(server, key=None)
        payload = hook("Stop", "open-session", last_assistant_message="done")
        assert feed.post(payload)["status"] == "stored"
        assert feed.post(payload, key="anything")["status"] == "duplicate"


def test_a_payload_whose_ingestion_fails_is_kept_as_a_rejection(tmp_path: Path) -> None:
    """Ingestion that fails (here: the event document exceeds a lowered document limit) rolls
    back whole, and the payload is kept in rejected_events with the error, answered 200."""
    with launch(tmp_path, LIVEBASE_MAX_DOCUMENT_BYTES="30000") as server:
        feed = Agentfeed(server)
        payload = hook(  # every field under the 8 KiB cut: 28 KiB of raw, plus excerpts
            "PostToolUse",
            "too-big",
            tool_name="Bash",
            tool_input={"command": "c" * 7000},
            tool_response={"stdout": "o" * 7000},
            note_1="n" * 7000,
            note_2="n" * 7000,
        )
        result = feed.post(payload)
        assert result["status"] == "rejected"
        assert result["reason"].startswith("ingestion failed: document in 'events'")
        [kept] = feed.query("events:rejected", {})
        assert json.loads(kept["body"]) == payload and kept["event_id"] == payload["event_id"]
        assert feed.query("sessions:session", {"session_id": "too-big"}) is None
        assert feed.query("projects:projects_with_stats") == []
