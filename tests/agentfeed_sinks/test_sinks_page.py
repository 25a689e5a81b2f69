"""The forwarding panel on the agentfeed page, in real headless Chromium against a real server
and a running ``agentfeed sinks`` (``sinks_page.mjs``): dead letters counted and replayed with
the button, a project's forwarding level set, no overflow at 1280 px and 390 px, nothing shown
to a visitor."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agentfeed_app.conftest import OWNER_EMAIL, OWNER_PASSWORD, Agentfeed, add_owner
from tests.agentfeed_page.conftest import node_packages, run_node  # noqa: F401  (a fixture)
from tests.e2e.test_react_page import chromium_path  # noqa: F401  (a fixture)

from .conftest import Sinks, post_events, sink_state, wait_for
from .fakes import PosthogFake

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]
HERE = Path(__file__).resolve().parent


def test_the_owner_replays_dead_letters_and_sets_forwarding(
    af: Agentfeed,
    sinks_for: Callable[[dict[str, str]], Sinks],
    chromium_path: Path,  # noqa: F811
    node_packages: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    add_owner(af.server)
    with PosthogFake("phc_page") as posthog:
        env = {"AGENTFEED_POSTHOG_HOST": posthog.url, "AGENTFEED_POSTHOG_API_KEY": "phc_page"}
        sinks = sinks_for(env).running("posthog")
        project = f"/home/u/fwd-{uuid.uuid4().hex[:6]}"
        poison = [str(uuid.uuid4())]
        posthog.refuse = set(poison)  # refused from its first try
        post_events(af, 1, cwd=project, event_id=poison[0])
        ok = post_events(af, 2, cwd=project)
        wait_for(lambda: posthog.event_ids() == ok, f"delivered\n{sinks.output()}")
        wait_for(lambda: sink_state(af, "posthog")["pending_dead_letters"] == 1, "a dead letter")  # type: ignore[index]
        posthog.refuse = set()
        shots = {"wide": str(tmp_path / "sinks-1280.png"), "phone": str(tmp_path / "sinks-390.png")}
        config = {
            "url": af.server.url + "/",
            "chromium": str(chromium_path),
            "email": OWNER_EMAIL,
            "password": OWNER_PASSWORD,
            "screenshots": shots,
        }
        result = run_node(str(HERE / "sinks_page.mjs"), config, tmp_path, timeout=180)
        assert result["ok"], json.dumps(result, indent=1)
        assert "Forwarding to posthog" in result["summary"] and "1 dead letter" in result["summary"]
        assert "Replay 1 dead letter" in result["panel"] and "400" in result["panel"]
        assert "dead letter" not in result["after"]
        wait_for(lambda: posthog.event_ids() == [*ok, *poison], "replayed to PostHog")
        assert result["overflow"] == {"wide": False, "phone": False}
        assert result["visitor"]["shown"] is False
        assert "Forwarding" not in result["visitor"]["text"]
        status = af.query("sinks/state:status")
        assert {p["path"]: p["forward"] for p in status["projects"]}[project] == "off"
        skipped = post_events(af, 1, cwd=project)  # off: counted, never sent
        wait_for(lambda: sink_state(af, "posthog")["skipped"] == 1, "skipped")  # type: ignore[index]
        assert skipped[0] not in posthog.event_ids()
        for shot in shots.values():
            assert Path(shot).stat().st_size > 1000
