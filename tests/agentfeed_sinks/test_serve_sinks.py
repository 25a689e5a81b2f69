"""``agentfeed serve`` runs the sinks the environment switches on next to the server (and stops
them with it), refuses bad sink settings before starting, and ``agentfeed sinks`` says what is
missing."""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.agentfeed.serving import Serve, agentfeed_command, fresh_env
from tests.agentfeed_app.payloads import hook

from .conftest import wait_for
from .fakes import MqttWatcher, clear_retained


def test_serve_starts_and_stops_the_configured_sinks(tmp_path: Path) -> None:
    node = f"test_{uuid.uuid4().hex[:10]}"
    watcher = MqttWatcher(f"agentfeed/{node}/#")
    home = tmp_path / "home"
    env = {"AGENTFEED_MQTT_URL": "mqtt://127.0.0.1:1883", "AGENTFEED_MQTT_NODE": node}
    try:
        with Serve(home, **env) as serve:
            banner = serve.wait_banner()
            wait_for(lambda: "forwarding events to mqtt" in serve.stdout(), serve.stdout())
            assert "your feed" in banner
            wait_for(
                lambda: watcher.on(f"agentfeed/{node}/availability"), f"online\n{serve.stderr()}"
            )
            key = (home / ".agentfeed" / "server_key").read_text().strip()
            payload = hook("UserPromptSubmit", "s-serve", prompt="hello from serve")
            answer = httpx.post(
                f"{serve.url}/event", json=payload, headers={"X-Agentfeed-Key": key}, timeout=60
            )
            assert answer.status_code == 200, answer.text
            message = wait_for(
                lambda: watcher.on(f"agentfeed/{node}/activity"), f"notified\n{serve.stderr()}"
            )
            assert message[0].json()["id"] == payload["event_id"]
            serve.proc.send_signal(signal.SIGTERM)
            assert serve.proc.wait(timeout=60) == 0
            wait_for(
                lambda: watcher.on(f"agentfeed/{node}/availability")[-1].payload == b"offline",
                "the sinks stopped with the server",
            )
    finally:
        watcher.close()
        clear_retained(
            f"agentfeed/{node}/availability",
            f"agentfeed/{node}/state",
            f"homeassistant/device/agentfeed_{node}/config",
        )


def test_serve_refuses_half_given_sink_settings(tmp_path: Path) -> None:
    env = fresh_env(tmp_path, AGENTFEED_WEBHOOK_URL="https://example.com/hook")
    done = subprocess.run(
        [*agentfeed_command(), "serve", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "AGENTFEED_WEBHOOK_SECRET is not" in done.stderr


def test_sinks_without_any_sink_says_what_to_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [*agentfeed_command(), "sinks"],
        env=fresh_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no sink is switched on: set AGENTFEED_POSTHOG_HOST" in done.stderr
