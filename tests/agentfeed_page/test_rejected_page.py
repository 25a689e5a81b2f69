"""The owner sees rejected posts on the page and re-ingests one, in real headless Chromium
against a real server (``rejected_page.mjs``); a visitor sees nothing of them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.agentfeed_app.conftest import Agentfeed

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, hook, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]


def test_the_owner_sees_rejected_posts_and_re_ingests_one(
    agentfeed: Agentfeed, chromium_path: Path, node_packages: Path, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:10]
    bad = agentfeed.post(content=f'{{"oops": "not json {marker}'.encode())
    assert bad["status"] == "rejected"
    # a raw payload an older server refused (it wanted an event_id): usable now
    retry_text = f"retry me {marker}"
    raw = hook("UserPromptSubmit", f"s-{marker}", cwd=project_path("rej"), prompt=retry_text)
    del raw["event_id"], raw["timestamp"]
    body = json.dumps(raw)
    agentfeed.mutation(
        "events:record_rejection",
        {"endpoint": "event", "reason": "no event_id: the event cannot be stored idempotently",
         "body": body, "body_bytes": float(len(body)), "blobs": []},
    )  # fmt: skip
    config = {
        "url": agentfeed.server.url + "/",
        "chromium": str(chromium_path),
        "email": OWNER_EMAIL,
        "password": OWNER_PASSWORD,
        "reason": "the body is not JSON",
        "payloadText": f"not json {marker}",
        "retryText": retry_text,
        "screenshot": str(tmp_path / "rejected.png"),
    }
    result = run_node("rejected_page.mjs", config, tmp_path, timeout=180)
    assert result["ok"], json.dumps(result, indent=1)
    assert "2 rejected posts" in result["summary"], result
    assert (
        "the body is not JSON (1)" in result["summary"] and "no event_id (1)" in result["summary"]
    )
    assert result["rows"] == 2 and result["rowsAfter"] == 1
    assert result["visitor"] == {"shown": False, "text": result["visitor"]["text"]}
    assert marker not in result["visitor"]["text"]
