"""The owner validates activity sessions on the page: in real headless Chromium against a real
server (``activity_sessions.mjs``), hook events posted over HTTP become activity sessions (the
trigger and the scheduled worker), the one guessed with low confidence is marked, Confirm and
Correct change them live, and a visitor sees none of it. With ``AGENTFEED_SCREENSHOTS=1`` the
screenshots are copied to ``docs/images/``."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.agentfeed_app.conftest import Agentfeed

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, hook, now_ms, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


def test_the_owner_confirms_and_corrects_activity_sessions(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:6]
    clear = f"fix the failing login test {marker}"
    unclear = f"hmm ok continue {marker}"
    for label, prompt in (("login", clear), ("misc", unclear)):
        session, cwd, ts = f"{label}-{marker}", project_path(label), now_ms()
        agentfeed.post(hook("UserPromptSubmit", session, cwd=cwd, ts=ts, prompt=prompt))
        agentfeed.post(hook("Stop", session, cwd=cwd, ts=ts + 1))
    corrected = f"Tidy up the misc scripts {marker}"
    shots = {width: str(tmp_path / f"activity-{width}.png") for width in ("390", "1280")}
    config = {
        "url": agentfeed.server.url + "/",
        "chromium": str(chromium_path),
        "email": OWNER_EMAIL,
        "password": OWNER_PASSWORD,
        "clear": clear[: len("fix the failing login test")],
        "unclear": f"Unclear: {unclear}",
        "corrected": corrected,
        "screenshots": shots,
    }
    result = run_node("activity_sessions.mjs", config, tmp_path, timeout=180)
    assert result["ok"], json.dumps(result, indent=1)
    assert result["flagged"] == 1 and result["count"] == "1 to check"
    assert "Fix a bug: fix the failing login test" in "\n".join(result["cards"])
    assert "confirmed by you · 100% sure" in result["afterConfirm"]
    assert result["emptyRefused"] is True
    assert corrected in result["afterCorrect"] and result["flaggedAfter"] == 0
    assert result["overflow"] is False
    assert result["visitor"] == {"shown": False, "cards": 0}
    stored = agentfeed.query("activity:sessions", {})["sessions"]
    assert corrected in [s["guessed_intent"] for s in stored]
    if os.environ.get("AGENTFEED_SCREENSHOTS") == "1":  # as test_page_design: never by default
        DOCS.mkdir(parents=True, exist_ok=True)
        for width, path in shots.items():
            shutil.copy(path, DOCS / f"agentfeed-activity-{width}.png")
