"""Ingest to MQTT notification latency: from posting a hook event to ``POST /event`` of a real
``livebase serve apps/agentfeed`` to the moment a subscriber on the real Mosquitto broker
receives its notification from ``agentfeed sinks`` (the change stream, the app's
``sinks/outbox:outgoing`` query, a QoS 1 publish and the broker's delivery all included).

First ``--burst`` events are posted with no sink running (the ingest rate alone, for
comparison: a sink must not slow ingestion). Then, with ``agentfeed sinks`` running, two
phases on the same server: ``--events`` events posted one at a time every ``--interval`` ms
(a steady stream: each is alone in its batch), then ``--burst`` events posted by 4 threads as
fast as the server takes them (batches form; also gives events/s from first post to last
notification). The broker is ``--broker`` (default 127.0.0.1:1883); topics are under a node id
of this run's own, and the retained ones are cleared at the end.

    .venv/bin/python bench/agentfeed_sinks.py                # 300 paced events, 1,000 in a burst
    .venv/bin/python bench/agentfeed_sinks.py --events 1000 --burst 5000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import ROOT, served

KEY = "bench-agentfeed-key-0123456789"


class Arrivals:
    """When each notification arrived (event id -> perf_counter), from a paho subscriber."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        if message.topic.endswith("/activity"):
            event_id = json.loads(message.payload)["id"]
            with self.lock:
                self.at.setdefault(event_id, now)

    def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.at for i in ids):
                    return
            time.sleep(0.01)
        raise SystemExit(f"notifications missing after {timeout} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def event(session: str) -> dict[str, Any]:
    return {
        "session_id": session, "cwd": "/home/bench/app", "hook_event_name": "UserPromptSubmit",
        "prompt": "make the uploader retry", "event_id": str(uuid.uuid4()),
        "timestamp": int(time.time() * 1000),
    }  # fmt: skip


def burst_rate(http: httpx.Client, n: int) -> float:
    """Events per second that 4 threads posting ``n`` events get through ``POST /event``."""
    headers = {"X-Agentfeed-Key": KEY}
    payloads = [event("alone") for _ in range(n)]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        for response in pool.map(lambda p: http.post("/event", json=p, headers=headers), payloads):
            response.raise_for_status()
    return round(n / (time.perf_counter() - started), 1)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(pick(0.90) * 1000, 1),
        "p99_ms": round(pick(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=50.0, help="ms between paced posts")
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--broker", default="127.0.0.1:1883")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    host, _, port = options.broker.partition(":")
    node = f"bench_{uuid.uuid4().hex[:8]}"
    env = {k: val for k, val in os.environ.items() if not k.startswith(("LIVEBASE_", "AGENTFEED_"))}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env |= {"AGENTFEED_KEY": KEY, "AGENTFEED_HOME": str(Path(tmp) / "home")}
        with served(ROOT / "apps" / "agentfeed", Path(tmp) / "data", env=env) as server:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                # ingestion alone first: the rate the burst below is compared with
                results["burst_ingest_per_s_without_sinks"] = burst_rate(http, options.burst)
            sinks_env = {
                **env, "PYTHONPATH": str(ROOT / "src"), "AGENTFEED_MQTT_NODE": node,
                "AGENTFEED_MQTT_URL": f"mqtt://{options.broker}",
            }  # fmt: skip
            sinks = subprocess.Popen(
                [sys.executable, "-m", "agentfeed", "sinks", "--url", server.url,
                 "--data", str(server.data)],
                env=sinks_env, stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "sinks.log", "w"),
            )  # fmt: skip
            arrivals = Arrivals(host, int(port or 1883), f"agentfeed/{node}/#")
            try:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    headers = {"X-Agentfeed-Key": KEY}
                    # warm up (and wait until the sink follows the stream)
                    warm = [event("warm") for _ in range(20)]
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        probe = event("warm")
                        http.post("/event", json=probe, headers=headers).raise_for_status()
                        time.sleep(0.5)
                        if probe["event_id"] in arrivals.at:
                            break
                    for payload in warm:
                        http.post("/event", json=payload, headers=headers).raise_for_status()
                    arrivals.wait([p["event_id"] for p in warm], 60)

                    sent: dict[str, float] = {}
                    posted: list[float] = []
                    for _ in range(options.events):
                        payload = event("paced")
                        sent[payload["event_id"]] = start = time.perf_counter()
                        http.post("/event", json=payload, headers=headers).raise_for_status()
                        posted.append(time.perf_counter() - start)
                        time.sleep(options.interval / 1000)
                    arrivals.wait(list(sent), 120)
                    results["paced"] = percentiles([arrivals.at[i] - t for i, t in sent.items()])
                    results["paced_post"] = percentiles(posted)

                    burst = [event("burst") for _ in range(options.burst)]
                    sent = {}

                    def post(payload: dict[str, Any]) -> None:
                        sent[payload["event_id"]] = time.perf_counter()
                        http.post("/event", json=payload, headers=headers).raise_for_status()

                    first = time.perf_counter()
                    with ThreadPoolExecutor(4) as pool:
                        list(pool.map(post, burst))
                    posted_all = time.perf_counter() - first
                    arrivals.wait(list(sent), 300)
                    last = max(arrivals.at[i] for i in sent)
                    results["burst"] = percentiles([arrivals.at[i] - t for i, t in sent.items()])
                    results["burst_ingest_per_s"] = round(options.burst / posted_all, 1)
                    results["burst_delivered_per_s"] = round(options.burst / (last - first), 1)
            finally:
                arrivals.close()
                sinks.terminate()
                sinks.wait(30)
                cleaner = paho.Client(paho.CallbackAPIVersion.VERSION2)
                cleaner.connect(host, int(port or 1883))
                cleaner.loop_start()
                for topic in (f"agentfeed/{node}/availability", f"agentfeed/{node}/state",
                              f"homeassistant/device/agentfeed_{node}/config"):  # fmt: skip
                    cleaner.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
                cleaner.loop_stop()
                cleaner.disconnect()
    results["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    if options.json:
        print(json.dumps(results))
    else:
        for name, value in results.items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
