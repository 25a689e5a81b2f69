"""The agentfeed page in real headless Chromium against a real server (``run_feed.mjs``).

Before the page opens, 120 events of one session are posted (history). The driver opens ``/``
with a page size of 20 and at most 60 rows in the DOM (the public view: every project is
private), signs in as the owner with the page's form, then posts 50 events of another session
and project over HTTP (four requests in flight) and checks, without a reload, that they appear
at the top in order (each row's first appearance is timed against its POST); switches the
event-type filter and the project filter and sees the list change; scrolls down until every
older page is loaded (the DOM staying at most 60 rows) and back up; opens the live session's
timeline from the active sessions panel; takes a screenshot. Then, as the owner, in the page's
project panel, it makes the live project public and describes it, and a visitor (a browser
context of their own, not signed in) opens the page: only the public project's events show
(with its description), and nothing of the private history project (not its events, not its
name), even after loading every page. The owner's tab stays signed in, and a new tab of the
owner's browser opens signed in.

``AGENTFEED_SCREENSHOT=docs/agentfeed-screenshot.png`` copies the screenshot there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, now_ms, project_path, run_node, session_events

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(1200)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_feed_page_live_filters_scroll_and_session_view(
    agentfeed: Agentfeed,
    chromium_path: Path,
    node_packages: Path,
    tmp_path: Path,
) -> None:
    start = now_ms() - 3_600_000
    history_project = project_path("history")
    _, history = session_events(120, project=history_project, start_ms=start)
    for payload in history:
        assert agentfeed.post(payload)["status"] == "stored"
    live_project = project_path("live")
    live_session, live = session_events(50, project=live_project, start_ms=now_ms())

    screenshot = tmp_path / "agentfeed.png"
    config = {
        "base": agentfeed.server.url,
        "pageSize": 20,
        "maxRows": 60,
        "agentfeedKey": KEY,
        "ownerEmail": OWNER_EMAIL,
        "ownerPassword": OWNER_PASSWORD,
        "chromium": str(chromium_path),
        "screenshot": str(screenshot),
        "sessionScreenshot": str(tmp_path / "agentfeed-session.png"),
        "history": [p["event_id"] for p in history],
        "live": live,
        "liveProject": live_project,
        "liveSession": live_session,
        "historyProject": history_project,
    }
    result = run_node("run_feed.mjs", config, tmp_path, timeout=300)
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    latencies = result["latencies"]
    print(f"POST -> row visible (ms): {latencies}; all 50 shown {result['allShownMs']} ms after "
          f"the first POST; {result['renders']} renders; scroll {result['scroll']}")  # fmt: skip
    assert latencies["max"] < 5000
    assert result["scroll"]["maxDom"] <= 60
    data = screenshot.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)
    target = os.environ.get("AGENTFEED_SCREENSHOT")
    if target:
        shutil.copyfile(screenshot, target)
