"""``agentfeed serve`` runs the sinks the environment switches on next to the server (and stops
them with it), refuses bad sink settings before starting, and ``agentfeed sinks`` says what is
missing."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.agentfeed.serving import Serve, agentfeed_command, fresh_env
from tests.agentfeed_app.conftest import APP, KEY, Agentfeed
from tests.agentfeed_app.payloads import hook
from tests.support.server import LivebaseServer, base_env

from .conftest import Sinks, post_events, wait_for, wait_started
from .fakes import MqttWatcher, WebhookReceiver, clear_retained


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


def test_sinks_with_a_wrong_admin_key_stops_and_says_why(af: Agentfeed, tmp_path: Path) -> None:
    env = fresh_env(
        tmp_path,
        LIVEBASE_ADMIN_KEY="not-the-key",
        AGENTFEED_WEBHOOK_URL="http://127.0.0.1:9/hook",
        AGENTFEED_WEBHOOK_SECRET="s",
    )
    done = subprocess.run(
        [*agentfeed_command(), "sinks", "--url", af.server.url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "sink webhook stopped: the server at" in done.stderr
    assert "refused the admin key (401)" in done.stderr


def test_sinks_started_before_the_server_waits_for_it(
    tmp_path: Path, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    with WebhookReceiver("secret") as receiver:
        base = tmp_path / "late"
        base.mkdir()
        server = LivebaseServer(
            APP, data=base / "data", log_path=base / "server.log",
            admin_key="late-admin-key-0123456789",
            env=base_env(AGENTFEED_HOME=str(base / "home"), AGENTFEED_KEY=KEY),
        )  # fmt: skip
        af = Agentfeed(server)
        sinks = Sinks(af, tmp_path, {"AGENTFEED_WEBHOOK_URL": receiver.url,
                                     "AGENTFEED_WEBHOOK_SECRET": "secret"})  # fmt: skip
        try:
            sinks.start()  # nothing listens on the server's port yet
            time.sleep(1)
            assert sinks.proc is not None and sinks.proc.poll() is None, sinks.output()
            server.start()
            wait_started(af, sinks, "webhook")
            ids = post_events(af, 2)
            wait_for(lambda: receiver.event_ids() == ids, f"delivered\n{sinks.output()}")
        finally:
            sinks.close()
            server.stop()
