"""The "similar sessions" panel in real headless Chromium against a real server
(``similar_panel.mjs``), as an anonymous visitor of a public project: it lists the sessions
whose prompts read alike, best first, shows a new similar session without a reload, fits 1280
and 390 px wide windows, and says when a session has no prompt yet.

``AGENTFEED_SIMILAR_SCREENSHOTS=docs`` copies the two screenshots there
(``agentfeed-similar-1280.png``, ``agentfeed-similar-390.png``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed
from tests.agentfeed_app.payloads import hook

from .conftest import now_ms, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(600)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROMPTS = {
    "upload-retry": ["make the uploader retry failed chunks with backoff", "test the retry"],
    "upload-resume": ["the uploader should resume failed chunks after a retry backoff"],
    "upload-limits": ["limit the uploader chunk size and retry count"],
    "css-dark": ["add a dark theme to the settings page css"],
    "no-prompt": [],
}


def test_similar_sessions_panel(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    project = project_path("similar")
    t = now_ms() - 60_000
    for session, prompts in PROMPTS.items():
        start = hook("SessionStart", session, cwd=project, ts=t, source="startup")
        assert agentfeed.post(start)["status"] == "stored"
        for n, prompt in enumerate(prompts):
            payload = hook("UserPromptSubmit", session, cwd=project, ts=t + n + 1, prompt=prompt)
            assert agentfeed.post(payload)["status"] == "stored"
    agentfeed.mutation("projects:update", {"path": project, "public": True})
    config = {
        "url": agentfeed.server.url,
        "chromium": str(chromium_path),
        "key": KEY,
        "session": "upload-retry",
        "expected": ["upload-resume", "upload-limits"],
        "newSession": "upload-backoff",
        "newPrompt": "retry failed uploader chunks with a longer backoff",
        "project": project,
        "quiet": "no-prompt",
        "screenshot1280": str(tmp_path / "agentfeed-similar-1280.png"),
        "screenshot390": str(tmp_path / "agentfeed-similar-390.png"),
    }
    result = run_node("similar_panel.mjs", config, tmp_path, timeout=180)
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    assert not any("css-dark" in text for text in result["shown"])
    print(f"similar panel: {result['shown']}; live in {result['live']['ms']} ms")
    for name in ("agentfeed-similar-1280.png", "agentfeed-similar-390.png"):
        data = (tmp_path / name).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)
        target = os.environ.get("AGENTFEED_SIMILAR_SCREENSHOTS")
        if target:
            shutil.copyfile(tmp_path / name, Path(target) / name)
