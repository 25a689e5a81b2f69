"""``python -m agentfeed import-transcripts`` as a real process against a real server on
apps/agentfeed: sessions get their tokens and cost, the feed gets the events, a second run stores
nothing new and gives the same totals, events the live hook already sent are not stored twice,
and ``CLAUDE_CONFIG_DIR`` is where it looks by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed, launch
from tests.agentfeed_transcripts.fixtures import (
    APP_CWD,
    MYSTERY,
    S1,
    S1_COST,
    S1_EVENT_TYPES,
    S1_TOKENS,
    S2,
    S2_TOKENS,
    ms,
    write_projects,
)
from tests.support.server import REPO_ROOT, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    with launch(tmp_path_factory.mktemp("agentfeed")) as server:
        yield Agentfeed(server)


def run_import(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = base_env(HOME=str(tmp), AGENTFEED_HOME=str(tmp / "agentfeed-home"), **env)
    for name in ("AGENTFEED_URL", "AGENTFEED_KEY", "CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "agentfeed", "import-transcripts", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO_ROOT,
        timeout=120,
    )


def tokens_of(doc: dict[str, Any]) -> dict[str, float]:
    return {k: doc["tokens"][k] for k in ("input", "output", "cache_creation", "cache_read")}


def test_import_twice(agentfeed: Agentfeed, tmp_path: Path) -> None:
    projects = write_projects(tmp_path / "claude" / "projects")
    url = agentfeed.server.url
    first = run_import(tmp_path, str(projects), "--url", url, "--key", KEY)
    assert first.returncode == 0, first.stderr
    assert "13 stored" in first.stdout, first.stdout
    assert f"no price for 1 models ({MYSTERY})" in first.stdout
    assert "1 unreadable lines skipped" in first.stdout
    assert (tmp_path / "agentfeed-home" / "pricing.json").exists()  # written on first use

    s1 = agentfeed.session(S1)
    assert tokens_of(s1) == S1_TOKENS
    assert s1["cost_usd"] == pytest.approx(S1_COST)
    assert {row["model"] for row in s1["usage"]} == {
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
    }
    assert s1["status"] == "ended" and s1["end_reason"] == "transcript"
    assert (s1["started_at"], s1["last_event_at"]) == (ms(0), ms(61))
    assert s1["project"] == APP_CWD and s1["prompt_count"] == 2 and s1["tool_count"] == 3
    s2 = agentfeed.session(S2)
    assert tokens_of(s2) == S2_TOKENS and s2["cost_usd"] is None
    timeline = agentfeed.timeline(S1)
    assert [e["type"] for e in timeline] == S1_EVENT_TYPES
    assert timeline[0]["prompt"] == "Fix the tests"
    raw = json.loads(agentfeed.event(timeline[0]["event_id"])["raw"])
    assert raw["agentfeed_origin"] == "transcript" and "match_window" not in raw

    second = run_import(tmp_path, str(projects), "--url", url, "--key", KEY)
    assert second.returncode == 0, second.stderr
    assert "0 stored, 13 already imported" in second.stdout, second.stdout
    assert agentfeed.timeline(S1) == timeline
    again = agentfeed.session(S1)
    assert tokens_of(again) == S1_TOKENS and again["cost_usd"] == s1["cost_usd"]
    assert again["event_count"] == s1["event_count"] == len(S1_EVENT_TYPES)


def test_events_the_hook_captured_are_not_stored_again(
    agentfeed: Agentfeed, tmp_path: Path
) -> None:
    """The live hook sent the first prompt and the Read call of a session; the import adds the
    rest and the usage."""
    session = str(uuid.uuid4())
    projects = tmp_path / "projects"
    write_projects(projects)
    for path in projects.rglob("*.jsonl"):  # the same transcripts under another session id
        text = path.read_text().replace(S1, session).replace(S2, str(uuid.uuid4()))
        target = Path(str(path).replace(S1, session))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace("toolu_", "toolu_" + session[:8]))
        if target != path:
            path.unlink()
    common = {"session_id": session, "cwd": APP_CWD, "transcript_path": "x"}
    hook_events = [
        {**common, "hook_event_name": "UserPromptSubmit", "prompt": "Fix the tests",
         "timestamp": ms(0) + 300},
        {**common, "hook_event_name": "PreToolUse", "tool_name": "Read",
         "tool_use_id": f"toolu_{session[:8]}2", "tool_input": {}, "timestamp": ms(6) + 900},
    ]  # fmt: skip
    for payload in hook_events:
        stored = agentfeed.post({**payload, "event_id": str(uuid.uuid4())})
        assert stored["status"] == "stored"

    done = run_import(tmp_path, str(projects), "--url", agentfeed.server.url, "--key", KEY)
    assert done.returncode == 0, done.stderr
    assert "2 already captured by the hook" in done.stdout, done.stdout
    timeline = agentfeed.timeline(session)
    assert [e["type"] for e in timeline] == S1_EVENT_TYPES
    imported = [e for e in timeline if e["event_id"].startswith("transcript:")]
    assert len(imported) == len(S1_EVENT_TYPES) - 2
    assert tokens_of(agentfeed.session(session)) == S1_TOKENS


def test_claude_config_dir_and_config(agentfeed: Agentfeed, tmp_path: Path) -> None:
    """No DIR: $CLAUDE_CONFIG_DIR/projects; no --url/--key: the hook's config (env here)."""
    config = tmp_path / "claude-config"
    write_projects(config / "projects")
    (tmp_path / ".claude" / "projects").mkdir(parents=True)  # ignored: CLAUDE_CONFIG_DIR wins
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    dry = run_import(tmp_path, "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    assert "3 transcript files, 2 sessions, 13 events" in dry.stdout
    wrong = run_import(tmp_path, AGENTFEED_URL=agentfeed.server.url, AGENTFEED_KEY="no", **env)
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
    sent = run_import(tmp_path, AGENTFEED_URL=agentfeed.server.url, AGENTFEED_KEY=KEY, **env)
    assert sent.returncode == 0, sent.stderr
    assert "sessions: 2 updated" in sent.stdout


def test_errors(tmp_path: Path) -> None:
    missing = run_import(tmp_path, str(tmp_path / "nope"))
    assert missing.returncode == 1 and "nothing to import" in missing.stderr
    prices = tmp_path / "prices.json"
    prices.write_text("[1]")
    bad = run_import(tmp_path, str(tmp_path), "--pricing", str(prices), "--dry-run")
    assert bad.returncode == 1 and "pricing" in bad.stderr
    assert os.path.exists(prices)
