"""The same work seen twice: the transcript import (``agentfeed import-transcripts``, a real
process) and Claude Code's OpenTelemetry export (one ``claude_code.api_request`` log record per
API response, posted to ``/v1/logs`` of the same real server, protobuf and JSON). Tokens and cost
joined to the session from telemetry equal what the import computed from the transcript."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.agentfeed_app.conftest import KEY, Agentfeed, launch
from tests.agentfeed_transcripts.fixtures import (
    HAIKU,
    S1,
    S1_COST,
    S1_TOKENS,
    SONNET,
    ms,
    write_projects,
)
from tests.agentfeed_transcripts.test_import import run_import, tokens_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# Anthropic's list prices per million tokens (input, output, cache write 5 min, cache read), as
# Claude Code prices a request in cost_usd
LIST_PRICES = {SONNET: (3.0, 15.0, 3.75, 0.3), HAIKU: (1.0, 5.0, 1.25, 0.1)}

# S1's API responses as the transcript holds them (one per message.id + requestId, the largest
# line kept): (request id, model, input, output, cache creation, cache read, seconds after T0)
S1_REQUESTS = [
    ("req_1", SONNET, 10, 50, 100, 0, 2),
    ("req_s1", HAIKU, 7, 3, 0, 0, 3.5),
    ("req_s2", HAIKU, 8, 4, 0, 0, 4.5),
    ("req_2", SONNET, 20, 30, 0, 500, 6),
    ("req_3", SONNET, 5, 40, 0, 600, 8),
    ("req_4", HAIKU, 100, 10, 0, 0, 61),
]


def cost(model: str, i: int, o: int, cc: int, cr: int) -> float:
    p_in, p_out, p_cw, p_cr = LIST_PRICES[model]
    return (i * p_in + o * p_out + cc * p_cw + cr * p_cr) / 1e6


def record(request: tuple[str, str, int, int, int, int, float], n: int) -> LogRecord:
    request_id, model, i, o, cc, cr, at = request
    attrs = {
        "event.name": "api_request", "event.sequence": str(n), "session.id": S1,
        "prompt.id": "p-1" if at < 59 else "p-2", "model": model,
        "cost_usd": repr(cost(model, i, o, cc, cr)), "duration_ms": "900",
        "input_tokens": str(i), "output_tokens": str(o), "cache_creation_tokens": str(cc),
        "cache_read_tokens": str(cr), "request_id": request_id,
    }  # fmt: skip
    return LogRecord(
        time_unix_nano=ms(at) * 1_000_000,
        body=AnyValue(string_value="claude_code.api_request"),
        attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()],
    )


def export(records: list[LogRecord]) -> ExportLogsServiceRequest:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="claude-code"))]
    )
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    with launch(tmp_path_factory.mktemp("agentfeed")) as server:
        yield Agentfeed(server)


def test_telemetry_cost_matches_the_transcript_import(agentfeed: Agentfeed, tmp_path: Path) -> None:
    projects = write_projects(tmp_path / "claude" / "projects")
    url = agentfeed.server.url
    done = run_import(tmp_path, str(projects), "--url", url, "--key", KEY)
    assert done.returncode == 0, done.stderr
    imported = agentfeed.session(S1)
    assert imported["cost_usd"] == pytest.approx(S1_COST)

    records = [record(request, n) for n, request in enumerate(S1_REQUESTS)]
    first = export(records[:3]).SerializeToString()  # half as protobuf...
    headers = {"Content-Type": "application/x-protobuf", "X-Agentfeed-Key": KEY}
    assert httpx.post(f"{url}/v1/logs", content=first, headers=headers).status_code == 200
    second = json_format.MessageToJson(export(records[3:]))  # ... half as OTLP/JSON
    headers["Content-Type"] = "application/json"
    assert httpx.post(f"{url}/v1/logs", content=second, headers=headers).status_code == 200

    session = agentfeed.session(S1)
    telemetry = session["telemetry"]
    assert telemetry["requests"] == len(S1_REQUESTS)
    assert tokens_of(telemetry) == tokens_of(session) == S1_TOKENS  # the import's totals
    assert telemetry["cost_usd"] == pytest.approx(session["cost_usd"], rel=1e-9, abs=1e-12)
    usage = agentfeed.query("telemetry:session_usage", {"session_id": S1})
    by_prompt = {row["key"]: row["requests"] for row in usage["prompts"]}
    assert by_prompt == {"p-1": 5, "p-2": 1}
    assert sum(row["cost_usd"] for row in usage["prompts"]) == pytest.approx(S1_COST)
