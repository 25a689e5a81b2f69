"""The sinks' Prometheus metrics (``prometheus_client``), served by ``agentfeed sinks`` on
``AGENTFEED_SINKS_METRICS_PORT`` (or ``--metrics-port``) at ``/metrics``; every one labelled
with the sink's name (``posthog``, ``mqtt``, ``webhook``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0)


class SinkMetrics:
    """One process's sink metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.delivered = Counter(
            "agentfeed_sink_delivered", "Events delivered", ["sink"], registry=r
        )
        self.skipped = Counter(
            "agentfeed_sink_skipped", "Events not sent: their project forwards nothing", ["sink"],
            registry=r,
        )  # fmt: skip
        self.dead_lettered = Counter(
            "agentfeed_sink_dead_lettered", "Events moved to the dead letters", ["sink"], registry=r
        )
        self.replayed = Counter(
            "agentfeed_sink_replayed", "Dead letters delivered on replay", ["sink"], registry=r
        )
        self.failures = Counter(
            "agentfeed_sink_failures",
            "Failed delivery attempts (kind: unavailable = retried until it works; rejected = "
            "the content was refused)",
            ["sink", "kind"],
            registry=r,
        )
        self.latency = Histogram(
            "agentfeed_sink_latency_seconds",
            "From the server receiving an event to its delivery",
            ["sink"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.up = Gauge(
            "agentfeed_sink_up", "1 while the sink delivers, 0 while it is failing", ["sink"],
            registry=r,
        )  # fmt: skip
        self.last_delivered = Gauge(
            "agentfeed_sink_last_delivered_timestamp_seconds",
            "When the sink last delivered an event",
            ["sink"],
            registry=r,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
