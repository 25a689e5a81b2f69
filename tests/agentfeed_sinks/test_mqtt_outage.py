"""The MQTT sink when its broker goes away and comes back (a Mosquitto of the test's own on a
free port, so the shared broker is left alone), and Home Assistant's birth message making it
announce its discovery config again."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.support.server import free_port

from .conftest import Sinks, post_events, sink_state, wait_for
from .fakes import MQTT_HOST, MqttWatcher, clear_retained

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """``mosquitto -p PORT`` (local only), started and killed by the test."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.log = tmp / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-p", str(self.port)], stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(lambda: self._accepts(), f"mosquitto on {self.port}\n{self.log.read_text()}")

    def _accepts(self) -> bool:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        try:
            client.connect(MQTT_HOST, self.port)
        except OSError:
            return False
        client.disconnect()
        return True

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto must be installed for the MQTT sink tests")
    made = Broker(tmp_path)
    made.start()
    yield made
    made.kill()


def test_broker_down_then_back_loses_nothing_and_keeps_order(
    af: Agentfeed, broker: Broker, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    node = f"test_{uuid.uuid4().hex[:10]}"
    topic = f"agentfeed/{node}/activity"
    env = {"AGENTFEED_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}", "AGENTFEED_MQTT_NODE": node}
    watcher = MqttWatcher(topic, port=broker.port)
    sinks = sinks_for(env).running("mqtt")
    before = post_events(af, 3)
    watcher.wait(lambda: [m.json()["id"] for m in watcher.on(topic)] == before, "before")
    watcher.close()
    broker.kill()
    during = post_events(af, 20)
    state = wait_for(
        lambda: (s := sink_state(af, "mqtt")) and s.get("failing_since") and s, "failing"
    )
    assert "MQTT" in state["last_error"]
    time.sleep(2)  # down for a while: the sink keeps retrying, with backoff
    # The sink is held still while the broker comes back and the watcher subscribes, so that
    # nothing it delivers reaches the broker before someone is listening (notifications are not
    # retained); it carries on from where it was when let go.
    assert sinks.proc is not None
    sinks.proc.send_signal(signal.SIGSTOP)
    try:
        broker.start()
        watcher = MqttWatcher(topic, port=broker.port)
    finally:
        sinks.proc.send_signal(signal.SIGCONT)
    try:
        after = post_events(af, 2)
        watcher.wait(
            lambda: [m.json()["id"] for m in watcher.on(topic)] == during + after,
            f"caught up in order\n{sinks.output()}",
        )
        ok = wait_for(lambda: (s := sink_state(af, "mqtt")) and s["delivered"] == 25 and s, "")
        assert ok.get("failing_since") is None and ok["pending_dead_letters"] == 0
    finally:
        watcher.close()


def test_home_assistant_birth_message_announces_the_config_again(
    af: Agentfeed, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    node = f"test_{uuid.uuid4().hex[:10]}"
    prefix = f"hatest_{uuid.uuid4().hex[:8]}"
    config = f"{prefix}/device/agentfeed_{node}/config"
    env = {
        "AGENTFEED_MQTT_URL": "mqtt://127.0.0.1:1883",
        "AGENTFEED_MQTT_NODE": node,
        "AGENTFEED_MQTT_DISCOVERY_PREFIX": prefix,
    }
    watcher = MqttWatcher(config)
    try:
        sinks_for(env).running("mqtt")
        watcher.wait(lambda: len(watcher.on(config)) == 1, "the first config")
        publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
        publisher.connect(MQTT_HOST, 1883)
        publisher.loop_start()
        publisher.publish(f"{prefix}/status", b"online", qos=1).wait_for_publish(10)
        publisher.loop_stop()
        publisher.disconnect()
        watcher.wait(lambda: len(watcher.on(config)) == 2, "the config again")
    finally:
        watcher.close()
        clear_retained(config, f"agentfeed/{node}/availability", f"agentfeed/{node}/state")
