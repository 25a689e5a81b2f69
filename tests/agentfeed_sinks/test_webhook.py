"""The webhook sink against a real local HTTP server that verifies agentfeed's HMAC signature,
and the sinks' Prometheus metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from agentfeed.sinks.webhook import signature
from tests.agentfeed_app.conftest import Agentfeed
from tests.support.server import free_port

from .conftest import Sinks, post_events, sink_state, wait_for
from .fakes import WebhookReceiver

SECRET = "whsec_test_secret_0123456789"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """The documented signing string, computed independently."""
    expected = hmac.new(b"key", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signature("key", "1700000000", b'{"a":1}') == f"sha256={expected}"


def test_signed_batches_in_order_with_metrics(
    af: Agentfeed, receiver: WebhookReceiver, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    port = free_port()
    env = {
        "AGENTFEED_WEBHOOK_URL": f"{receiver.url}/hooks/agentfeed",
        "AGENTFEED_WEBHOOK_SECRET": SECRET,
        "AGENTFEED_SINKS_METRICS_PORT": str(port),
    }
    sinks = sinks_for(env).running("webhook")
    session = f"s-{uuid.uuid4().hex[:8]}"
    ids = post_events(af, 6, session=session)
    wait_for(lambda: receiver.event_ids() == ids, f"6 signed events\n{sinks.output()}")
    assert receiver.bad_signatures == 0
    batch = receiver.batches[0]
    assert batch["type"] == "agentfeed.events"
    event = batch["events"][0]
    assert event["type"] == "UserPromptSubmit" and event["session_id"] == session
    assert event["project"] == "~/app" and "doc" not in event
    for headers in receiver.headers:
        uuid.UUID(headers["X-Agentfeed-Delivery"])
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    delivered = re.search(
        r'^agentfeed_sink_delivered_total\{sink="webhook"\} (\S+)$', metrics, re.M
    )
    assert delivered is not None and float(delivered.group(1)) == 6
    assert re.search(r'^agentfeed_sink_up\{sink="webhook"\} 1\.0$', metrics, re.M)
    assert 'agentfeed_sink_latency_seconds_count{sink="webhook"} 6.0' in metrics


def test_a_receiver_refusing_the_signature_holds_events_until_fixed(
    af: Agentfeed, receiver: WebhookReceiver, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    receiver.secret = "another secret"  # the receiver and agentfeed disagree: 401
    env = {"AGENTFEED_WEBHOOK_URL": receiver.url, "AGENTFEED_WEBHOOK_SECRET": SECRET}
    sinks = sinks_for(env).running("webhook")
    ids = post_events(af, 3)
    state = wait_for(
        lambda: (s := sink_state(af, "webhook")) and s.get("failing_since") and s, "failing"
    )
    assert "401" in state["last_error"] and receiver.bad_signatures >= 1
    assert receiver.event_ids() == []
    receiver.secret = SECRET  # fixed on the receiver's side: nothing was lost
    wait_for(lambda: receiver.event_ids() == ids, f"delivered after the fix\n{sinks.output()}")
    assert wait_for(lambda: (s := sink_state(af, "webhook")) and s["delivered"] == 3, "saved")
    assert sink_state(af, "webhook")["pending_dead_letters"] == 0  # type: ignore[index]


def test_per_project_forwarding_and_redaction_for_public_projects(
    af: Agentfeed, receiver: WebhookReceiver, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    secret = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98765"
    tag = uuid.uuid4().hex[:6]
    private, public, silent = (f"/home/u/{name}-{tag}" for name in ("priv", "pub", "off"))
    for path in (private, public, silent):
        post_events(af, 1, cwd=path)  # the projects exist once they have an event
    af.mutation("projects:update", {"path": public, "public": True})
    af.mutation("sinks/state:set_forward", {"project": private, "forward": "content"})
    af.mutation("sinks/state:set_forward", {"project": public, "forward": "content"})
    af.mutation("sinks/state:set_forward", {"project": silent, "forward": "off"})
    env = {"AGENTFEED_WEBHOOK_URL": receiver.url, "AGENTFEED_WEBHOOK_SECRET": SECRET}
    sinks = sinks_for(env).running("webhook")
    prompt = f"use {secret} to deploy"
    ids = [post_events(af, 1, cwd=path, prompt=prompt)[0] for path in (private, silent, public)]
    wait_for(lambda: len(receiver.event_ids()) == 2, f"two events\n{sinks.output()}")
    assert receiver.event_ids() == [ids[0], ids[2]]  # the "off" project's event never left
    events = {e["id"]: e for batch in receiver.batches for e in batch["events"]}
    mine, shared = events[ids[0]], events[ids[2]]
    assert mine["prompt"] == prompt  # the owner's private project, content level: as stored
    assert secret not in mine["summary"]  # a summary is always redacted
    assert secret not in json.dumps(shared) and "[redacted:" in shared["prompt"]
    assert shared["public"] is True and shared["project"] == f"~/pub-{tag}"
    assert wait_for(lambda: (s := sink_state(af, "webhook")) and s["skipped"] == 1, "counted")
    with pytest.raises(Exception, match="NotFound"):
        af.mutation("sinks/state:set_forward", {"project": "/nope", "forward": "off"})
    with pytest.raises(Exception, match="forward"):
        af.mutation("sinks/state:set_forward", {"project": private, "forward": "everything"})


def test_reset_forgets_the_cursor_and_the_next_start_begins_at_now(
    af: Agentfeed, receiver: WebhookReceiver, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    env = {"AGENTFEED_WEBHOOK_URL": receiver.url, "AGENTFEED_WEBHOOK_SECRET": SECRET}
    sinks = sinks_for(env).running("webhook")
    first = post_events(af, 2)
    wait_for(lambda: receiver.event_ids() == first, "first")
    assert sinks.terminate() == 0
    post_events(af, 3)  # while it is stopped: a reset gives these up
    done = subprocess.run(
        [sys.executable, "-m", "livebase", "run", "sinks/state:reset", '{"sink": "webhook"}',
         "--url", af.server.url, "--admin-key", af.server.admin_key],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sink_state(af, "webhook").get("cursor") is None  # type: ignore[union-attr]
    sinks.running("webhook")
    later = post_events(af, 2)
    wait_for(lambda: receiver.event_ids() == first + later, f"from now on\n{sinks.output()}")
