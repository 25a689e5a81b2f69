"""``agentfeed sinks``: run every sink the environment switches on, against a running agentfeed
server, until SIGTERM or SIGINT (then each finishes the batch in hand and saves its cursor; a
second signal stops at once).

The admin key (the change stream and the sinks' internal functions need it) is
``LIVEBASE_ADMIN_KEY`` or the one in the server's data folder (``--data``, default
``$AGENTFEED_HOME/data``). ``agentfeed serve`` starts this command next to the server when any
sink setting is present.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentfeed.home import agentfeed_home
from agentfeed.owner import DEFAULT_URL, admin_key

from . import settings as sink_settings
from .base import Fatal, Sink

if TYPE_CHECKING:  # the client and the sinks' libraries load only when `sinks` runs
    from livebase.client import Client

log = logging.getLogger("agentfeed.sinks")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "sinks",
        help="forward events to PostHog, MQTT and a webhook (the sinks set in the environment)",
        description="Follow the agentfeed server's change stream and forward each new event to "
        "every sink switched on by the environment: AGENTFEED_POSTHOG_HOST + "
        "AGENTFEED_POSTHOG_API_KEY, AGENTFEED_MQTT_URL, AGENTFEED_WEBHOOK_URL + "
        "AGENTFEED_WEBHOOK_SECRET. Each keeps its cursor on the server; see docs/agentfeed.md.",
    )
    p.add_argument("--url", default=DEFAULT_URL, help="the server (default: %(default)s)")
    p.add_argument("--data", type=Path, help="its data folder (default: $AGENTFEED_HOME/data)")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics "
        f"(default: ${sink_settings.METRICS_PORT}, else none)",
    )


def build_sinks(config: sink_settings.SinkSettings, client: Client) -> list[Sink]:
    """The configured sinks (the MQTT one reads its state through ``client``)."""
    sinks: list[Sink] = []
    if config.posthog is not None:
        from .posthog import PosthogSink

        sinks.append(PosthogSink(config.posthog))
    if config.mqtt is not None:
        from .mqtt import MqttSink

        async def read_state() -> dict[str, Any]:
            state = await client.query("sinks/outbox:home_state", {})
            assert isinstance(state, dict)
            return dict(state)

        sinks.append(MqttSink(config.mqtt, read_state))
    if config.webhook is not None:
        from .webhook import WebhookSink

        sinks.append(WebhookSink(config.webhook))
    return sinks


async def serve(url: str, key: str, config: sink_settings.SinkSettings) -> int:
    from livebase.client import Client, CursorExpiredError

    from .metrics import SinkMetrics
    from .runner import SinkRunner

    metrics = SinkMetrics()
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
        log.info("metrics at http://127.0.0.1:%d/metrics", config.metrics_port)
    async with Client(url, admin_key=key) as client:
        runners = [SinkRunner(sink, client, key, metrics) for sink in build_sinks(config, client)]
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(runner.run()) for runner in runners]
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            for runner in runners:
                runner.stop()
            if signals > 1:
                for task in tasks:
                    task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        log.info("forwarding to %s", ", ".join(config.names))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    code = 0
    for runner, result in zip(runners, results, strict=True):
        if isinstance(result, CursorExpiredError | Fatal):
            log.error("sink %s stopped: %s", runner.name, result)
            code = 1
        elif isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            log.error("sink %s failed", runner.name, exc_info=result)
            code = 1
    return code


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="agentfeed sinks: %(message)s", stream=sys.stderr
    )
    try:
        config = sink_settings.load()
    except sink_settings.SettingsError as exc:
        sys.stderr.write(f"agentfeed sinks: error: {exc}\n")
        return 2
    if args.metrics_port is not None:
        config = sink_settings.SinkSettings(
            config.posthog, config.mqtt, config.webhook, args.metrics_port
        )
    if not config.names:
        sys.stderr.write(
            "agentfeed sinks: no sink is switched on: set AGENTFEED_POSTHOG_HOST and "
            "AGENTFEED_POSTHOG_API_KEY, AGENTFEED_MQTT_URL, or AGENTFEED_WEBHOOK_URL and "
            "AGENTFEED_WEBHOOK_SECRET\n"
        )
        return 2
    data = args.data if args.data is not None else agentfeed_home() / "data"
    key = admin_key(data)
    if key is None:
        sys.stderr.write(
            f"agentfeed sinks: error: no admin key in {data}: start the server first "
            "(agentfeed serve), pass its --data folder, or set LIVEBASE_ADMIN_KEY\n"
        )
        return 2
    return asyncio.run(serve(args.url, key, config))
