"""Decoding OTLP/HTTP export requests (pure: no database) into agentfeed's telemetry records.

Claude Code's OpenTelemetry exporter (reference §2.5) sends ``POST /v1/logs`` (its events:
``claude_code.api_request``, ``claude_code.tool_result``, ``claude_code.user_prompt``...) and
``POST /v1/metrics`` (``claude_code.cost.usage``, ``claude_code.token.usage``...), encoded as
``application/x-protobuf`` (``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``) or ``application/json``
(``http/json``), optionally gzip-compressed. Both encodings are read with the OpenTelemetry
protobuf definitions of the ``opentelemetry-proto`` package (the JSON one through protobuf's JSON
mapping, with OTLP's one exception: trace and span ids are hex, not base64).

A log record becomes ``{record_id, signal: "log", name, timestamp, session_id?, prompt_id?,
tool_use_id?, request_id?, model?, cost_usd?, tokens?, duration_ms?, success?, attributes}``;
a data point of a sum or gauge becomes ``{..., signal: "metric", name, value, metric_type?,
temporality}``, and one of a histogram, an exponential histogram or a summary the same with
``value`` its sum and ``distribution`` (count, sum, min, max, buckets or quantiles).
``attributes`` is the JSON text of the resource's and the record's attributes (the record's
win). ``record_id`` is a hash of what the record says, so an
export the exporter retries is stored once.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from .normalize import clip, dumps

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_DECOMPRESSED = 64 * 1024 * 1024
ATTRIBUTES_CHARS = 8 * 1024
PREFIX = "claude_code."
HEX_ID_KEYS = ("traceId", "spanId", "trace_id", "span_id")
TEMPORALITY = {1: "delta", 2: "cumulative"}


class BadRequest(Exception):
    """An export request that cannot be read (answered 400, or 415 for ``unsupported``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def media_type(content_type: str | None) -> str:
    """``protobuf`` or ``json`` from a Content-Type header (415 for anything else)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"):
        return "protobuf"
    if kind == JSON:
        return "json"
    raise BadRequest(
        f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}", status=415
    )


def decompress(body: bytes, encoding: str | None) -> bytes:
    """The body with its ``Content-Encoding`` (gzip, deflate) undone, bounded in size."""
    kind = (encoding or "").strip().lower()
    if kind in ("", "identity"):
        return body
    try:
        if kind == "gzip":
            decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "deflate":
            decomp = zlib.decompressobj()
        else:
            raise BadRequest(f"unsupported Content-Encoding {encoding!r}", status=415)
        data = decomp.decompress(body, MAX_DECOMPRESSED)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest(f"the body is not valid {kind}: {exc}") from None
    if decomp.unconsumed_tail:
        raise BadRequest(f"the body is over {MAX_DECOMPRESSED} bytes once decompressed")
    return data


def _hex_ids_to_base64(value: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON mapping wants base64."""
    if isinstance(value, list):
        return [_hex_ids_to_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in HEX_ID_KEYS and isinstance(item, str):
            try:
                item = base64.b64encode(bytes.fromhex(item)).decode()
            except ValueError:
                pass
        out[key] = _hex_ids_to_base64(item)
    return out


def _parse(body: bytes, kind: str, message: Message) -> Message:
    if kind == "protobuf":
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"the body is not a valid {type(message).__name__}: {exc}") from None
        return message
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    try:
        json_format.ParseDict(_hex_ids_to_base64(value), message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, TypeError, ValueError) as exc:
        raise BadRequest(
            f"the body is not a valid OTLP/JSON {type(message).__name__}: {exc}"
        ) from None
    return message


def response(kind: str, signal: str) -> tuple[bytes, str]:
    """An empty export response (full success) in the request's encoding."""
    message: Message = (
        ExportLogsServiceResponse() if signal == "log" else ExportMetricsServiceResponse()
    )
    if kind == "protobuf":
        return message.SerializeToString(), PROTOBUF
    return b"{}", JSON


# -- values ---------------------------------------------------------------------------------------


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return clip(value.strip(), 256)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _ms(nanos: int) -> float | None:
    return nanos / 1_000_000 if nanos > 0 else None


def _record_id(signal: str, parts: Any) -> str:
    digest = hashlib.sha256(f"{signal}:{dumps(parts)}".encode("utf-8", "surrogatepass"))
    return f"otlp:{digest.hexdigest()[:40]}"


def _common(attrs: dict[str, Any]) -> dict[str, Any]:
    """The ids and the model a record's attributes carry (reference §2.5, correlation keys)."""
    out: dict[str, Any] = {}
    for field, keys in (
        ("session_id", ("session.id", "session_id")),
        ("prompt_id", ("prompt.id", "prompt_id")),
        ("tool_use_id", ("tool_use_id", "tool.use_id", "tool_use.id")),
        ("request_id", ("request_id", "request.id")),
        ("model", ("model",)),
    ):
        for key in keys:
            text = _text(attrs.get(key))
            if text is not None:
                out[field] = text
                break
    return out


def _event_name(record: Any, attrs: dict[str, Any]) -> str:
    name = _text(attrs.get("event.name")) or _text(getattr(record, "event_name", ""))
    if name is None:
        body = any_value(record.body) if record.HasField("body") else None
        name = _text(body) or "log"
    return name if name.startswith(PREFIX) or "." in name else PREFIX + name


def log_record(record: Any, resource: dict[str, Any], received_ms: float) -> dict[str, Any]:
    own = attributes(record.attributes)
    attrs = {**resource, **own}
    name = _event_name(record, attrs)
    out: dict[str, Any] = {"signal": "log", "name": clip(name, 200), **_common(attrs)}
    stamp = _ms(record.time_unix_nano) or _ms(record.observed_time_unix_nano)
    out["timestamp"] = stamp if stamp is not None else received_ms
    cost = _number(attrs.get("cost_usd"))
    micros = _number(attrs.get("cost_usd_micros"))
    if cost is None and micros is not None:
        cost = micros / 1_000_000
    if cost is not None:
        out["cost_usd"] = cost
    counts = {
        "input": _number(attrs.get("input_tokens")),
        "output": _number(attrs.get("output_tokens")),
        "cache_read": _number(attrs.get("cache_read_tokens")),
        "cache_creation": _number(attrs.get("cache_creation_tokens")),
    }
    if any(count is not None for count in counts.values()):
        out["tokens"] = {key: count or 0.0 for key, count in counts.items()}
    duration = _number(attrs.get("duration_ms"))
    if duration is not None:
        out["duration_ms"] = duration
    success = _bool(attrs.get("success"))
    if success is not None:
        out["success"] = success
    out["attributes"] = clip(dumps(attrs), ATTRIBUTES_CHARS)
    body = any_value(record.body) if record.HasField("body") else None
    out["record_id"] = _record_id(
        "log", [name, record.time_unix_nano, record.observed_time_unix_nano, attrs, body]
    )
    return out


def logs(body: bytes, kind: str, received_ms: float) -> list[dict[str, Any]]:
    """The telemetry records of an ``ExportLogsServiceRequest``."""
    request = _parse(body, kind, ExportLogsServiceRequest())
    assert isinstance(request, ExportLogsServiceRequest)
    records = []
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                records.append(log_record(record, resource, received_ms))
    return records


BUCKETS_KEPT = 200
"""Buckets kept of one histogram point (exponential histograms can have up to 160 a side)."""


def _points(metric: Any) -> tuple[Any, str | None]:
    kind = metric.WhichOneof("data")
    if kind in ("sum", "histogram", "exponential_histogram"):
        data = getattr(metric, kind)
        return data.data_points, TEMPORALITY.get(data.aggregation_temporality)
    if kind == "gauge":
        return metric.gauge.data_points, "gauge"
    if kind == "summary":
        return metric.summary.data_points, "cumulative"  # summaries are cumulative by definition
    return [], None


def _optional(point: Any, name: str) -> float | None:
    return float(getattr(point, name)) if point.HasField(name) else None


def _distribution(point: Any) -> dict[str, Any]:
    """A histogram, exponential histogram or summary point: its count, sum, min, max and
    buckets (explicit bounds with their counts; an exponential histogram's scale, zero count
    and bucket runs; a summary's quantiles)."""
    shape: dict[str, Any] = {"count": float(point.count)}
    for name in ("sum", "min", "max"):
        field = point.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            continue
        value = _optional(point, name) if field.has_presence else float(getattr(point, name))
        if value is not None:
            shape[name] = value
    fields = point.DESCRIPTOR.fields_by_name
    if "explicit_bounds" in fields:
        shape["bounds"] = [float(b) for b in point.explicit_bounds[:BUCKETS_KEPT]]
        shape["counts"] = [float(c) for c in point.bucket_counts[: BUCKETS_KEPT + 1]]
    elif "scale" in fields:
        shape["scale"] = float(point.scale)
        shape["zero_count"] = float(point.zero_count)
        for side in ("positive", "negative"):
            buckets = getattr(point, side)
            if buckets.bucket_counts:
                shape[side] = {
                    "offset": float(buckets.offset),
                    "counts": [float(c) for c in buckets.bucket_counts[:BUCKETS_KEPT]],
                }
    else:
        shape["quantiles"] = [
            {"quantile": float(q.quantile), "value": float(q.value)}
            for q in point.quantile_values[:BUCKETS_KEPT]
        ]
    return shape


def _point_value(point: Any) -> tuple[float, dict[str, Any] | None]:
    """A point's number (a distribution's sum, else its count) and its distribution, if any."""
    if "count" not in point.DESCRIPTOR.fields_by_name:
        which = point.WhichOneof("value")
        return (float(getattr(point, which)) if which else 0.0), None
    shape = _distribution(point)
    return shape.get("sum", shape["count"]), shape


def metrics(body: bytes, kind: str, received_ms: float) -> list[dict[str, Any]]:
    """The telemetry records of an ``ExportMetricsServiceRequest``: one per data point of a
    sum, gauge, histogram, exponential histogram or summary (``value``: the number, or a
    distribution's sum, with the distribution itself in ``distribution``)."""
    request = _parse(body, kind, ExportMetricsServiceRequest())
    assert isinstance(request, ExportMetricsServiceRequest)
    records = []
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points, temporality = _points(metric)
                for point in points:
                    own = attributes(point.attributes)
                    attrs = {**resource, **own}
                    value, shape = _point_value(point)
                    out: dict[str, Any] = {
                        "signal": "metric",
                        "name": clip(metric.name, 200),
                        **_common(attrs),
                        "value": value,
                        "temporality": temporality or "unknown",
                    }
                    if shape is not None:
                        out["distribution"] = shape
                    metric_type = _text(attrs.get("type"))
                    if metric_type is not None:
                        out["metric_type"] = metric_type
                    stamp = _ms(point.time_unix_nano)
                    out["timestamp"] = stamp if stamp is not None else received_ms
                    out["attributes"] = clip(dumps(attrs), ATTRIBUTES_CHARS)
                    out["record_id"] = _record_id(
                        "metric",
                        [
                            metric.name,
                            point.start_time_unix_nano,
                            point.time_unix_nano,
                            attrs,
                            value,
                            shape,
                        ],
                    )
                    records.append(out)
    return records


def decode(signal: str, body: bytes, kind: str, received_ms: float) -> list[dict[str, Any]]:
    """The records of an export request of ``signal`` (``log`` or ``metric``)."""
    return logs(body, kind, received_ms) if signal == "log" else metrics(body, kind, received_ms)
