"""What the OTLP receiver keeps beyond sums and gauges, against a real ``livebase serve
apps/agentfeed``: histogram, exponential-histogram and summary points stored with their
distribution; exports that cannot be read kept for the owner (not for the public) and
re-ingested by ``rejected:retry``, each record once."""

from __future__ import annotations

import base64
import gzip
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    Metric,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import now_ms
from tests.agentfeed_app.test_capture import (
    PROTOBUF,
    RESOURCE,
    api_request_pb,
    kv,
    latest_rejected,
    logs_pb,
    public,
    raw_hook,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def metrics_pb(*metrics: Metric) -> bytes:
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(resource=RESOURCE, scope_metrics=[ScopeMetrics(metrics=list(metrics))])
        ]
    )
    return request.SerializeToString()


def session_records(feed: Agentfeed, session_id: str) -> list[dict[str, Any]]:
    args = {"paginationOpts": {"numItems": 50, "cursor": None}, "session_id": session_id}
    rows: list[dict[str, Any]] = feed.query("telemetry:records", args)["page"]
    return rows


def test_histogram_and_summary_points_are_stored_with_their_distribution(
    agentfeed: Agentfeed,
) -> None:
    session_id = str(uuid.uuid4())
    t_ns = now_ms() * 1_000_000
    attrs = [kv("session.id", session_id), kv("model", "claude-haiku-4-5")]
    histogram = Metric(
        name="claude_code.api.duration",
        unit="ms",
        histogram=Histogram(
            aggregation_temporality=DELTA,
            data_points=[
                HistogramDataPoint(
                    time_unix_nano=t_ns, count=6, sum=2400.0, min=120.0, max=900.0,
                    explicit_bounds=[250.0, 500.0, 1000.0], bucket_counts=[1, 3, 2, 0],
                    attributes=attrs,
                )
            ],
        ),
    )  # fmt: skip
    exponential = Metric(
        name="claude_code.tool.duration",
        exponential_histogram=ExponentialHistogram(
            aggregation_temporality=DELTA,
            data_points=[
                ExponentialHistogramDataPoint(
                    time_unix_nano=t_ns, count=5, sum=31.0, scale=1, zero_count=1,
                    positive=ExponentialHistogramDataPoint.Buckets(
                        offset=2, bucket_counts=[1, 0, 3]
                    ),
                    attributes=attrs,
                )
            ],
        ),
    )  # fmt: skip
    summary = Metric(
        name="claude_code.prompt.length",
        summary=Summary(
            data_points=[
                SummaryDataPoint(
                    time_unix_nano=t_ns, count=4, sum=100.0, attributes=attrs,
                    quantile_values=[
                        SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=20.0),
                        SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=41.0),
                    ],
                )
            ]
        ),
    )  # fmt: skip
    url = agentfeed.server.url
    response = httpx.post(
        f"{url}/v1/metrics", content=metrics_pb(histogram, exponential, summary), headers=PROTOBUF
    )
    assert response.status_code == 200, response.text
    rows = {row["name"]: row for row in session_records(agentfeed, session_id)}
    assert set(rows) == {
        "claude_code.api.duration",
        "claude_code.tool.duration",
        "claude_code.prompt.length",
    }
    explicit = rows["claude_code.api.duration"]
    assert explicit["value"] == 2400 and explicit["temporality"] == "delta"
    assert explicit["distribution"] == {
        "count": 6, "sum": 2400, "min": 120, "max": 900,
        "bounds": [250, 500, 1000], "counts": [1, 3, 2, 0],
    }  # fmt: skip
    assert rows["claude_code.tool.duration"]["distribution"] == {
        "count": 5, "sum": 31, "scale": 1, "zero_count": 1,
        "positive": {"offset": 2, "counts": [1, 0, 3]},
    }  # fmt: skip
    quantiles = rows["claude_code.prompt.length"]
    assert quantiles["temporality"] == "cumulative"
    assert quantiles["distribution"] == {
        "count": 4, "sum": 100,
        "quantiles": [{"quantile": 0.5, "value": 20}, {"quantile": 0.99, "value": 41}],
    }  # fmt: skip
    totals = agentfeed.query("telemetry:session_usage", {"session_id": session_id})["metrics"]
    assert {m["name"]: m["value"] for m in totals}["claude_code.api.duration"] == 2400


def test_unreadable_exports_are_kept_for_the_owner_and_re_ingested_once(
    agentfeed: Agentfeed,
) -> None:
    url = agentfeed.server.url
    marker = f"otlp-marker-{uuid.uuid4().hex}"
    not_pb = b"\xff\xfe" + marker.encode()
    assert httpx.post(f"{url}/v1/logs", content=not_pb, headers=PROTOBUF).status_code == 400
    bad_type = {**PROTOBUF, "Content-Type": "text/plain"}
    sent = httpx.post(f"{url}/v1/metrics", content=marker.encode(), headers=bad_type)
    assert sent.status_code == 415
    rows = [r for r in latest_rejected(agentfeed) if r["endpoint"].startswith("v1/")]
    by_endpoint = {row["endpoint"]: row for row in rows}
    assert set(by_endpoint) == {"v1/logs", "v1/metrics"}
    kept = by_endpoint["v1/logs"]
    assert kept["body_encoding"] == "base64" and base64.b64decode(kept["body"]) == not_pb
    assert "not a valid ExportLogsServiceRequest" in kept["reason"]
    assert "unsupported Content-Type 'text/plain'" in by_endpoint["v1/metrics"]["reason"]
    assert latest_rejected(public(agentfeed)) == []  # the public never sees them
    # still unreadable: the row stays, with one more attempt
    again = agentfeed.mutation("rejected:retry", {"id": kept["_id"]})
    assert again["status"] == "rejected" and again["id"] == kept["_id"]
    assert agentfeed.query("rejected:get", {"id": kept["_id"]})["attempts"] == 2

    # an export kept after its ingestion failed (gzip protobuf, as the exporter sent it):
    # the retry decodes it and stores its records once, however often it is retried
    session_id = str(uuid.uuid4())
    assert agentfeed.post(raw_hook("SessionStart", session_id, source="startup"))["status"]
    prompt_id = str(uuid.uuid4())
    t = now_ms()
    records = [
        api_request_pb(session_id, prompt_id, "claude-sonnet-4-5", (10, 20, 0, 0), 0.003, t, n)
        for n in (1, 2)
    ]
    body = gzip.compress(logs_pb(*records))
    row = agentfeed.mutation(
        "events:record_rejection",
        {
            "endpoint": "v1/logs",
            "reason": "ingestion failed: the database was unreachable",
            "body": base64.b64encode(body).decode(),
            "body_bytes": float(len(body)),
            "blobs": [],
            "export": {
                "content_type": "application/x-protobuf",
                "content_encoding": "gzip",
                "body_encoding": "base64",
            },
        },
    )
    done = agentfeed.mutation("rejected:retry", {"id": row["id"]})
    assert done == {"status": "stored", "id": row["id"], "stored": 2, "duplicate": 0}
    assert agentfeed.query("rejected:get", {"id": row["id"]}) is None  # the row is gone
    totals = agentfeed.session(session_id)["telemetry"]
    assert totals["requests"] == 2 and totals["cost_usd"] == pytest.approx(0.006)
    # the same export arriving later again adds nothing
    resent = httpx.post(
        f"{url}/v1/logs", content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert resent.status_code == 200
    assert agentfeed.session(session_id)["telemetry"]["requests"] == 2
