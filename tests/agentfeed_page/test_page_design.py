"""The redesigned agentfeed page in real headless Chromium against a real server
(``page_design.mjs``), on a fortnight of seeded work (``design_data.py``) with its telemetry
posted as Claude Code exports it (OTLP protobuf).

As the owner: the Bash call shows its command, the Read and Edit calls their file, the Edit its
diff summary (+3 -1 lines and the changed lines), the result its first lines and the rest after
"show more"; the prompt shows once; "Today" and "Yesterday" head the first row of each day and
no other row; the session cards show the cost from the stored telemetry and, for the session
still running a tool, that tool, which changes live when the next tool starts; the two charts
have 14 bars and a label saying the totals; the theme toggle flips the computed background and
is remembered across a reload; the replay shows event 3 after scrubbing to it and plays to the
end at 16x. Owner and public views, light and dark, at 360, 768, 1280 and 1920 px: no
horizontal overflow, and axe-core finds no serious or critical violation; the public view shows
the public project's sessions and nothing of the private one. Each is screenshotted; with
``AGENTFEED_SCREENSHOTS=1`` the screenshots are copied to ``docs/images/``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import hook
from tests.agentfeed_app.test_capture import PROTOBUF, api_request_pb, logs_pb
from tests.support.day_boundary import wait_for_room_in_the_day

from . import design_data as data
from .conftest import KEY, OWNER_EMAIL, OWNER_PASSWORD, now_ms, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(900)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
WIDTHS = [360, 768, 1280, 1920]


def test_page_design(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    assert (node_packages / "axe-core" / "axe.min.js").exists(), "npm ci in tests/clients/web"
    # today's two sessions need a few minutes since midnight; the checks, that it stays today
    wait_for_room_in_the_day(after_midnight_s=300, before_midnight_s=900)
    seed = data.fortnight(now_ms())
    for payload in seed.payloads:
        assert agentfeed.post(payload)["status"] == "stored"
    records = [
        api_request_pb(sid, f"p-{n}", "claude-opus-4-1", (900, 300, 5000, 200), usd, at, n)
        for n, (sid, usd, at) in enumerate(seed.costs)
    ]
    sent = httpx.post(
        f"{agentfeed.server.url}/v1/logs", content=logs_pb(*records), headers=PROTOBUF
    )
    assert sent.status_code == 200, sent.text
    today, running = seed.ids["today"], seed.ids["running"]
    agentfeed.mutation(
        "projects:update",
        {
            "path": seed.public,
            "public": True,
            "description": "My portfolio site, built in the open",
        },
    )
    shots = tmp_path / "shots"
    shots.mkdir()
    config = {
        "base": agentfeed.server.url,
        "chromium": str(chromium_path),
        "agentfeedKey": KEY,
        "ownerEmail": OWNER_EMAIL,
        "ownerPassword": OWNER_PASSWORD,
        "publicProject": seed.public,
        "privateName": seed.private.rsplit("/", 1)[-1],
        "widths": WIDTHS,
        "shots": str(shots),
        "command": data.COMMAND,
        # the server shows home directories shortened (access.py), to the owner too
        "readPath": data.READ_PATH.replace("/home/u/", "~/"),
        "editPath": data.EDIT_PATH.replace("/home/u/", "~/"),
        "prompt": data.PROMPT,
        "resultLines": data.RESULT_LINES,
        "bash": data.find(seed, today, "PreToolUse", "Bash"),
        "bashResult": data.find(seed, today, "PostToolUse", "Bash"),
        "read": data.find(seed, today, "PreToolUse", "Read"),
        "edit": data.find(seed, today, "PreToolUse", "Edit"),
        "promptEvent": data.find(seed, today, "UserPromptSubmit"),
        "todayFirst": data.event_ids(seed, running)[-1],
        "yesterdayFirst": data.event_ids(seed, seed.ids["yesterday"])[-1],
        "today": today,
        "todayEvents": data.event_ids(seed, today),
        "running": running,
        "todayCost": "$0.42",
        "nextTool": hook(
            "PreToolUse",
            running,
            cwd=seed.private,
            ts=now_ms(),
            tool_name="Grep",
            tool_input={"pattern": "slow_step"},
            tool_use_id="toolu_next",
        ),
    }
    result = run_node("page_design.mjs", config, tmp_path, timeout=600)
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    print("axe, minor or moderate:", sorted({(v["id"], v["impact"]) for v in result["axe"]}))
    taken = sorted([*shots.glob("agentfeed-owner-*.png"), *shots.glob("agentfeed-public-*.png")])
    assert len(taken) == 2 * 2 * len(WIDTHS), [p.name for p in taken]
    for shot in taken:
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if os.environ.get("AGENTFEED_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for shot in [*taken, *shots.glob("agentfeed-session-*.png")]:
            shutil.copyfile(shot, DOCS / shot.name)
