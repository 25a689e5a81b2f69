"""The owner's link to a session's transcript file in real headless Chromium against a real
server (``transcript_link.mjs``): signed in, the session view links the transcript and the link
downloads it byte for byte; the public view of the same (public) session has no link."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed
from tests.agentfeed_app.payloads import hook

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]


def test_the_owner_downloads_a_sessions_transcript(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    project, session = project_path("transcript"), "transcript-session"
    prompt = hook("UserPromptSubmit", session, cwd=project, prompt="hello")
    assert agentfeed.post(prompt)["status"] == "stored"
    agentfeed.mutation("projects:update", {"path": project, "public": True})
    data = "".join(json.dumps({"type": "user", "n": n}) + "\n" for n in range(2000)).encode()
    answer = httpx.post(
        f"{agentfeed.server.url}/import/transcript/{session}",
        content=data,
        headers={"X-Agentfeed-Key": KEY},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "stored"
    config = {
        "url": agentfeed.server.url,
        "chromium": str(chromium_path),
        "session": session,
        "email": OWNER_EMAIL,
        "password": OWNER_PASSWORD,
        "expectedBytes": len(data),
    }
    result = run_node("transcript_link.mjs", config, tmp_path, timeout=120)
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    assert result["text"] == f"transcript ({-(-len(data) // 1000)} kB)"
