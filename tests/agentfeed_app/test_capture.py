"""Capture that never loses an event, against a real ``livebase serve apps/agentfeed``: raw Claude
Code hook payloads (no ``event_id``, no ``timestamp``, as a ``type: "http"`` hook or ``curl``
sends them) of every event type stored and shown through the functions the page uses; rejected
bodies listed for the owner only, bounded, and re-ingested; the OTLP/HTTP receiver for Claude
Code's telemetry in both encodings, joined to sessions, prompts and tool calls."""

from __future__ import annotations

import gzip
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.agentfeed_app.conftest import KEY, Agentfeed, add_owner, launch, sign_in
from tests.agentfeed_app.payloads import EVERY_EVENT, FUTURE, hook, now_ms

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PROTOBUF = {"Content-Type": "application/x-protobuf", "X-Agentfeed-Key": KEY}
JSON_HEADERS = {"Content-Type": "application/json", "X-Agentfeed-Key": KEY}


def raw_hook(name: str, session_id: str, **fields: Any) -> dict[str, Any]:
    """A payload exactly as Claude Code sends it: no ``event_id``, no ``timestamp``."""
    payload = hook(name, session_id, **fields)
    del payload["event_id"], payload["timestamp"]
    return payload


def feed_page(feed: Agentfeed, **filters: Any) -> list[dict[str, Any]]:
    args = {"paginationOpts": {"numItems": 100, "cursor": None}, **filters}
    page: list[dict[str, Any]] = feed.query("events:feed", args)["page"]
    return page


# -- raw hook payloads ----------------------------------------------------------------------------


def test_raw_payloads_of_every_event_type_are_stored_and_shown(agentfeed: Agentfeed) -> None:
    session_id = f"raw-{uuid.uuid4()}"
    before = now_ms()
    ids = []
    for name, fields, expected in EVERY_EVENT:
        payload = raw_hook(name, session_id, **fields)
        result = agentfeed.post(payload)
        assert result["status"] == "stored", (name, result)
        uuid.UUID(result["event_id"])  # the server's id
        ids.append(result["event_id"])
        event = agentfeed.event(result["event_id"])
        assert event["type"] == name and event["origin"] == "hook"
        assert before <= event["timestamp"] <= now_ms()  # the time it got it
        assert event["timestamp"] == event["received_at"]
        for key, value in expected.items():
            assert event[key] == value, (name, key)
        assert json.loads(event["raw"]) == payload  # as sent, nothing added
        assert json.loads(event["raw"])["future_field"] == FUTURE["future_field"]
    assert len(set(ids)) == len(EVERY_EVENT)
    # shown through what the page calls: the feed, the session's timeline, the session
    shown = feed_page(agentfeed, session_id=session_id)
    assert sorted(e["event_id"] for e in shown) == sorted(ids)
    timeline = agentfeed.timeline(session_id)
    assert [e["type"] for e in timeline] == [name for name, _, _ in EVERY_EVENT]
    session = agentfeed.session(session_id)
    assert session["event_count"] == len(EVERY_EVENT)
    assert session["project"] == "/home/u/app"


def test_the_same_raw_payload_twice_is_two_events_and_our_ids_stay_idempotent(
    agentfeed: Agentfeed,
) -> None:
    session_id = f"raw-twice-{uuid.uuid4()}"
    payload = raw_hook("Stop", session_id, last_assistant_message="done")
    first, second = agentfeed.post(payload), agentfeed.post(payload)
    assert first["status"] == second["status"] == "stored"
    assert first["event_id"] != second["event_id"]  # a raw payload says nothing to dedupe on
    ours = hook("Stop", session_id, last_assistant_message="done")
    assert agentfeed.post(ours)["status"] == "stored"
    again = agentfeed.post(ours)
    assert again["status"] == "duplicate" and again["event_id"] == ours["event_id"]
    assert len(agentfeed.timeline(session_id)) == 3


def test_a_curl_post_of_a_raw_payload_lands_in_the_feed(agentfeed: Agentfeed) -> None:
    session_id = f"curl-{uuid.uuid4()}"
    body = json.dumps(raw_hook("UserPromptSubmit", session_id, prompt="hello from curl"))
    done = subprocess.run(
        [
            "curl", "-sS", "--fail-with-body", "-X", "POST", f"{agentfeed.server.url}/event",
            "-H", "Content-Type: application/json", "-H", f"X-Agentfeed-Key: {KEY}",
            "--data-binary", body,
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout)
    assert answer["status"] == "stored"
    (event,) = feed_page(agentfeed, session_id=session_id)
    assert event["event_id"] == answer["event_id"] and event["prompt"] == "hello from curl"
    refused = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
         f"{agentfeed.server.url}/event", "--data-binary", body],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.stdout == "401"


# -- rejected bodies -------------------------------------------------------------------------------


def public(feed: Agentfeed) -> Agentfeed:
    return Agentfeed(feed.server, owner=False)


def latest_rejected(feed: Agentfeed) -> list[dict[str, Any]]:
    page = feed.query("rejected:latest", {"paginationOpts": {"numItems": 100, "cursor": None}})
    rows: list[dict[str, Any]] = page["page"]
    return rows


def test_rejected_bodies_are_listed_for_the_owner_only(agentfeed: Agentfeed) -> None:
    marker = f"secret-marker-{uuid.uuid4()}"
    bad = [
        (f"{{not json {marker}".encode(), "the body is not JSON"),
        (json.dumps({"session_id": marker}).encode(), "no hook_event_name"),
        (json.dumps({"hook_event_name": "Stop", "event_id": 7, "x": marker}).encode(),
         "event_id must be"),
    ]  # fmt: skip
    for body, reason in bad:
        result = agentfeed.post(content=body)
        assert result["status"] == "rejected" and reason in result["reason"]
    rows = latest_rejected(agentfeed)
    mine = [row for row in rows if marker in row["body"]]
    assert all(reason in row["reason"] for row, (_, reason) in zip(mine, bad[::-1], strict=True))
    assert all(row["attempts"] == 1 and row["endpoint"] == "event" for row in mine)
    full = agentfeed.query("rejected:get", {"id": mine[0]["_id"]})
    assert json.loads(full["body"]) == json.loads(bad[-1][0])  # the raw payload, for the owner
    summary = agentfeed.query("rejected:summary")
    kinds = {row["kind"]: row["count"] for row in summary["kinds"]}
    assert kinds["the body is not JSON"] >= 1 and kinds["no hook_event_name"] >= 1
    assert summary["count"] >= 3
    # the public: nothing of them (the day's counts only, from delivery:status)
    anonymous = public(agentfeed)
    assert latest_rejected(anonymous) == []
    assert anonymous.query("rejected:get", {"id": mine[0]["_id"]}) is None
    assert anonymous.query("rejected:summary")["count"] == 0
    status = anonymous.query("delivery:status")
    assert status["rejected"]["count"] >= 3 and "last_rejected_reason" not in status
    with pytest.raises(Exception, match="sign in as the owner"):
        anonymous.mutation("rejected:retry", {"id": mine[0]["_id"]})


def test_a_rejected_body_is_re_ingested_once_its_cause_is_fixed(agentfeed: Agentfeed) -> None:
    """A raw payload an older server refused ("no event_id") lands when retried, under an id
    derived from the rejection; one that carries our ``event_id`` lands under that id."""
    session_id = f"retry-{uuid.uuid4()}"
    raw = raw_hook("UserPromptSubmit", session_id, prompt="rejected by an older version")
    ours = hook("Stop", session_id, last_assistant_message="also rejected before")
    ids = []
    for payload in (raw, ours):
        kept = agentfeed.mutation(
            "events:record_rejection",
            {
                "endpoint": "event",
                "reason": "no event_id: the event cannot be stored idempotently",
                "body": json.dumps(payload),
                "body_bytes": float(len(json.dumps(payload))),
                "blobs": [],
            },
        )
        ids.append(kept["id"])
    first = agentfeed.mutation("rejected:retry", {"id": ids[0]})
    assert first["status"] == "stored"
    assert agentfeed.event(first["event_id"])["prompt"] == "rejected by an older version"
    second = agentfeed.mutation("rejected:retry", {"id": ids[1]})
    assert second == {"status": "stored", "id": second["id"], "event_id": ours["event_id"]}
    assert all(row["_id"] not in ids for row in latest_rejected(agentfeed))  # gone once landed
    with pytest.raises(Exception, match="no rejected body"):
        agentfeed.mutation("rejected:retry", {"id": ids[0]})
    assert agentfeed.post(ours)["status"] == "duplicate"  # the same id rules as a post
    # the raw one has the time of its retry, ours the hook's timestamp (earlier)
    assert [e["type"] for e in agentfeed.timeline(session_id)] == ["Stop", "UserPromptSubmit"]

    # still unusable: it stays, with the reason and one more attempt
    bad = agentfeed.post(content=b'{"hook_event_name": "", "x": 1}')
    again = agentfeed.mutation("rejected:retry", {"id": bad["id"]})
    assert again["status"] == "rejected" and again["id"] == bad["id"]
    row = agentfeed.query("rejected:get", {"id": bad["id"]})
    assert row["attempts"] == 2 and "last_attempt_at" in row


def test_a_body_too_large_lands_when_retried_after_the_limit_is_raised(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Refused as too large, kept whole; retried under the same limit it stays refused (one
    more attempt); the server restarted with a larger limit, the retry lands, whole."""
    base = tmp_path_factory.mktemp("limit")
    session_id = f"too-large-{uuid.uuid4()}"
    payload = raw_hook(
        "PostToolUse",
        session_id,
        tool_name="Bash",
        tool_input={"command": "cat log"},
        tool_response={"stdout": "a line of output\n" * 12_000, "stderr": ""},
        tool_use_id=f"toolu_{uuid.uuid4().hex}",
    )
    with launch(base, AGENTFEED_MAX_EVENT_BYTES="100000") as server:
        feed = Agentfeed(server)
        result = feed.post(payload)
        assert result["status"] == "rejected" and "too large" in result["reason"]
        row = feed.query("rejected:get", {"id": result["id"]})
        assert [ref["field"] for ref in row["blobs"]] == ["body"]  # all of it
        again = feed.mutation("rejected:retry", {"id": result["id"]})
        assert again["status"] == "rejected" and "too large" in again["reason"]
        assert feed.query("rejected:get", {"id": result["id"]})["attempts"] == 2
    with launch(base) as server:  # the fix: the default limit (20 MiB)
        feed = Agentfeed(server)
        landed = feed.mutation("rejected:retry", {"id": result["id"]})
        assert landed["status"] == "stored", landed
        event = feed.event(landed["event_id"])
        assert event["summary"] == "Bash: cat log" and event["session_id"] == session_id
        assert [ref["field"] for ref in event["blobs"]] == ["tool_response"]
        response = httpx.get(
            f"{server.url}/raw/{landed['event_id']}",
            headers={"Authorization": f"Bearer {owner_token(server)}"},
            timeout=30,
        )
        assert response.json() == payload  # whole, as sent
        assert feed.query("rejected:get", {"id": result["id"]}) is None
        assert feed.query("rejected:summary")["count"] == 0


def owner_token(server: Any) -> str:
    add_owner(server)
    return sign_in(server.url)


def test_the_rejected_table_is_bounded(tmp_path_factory: pytest.TempPathFactory) -> None:
    with launch(tmp_path_factory.mktemp("bounded"), AGENTFEED_REJECTED_KEEP="5") as server:
        feed = Agentfeed(server)
        for n in range(8):
            assert feed.post(content=f"not json {n}".encode())["status"] == "rejected"
        rows = latest_rejected(feed)
        assert [row["body"] for row in rows] == [f"not json {n}" for n in range(7, 2, -1)]
        assert feed.query("rejected:summary")["count"] == 5
        assert feed.query("delivery:status")["rejected"]["count"] == 8  # all were counted


# -- OTLP/HTTP ------------------------------------------------------------------------------------


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


RESOURCE = Resource(
    attributes=[kv("service.name", "claude-code"), kv("service.version", "2.1.240")]
)


def api_request_pb(
    session_id: str, prompt_id: str, model: str, tokens: tuple[int, int, int, int], cost: float,
    at_ms: int, sequence: int,
) -> LogRecord:  # fmt: skip
    """A ``claude_code.api_request`` log record as Claude Code's exporter writes it (its
    attributes are strings)."""
    i, o, cr, cc = tokens
    attrs = {
        "event.name": "api_request", "event.timestamp": "2026-01-10T09:00:00.000Z",
        "event.sequence": sequence, "session.id": session_id, "prompt.id": prompt_id,
        "user.id": "anon", "user.email": "me@example.com", "model": model,
        "cost_usd": str(cost), "duration_ms": "1234", "input_tokens": str(i),
        "output_tokens": str(o), "cache_read_tokens": str(cr), "cache_creation_tokens": str(cc),
        "request_id": f"req_{uuid.uuid4().hex[:8]}",
    }  # fmt: skip
    return LogRecord(
        time_unix_nano=at_ms * 1_000_000,
        observed_time_unix_nano=at_ms * 1_000_000,
        body=AnyValue(string_value="claude_code.api_request"),
        attributes=[kv(k, v) for k, v in attrs.items()],
    )


def logs_pb(*records: LogRecord) -> bytes:
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=RESOURCE,
                scope_logs=[ScopeLogs(log_records=list(records))],
            )
        ]
    )
    return request.SerializeToString()


def usage_of(feed: Agentfeed, session_id: str) -> dict[str, Any]:
    found = feed.query("telemetry:session_usage", {"session_id": session_id})
    assert found is not None
    result: dict[str, Any] = found
    return result


def test_otlp_protobuf_logs_are_joined_to_the_session_prompt_and_tool_call(
    agentfeed: Agentfeed,
) -> None:
    session_id = str(uuid.uuid4())
    prompt_id = str(uuid.uuid4())
    tool_use_id = f"toolu_{uuid.uuid4().hex}"
    start = raw_hook("UserPromptSubmit", session_id, prompt="add retries", prompt_id=prompt_id)
    assert agentfeed.post(start)["status"] == "stored"
    t = now_ms()
    records = [
        api_request_pb(session_id, prompt_id, "claude-sonnet-4-5", (10, 50, 0, 100), 0.002, t, 1),
        api_request_pb(session_id, prompt_id, "claude-sonnet-4-5", (20, 30, 500, 0), 0.00095, t, 2),
    ]
    tool_result = LogRecord(
        time_unix_nano=t * 1_000_000,
        body=AnyValue(string_value="claude_code.tool_result"),
        attributes=[
            kv("event.name", "tool_result"), kv("session.id", session_id),
            kv("prompt.id", prompt_id), kv("tool_use_id", tool_use_id), kv("tool_name", "Bash"),
            kv("success", "true"), kv("duration_ms", "420"),
            kv("cost_usd", "0.0001"), kv("input_tokens", "3"),
        ],
    )  # fmt: skip
    body = logs_pb(*records, tool_result)
    response = httpx.post(f"{agentfeed.server.url}/v1/logs", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-protobuf")
    ExportLogsServiceResponse.FromString(response.content)  # a valid export response
    # a retried export (same records) is not counted twice
    again = httpx.post(f"{agentfeed.server.url}/v1/logs", content=body, headers=PROTOBUF)
    assert again.status_code == 200
    session = agentfeed.session(session_id)
    totals = session["telemetry"]
    assert totals["requests"] == 3
    assert totals["tokens"] == {"input": 33, "output": 80, "cache_read": 500, "cache_creation": 100}
    assert totals["cost_usd"] == pytest.approx(0.002 + 0.00095 + 0.0001)
    usage = usage_of(agentfeed, session_id)
    assert usage["session"]["requests"] == 3
    (prompt,) = usage["prompts"]
    assert prompt["key"] == prompt_id and prompt["requests"] == 3
    (event,) = feed_page(agentfeed, session_id=session_id)
    assert event["prompt_id"] == prompt_id  # the hook's prompt_id is the OTel prompt.id
    (call,) = usage["tool_calls"]
    assert call["key"] == tool_use_id and call["cost_usd"] == pytest.approx(0.0001)
    records_page = agentfeed.query(
        "telemetry:records",
        {"paginationOpts": {"numItems": 10, "cursor": None}, "session_id": session_id},
    )["page"]
    assert {r["name"] for r in records_page} == {
        "claude_code.api_request",
        "claude_code.tool_result",
    }
    assert len(records_page) == 3
    assert any("me@example.com" in r["attributes"] for r in records_page)  # the owner sees it
    anonymous = public(agentfeed)  # a private project's session: nothing for the public
    assert anonymous.query("telemetry:session_usage", {"session_id": session_id}) is None
    page = anonymous.query(
        "telemetry:records", {"paginationOpts": {"numItems": 10, "cursor": None}}
    )
    assert page["page"] == []


def test_otlp_json_logs_and_metrics_gzip_and_errors(agentfeed: Agentfeed) -> None:
    """OTLP/JSON as Claude Code's ``http/json`` exporter sends it (lowerCamelCase, 64-bit ints
    as strings, hex trace ids); telemetry that comes before the session's first hook event is
    folded in when the session is made."""
    session_id = str(uuid.uuid4())
    t_ns = str(now_ms() * 1_000_000)
    body = {
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
            "scopeLogs": [{
                "scope": {"name": "com.anthropic.claude_code.events", "version": "2.1.240"},
                "logRecords": [{
                    "timeUnixNano": t_ns, "observedTimeUnixNano": t_ns,
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "body": {"stringValue": "claude_code.api_request"},
                    "attributes": [
                        {"key": "event.name", "value": {"stringValue": "api_request"}},
                        {"key": "session.id", "value": {"stringValue": session_id}},
                        {"key": "model", "value": {"stringValue": "claude-haiku-4-5"}},
                        {"key": "input_tokens", "value": {"intValue": "100"}},
                        {"key": "output_tokens", "value": {"intValue": "10"}},
                        {"key": "cache_read_tokens", "value": {"intValue": "0"}},
                        {"key": "cache_creation_tokens", "value": {"intValue": "0"}},
                        {"key": "cost_usd", "value": {"doubleValue": 0.00015}},
                        {"key": "duration_ms", "value": {"intValue": "800"}},
                    ],
                }],
            }],
        }]
    }  # fmt: skip
    url = agentfeed.server.url
    response = httpx.post(f"{url}/v1/logs", content=json.dumps(body), headers=JSON_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    # the session's first hook event comes after: it starts with the totals so far
    assert agentfeed.post(raw_hook("SessionStart", session_id, source="startup"))["status"]
    totals = agentfeed.session(session_id)["telemetry"]
    assert totals["requests"] == 1 and totals["tokens"]["input"] == 100
    assert totals["cost_usd"] == pytest.approx(0.00015)

    metrics = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=RESOURCE,
                scope_metrics=[
                    ScopeMetrics(
                        metrics=[
                            Metric(
                                name="claude_code.cost.usage",
                                unit="USD",
                                sum=Sum(
                                    aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
                                    is_monotonic=True,
                                    data_points=[
                                        NumberDataPoint(
                                            time_unix_nano=int(t_ns) + n,
                                            as_double=value,
                                            attributes=[
                                                kv("session.id", session_id),
                                                kv("model", "claude-haiku-4-5"),
                                            ],
                                        )
                                        for n, value in enumerate((0.0001, 0.00005))
                                    ],
                                ),
                            ),
                            Metric(
                                name="claude_code.token.usage",
                                unit="tokens",
                                sum=Sum(
                                    aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
                                    data_points=[
                                        NumberDataPoint(
                                            time_unix_nano=int(t_ns),
                                            as_int=100,
                                            attributes=[
                                                kv("session.id", session_id),
                                                kv("type", "input"),
                                                kv("model", "claude-haiku-4-5"),
                                            ],
                                        )
                                    ],
                                ),
                            ),
                        ]
                    )
                ],
            )
        ]
    )
    gz = gzip.compress(metrics.SerializeToString())
    headers = {**PROTOBUF, "Content-Encoding": "gzip"}
    response = httpx.post(f"{url}/v1/metrics", content=gz, headers=headers)
    assert response.status_code == 200, response.text
    from google.protobuf import json_format

    as_json = json_format.MessageToJson(metrics)  # the JSON encoding of the same export
    metrics_json = httpx.post(f"{url}/v1/metrics", content=as_json, headers=JSON_HEADERS)
    assert metrics_json.status_code == 200, metrics_json.text
    found = {(m["name"], m["type"]): m["value"] for m in usage_of(agentfeed, session_id)["metrics"]}
    assert found[("claude_code.cost.usage", None)] == pytest.approx(0.00015)  # stored once
    assert found[("claude_code.token.usage", "input")] == 100

    # errors: no key, an unknown encoding, a body that is not an export request
    no_key = {"Content-Type": "application/json"}
    assert httpx.post(f"{url}/v1/logs", content=b"{}", headers=no_key).status_code == 401
    bad_type = {"Content-Type": "text/plain", "X-Agentfeed-Key": KEY}
    assert httpx.post(f"{url}/v1/logs", content=b"x", headers=bad_type).status_code == 415
    not_pb = httpx.post(f"{url}/v1/logs", content=b"\xff\xff\xff", headers=PROTOBUF)
    assert not_pb.status_code == 400, not_pb.text
    not_json = httpx.post(f"{url}/v1/metrics", content=b"{", headers=JSON_HEADERS)
    assert not_json.status_code == 400


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    with launch(tmp_path_factory.mktemp("capture")) as server:
        yield Agentfeed(server)
