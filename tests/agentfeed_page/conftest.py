"""Fixtures for the agentfeed page tests: a real ``livebase serve apps/agentfeed`` (with an API
key and the owner's built-in account, ``OWNER_EMAIL`` / ``OWNER_PASSWORD``), Debian Chromium
(installed once if missing, as in ``tests/e2e/test_react_page.py``) and the npm packages of
``tests/clients/web`` (``playwright-core`` and ``ws``), and hook payloads built from
``tests/agentfeed_app/payloads.py``."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agentfeed_app.conftest import (
    KEY,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Agentfeed,
    add_owner,
    launch,
)
from tests.agentfeed_app.payloads import EVERY_EVENT, hook, now_ms
from tests.e2e.test_react_page import WEB_DIR, chromium_path  # noqa: F401  (a fixture)

HERE = Path(__file__).resolve().parent
LIVE_TYPES = (
    "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Notification",
    "SubagentStart", "SubagentStop", "PreCompact", "PostCompact", "Stop",
)  # fmt: skip
FIELDS = {name: fields for name, fields, _ in EVERY_EVENT}


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    """A server with ``AGENTFEED_KEY`` (posting) and the owner's account (``OWNER_EMAIL``,
    ``OWNER_PASSWORD``: the owner signs in on the page for the owner view)."""
    base = tmp_path_factory.mktemp("agentfeed-page")
    with launch(base) as server:
        add_owner(server)
        yield Agentfeed(server)


@pytest.fixture(scope="session")
def node_packages() -> Path:
    """``tests/clients/web/node_modules`` with ``playwright-core``, ``ws`` and ``axe-core``
    (``npm ci`` if they are missing)."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.fail("node and npm must be on PATH for the agentfeed page tests")
    modules = WEB_DIR / "node_modules"
    needed = ("playwright-core", "ws", "axe-core")
    if not all((modules / name / "package.json").exists() for name in needed):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB_DIR, check=True)
    return modules


def session_events(count: int, *, project: str, start_ms: int) -> tuple[str, list[dict[str, Any]]]:
    """A session of ``count`` hook payloads in ``project`` (a SessionStart, then prompts, tool
    calls with results and failures, notifications, subagents, compactions and stops), one
    millisecond apart from ``start_ms``."""
    session_id = str(uuid.uuid4())
    events = [hook("SessionStart", session_id, cwd=project, ts=start_ms, **FIELDS["SessionStart"])]
    for i in range(1, count):
        name = LIVE_TYPES[(i - 1) % len(LIVE_TYPES)]
        fields = dict(FIELDS[name])
        if "tool_use_id" in fields:
            fields["tool_use_id"] = f"toolu_{session_id[:8]}_{(i - 1) // len(LIVE_TYPES)}"
        if name == "UserPromptSubmit":
            fields["prompt"] = f"prompt {i}: make the uploader retry"
        events.append(hook(name, session_id, cwd=project, ts=start_ms + i, **fields))
    return session_id, events


def project_path(label: str) -> str:
    return f"/home/u/{label}-{uuid.uuid4().hex[:6]}"


def run_node(script: str, config: dict[str, Any], tmp_path: Path, timeout: float) -> dict[str, Any]:
    """``node SCRIPT config.json`` in this folder: its one JSON result line."""
    config_path = tmp_path / f"{Path(script).stem}.json"
    config_path.write_text(json.dumps(config))
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(
        [node, script, str(config_path)],
        cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no result\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = proc.stderr[-3000:]
    return result


__all__ = ["KEY", "OWNER_EMAIL", "OWNER_PASSWORD", "now_ms"]
