"""The PostHog sink against a local server speaking PostHog's ``/batch/`` format: the request
format, uuids derived from event ids, person and session properties, a kill mid-stream, an
outage, dead letters and their replay."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentfeed.sinks.wire import NAMESPACE
from tests.agentfeed_app.conftest import APP, KEY, Agentfeed
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer, base_env

from .conftest import Sinks, post_events, sink_state, wait_for
from .fakes import PosthogFake

API_KEY = "phc_test_0123456789"


@pytest.fixture
def posthog() -> Iterator[PosthogFake]:
    with PosthogFake(API_KEY) as fake:
        yield fake


def env_for(fake: PosthogFake) -> dict[str, str]:
    return {
        "AGENTFEED_POSTHOG_HOST": fake.url,
        "AGENTFEED_POSTHOG_API_KEY": API_KEY,
        "AGENTFEED_POSTHOG_DISTINCT_ID": "dev-alice",
    }


def test_batch_format_uuid_person_and_session_properties(
    af: Agentfeed, posthog: PosthogFake, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    sinks = sinks_for(env_for(posthog)).running("posthog")
    session = f"s-{uuid.uuid4().hex[:8]}"
    ids = post_events(af, 5, session=session)
    wait_for(lambda: posthog.event_ids() == ids, f"5 events at PostHog\n{sinks.output()}")
    request = posthog.requests[0]
    assert request["api_key"] == API_KEY and request["historical_migration"] is False
    for event_id, event in zip(ids, posthog.events, strict=True):
        assert event["uuid"] == str(uuid.uuid5(NAMESPACE, event_id))
        assert event["event"] == "agentfeed_user_prompt_submit"
        props = event["properties"]
        assert props["distinct_id"] == "dev-alice"
        assert props["$session_id"] == session
        assert props["$set"]["agentfeed_last_project"] == "app"
        assert props["$set_once"]["agentfeed_first_seen"] == event["timestamp"]
        assert props["project"] == "~/app"  # the home directory never leaves
        assert "doc" not in props and "prompt" not in props  # metadata is the default level
        assert event["timestamp"].endswith("Z")
    state = wait_for(lambda: (s := sink_state(af, "posthog")) and s["delivered"] == 5 and s, "")
    assert state["pending_dead_letters"] == 0


def test_killed_and_restarted_mid_stream_delivers_every_event_once_in_order(
    af: Agentfeed, posthog: PosthogFake, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    sinks = sinks_for(env_for(posthog)).running("posthog")
    total = 120
    ids: list[str] = []
    poster = threading.Thread(target=lambda: ids.extend(post_events(af, total)))
    poster.start()
    wait_for(lambda: len(posthog.event_ids()) >= 20, f"some events\n{sinks.output()}")
    sinks.kill9()  # mid-stream: the poster is still posting
    at_kill = len(posthog.event_ids())
    poster.join()
    assert at_kill < total
    sinks.start()  # the same process again: resumes from the cursor it saved
    wait_for(lambda: len(posthog.unique_ids()) >= total, f"all events\n{sinks.output()}")
    assert posthog.unique_ids() == ids  # every event, in order
    received = posthog.event_ids()
    # A batch delivered but not yet saved when the process died is sent again, with the same
    # uuids: PostHog keeps one event per uuid. Nothing else is repeated.
    repeats = len(received) - total
    assert 0 <= repeats <= 100
    uuids = [e["uuid"] for e in posthog.events]
    assert len(set(uuids)) == total
    # a clean stop (SIGTERM) then a restart repeats nothing at all
    assert sinks.terminate() == 0
    before = len(received)
    more = post_events(af, 10)
    sinks.start()
    wait_for(lambda: posthog.unique_ids()[-10:] == more, f"10 more\n{sinks.output()}")
    assert len(posthog.event_ids()) == before + 10


def test_down_for_a_while_loses_nothing_and_catches_up_in_order(
    af: Agentfeed, posthog: PosthogFake, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    sinks = sinks_for(env_for(posthog)).running("posthog")
    posthog.unavailable = True
    ids = post_events(af, 30)
    state = wait_for(
        lambda: (s := sink_state(af, "posthog")) and s.get("failing_since") and s,
        "the page shows the sink failing",
    )
    assert "503" in state["last_error"]
    assert posthog.event_ids() == []
    posthog.unavailable = False
    wait_for(lambda: posthog.event_ids() == ids, f"caught up\n{sinks.output()}")
    state = wait_for(lambda: (s := sink_state(af, "posthog")) and s["delivered"] == 30 and s, "")
    assert state.get("failing_since") is None
    assert state["pending_dead_letters"] == 0


def test_refused_event_becomes_a_dead_letter_the_owner_replays(
    af: Agentfeed, posthog: PosthogFake, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    sinks = sinks_for(env_for(posthog)).running("posthog")
    session = f"s-{uuid.uuid4().hex[:8]}"
    first = post_events(af, 3, session=session)
    wait_for(lambda: posthog.event_ids() == first, "the first three")
    poison = [str(uuid.uuid4())]
    posthog.refuse = set(poison)  # refused from its first try
    post_events(af, 1, session=session, event_id=poison[0])
    after = post_events(af, 4, session=session)
    wait_for(lambda: posthog.event_ids() == first + after, f"the rest\n{sinks.output()}")
    status = wait_for(
        lambda: (s := af.query("sinks/state:status")) and s["dead_letters"] and s, "a dead letter"
    )
    letter = status["dead_letters"][0]
    assert letter["event_id"] == poison[0] and letter["sink"] == "posthog"
    assert "400" in letter["error"] and letter["attempts"] == 3
    assert sink_state(af, "posthog")["pending_dead_letters"] == 1  # type: ignore[index]
    # the public sees none of it
    public = Agentfeed(af.server, owner=False)
    assert public.query("sinks/state:status") is None
    with pytest.raises(Exception, match="Forbidden"):
        public.mutation("sinks/state:replay", {})
    posthog.refuse = set()
    assert af.mutation("sinks/state:replay", {"sink": "posthog"}) == 1
    wait_for(lambda: posthog.event_ids()[-1:] == poison, f"replayed\n{sinks.output()}")
    state = wait_for(
        lambda: (s := sink_state(af, "posthog")) and s["pending_dead_letters"] == 0 and s,
        "the dead letter is gone",
    )
    assert state["replayed"] == 1


def test_the_server_killed_and_restarted_under_the_sink(
    af: Agentfeed, posthog: PosthogFake, sinks_for: Callable[[dict[str, str]], Sinks]
) -> None:
    sinks = sinks_for(env_for(posthog)).running("posthog")
    before = post_events(af, 5)
    wait_for(lambda: posthog.event_ids() == before, "before")
    af.server.kill9()
    af.server.restart()  # same port and data: the sink's stream and client reconnect by themselves
    after = post_events(af, 5)
    wait_for(lambda: posthog.event_ids() == before + after, f"after the restart\n{sinks.output()}")
    assert sinks.proc is not None and sinks.proc.poll() is None


def test_on_a_postgresql_deployment_a_killed_sink_resumes_in_order(
    tmp_path: Path, posthog: PosthogFake
) -> None:
    with fresh_database_url("sinks") as db:
        env = base_env(AGENTFEED_HOME=str(tmp_path / "home"), AGENTFEED_KEY=KEY)
        with LivebaseServer.launch(tmp_path, app=APP, env=env, db=db) as server:
            af = Agentfeed(server)
            sinks = Sinks(af, tmp_path, env_for(posthog))
            try:
                sinks.running("posthog")
                first = post_events(af, 10)
                wait_for(lambda: posthog.unique_ids() == first, f"first\n{sinks.output()}")
                sinks.kill9()
                second = post_events(af, 10)
                sinks.start()
                wait_for(
                    lambda: posthog.unique_ids() == first + second, f"resumed\n{sinks.output()}"
                )
            finally:
                sinks.close()
