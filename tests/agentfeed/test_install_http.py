"""``agentfeed install-hook --http`` and ``agentfeed install-telemetry`` on settings files in a
temporary ``HOME``: the native HTTP handlers (and the command hook where Claude Code runs no HTTP
hook), the key in the settings' ``env``, idempotence, switching back and forth, uninstall, the
user's other settings untouched; and the handler as written delivering a raw payload to a real
server the way Claude Code would send it."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentfeed import install
from agentfeed.install import HOOK_EVENTS, HTTP_COMMAND_EVENTS
from tests.agentfeed.test_install import REAL_SETTINGS
from tests.agentfeed_app.conftest import KEY, Agentfeed, launch
from tests.support.server import REPO_ROOT, base_env

URL = "http://127.0.0.1:3210"


def ours(settings: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [
        handler
        for group in settings["hooks"].get(event, [])
        for handler in group["hooks"]
        if handler.get("type") == "http" or "hook.py" in str(handler.get("command", ""))
    ]


def write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def test_http_handlers_where_supported_and_the_command_hook_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, REAL_SETTINGS)
    home = tmp_path / ".agentfeed"
    result = install.install(path, home=home, url=URL, key="k-123", http_url=URL)
    assert result.changed and result.backup is not None
    settings = json.loads(path.read_text())
    for event, _ in HOOK_EVENTS:
        (handler,) = ours(settings, event)
        if event in HTTP_COMMAND_EVENTS:
            assert handler["type"] == "command" and "hook.py" in handler["command"]
        else:
            assert handler == {
                "type": "http",
                "url": f"{URL}/event",
                "headers": {"X-Agentfeed-Key": "$AGENTFEED_KEY"},
                "allowedEnvVars": ["AGENTFEED_KEY"],
                "timeout": 5,
            }, event
    assert set(HTTP_COMMAND_EVENTS) == {"Setup", "SessionStart", "PermissionRequest"}
    assert settings["env"] == {**REAL_SETTINGS["env"], "AGENTFEED_KEY": "k-123"}
    # everything else as it was, in order
    for key in REAL_SETTINGS:
        if key not in ("hooks", "env"):
            assert settings[key] == REAL_SETTINGS[key]
    assert list(settings) == list(REAL_SETTINGS)
    for event, groups in REAL_SETTINGS["hooks"].items():
        assert settings["hooks"][event][: len(groups)] == groups  # the user's groups first

    # idempotent: nothing written, no backup
    text = path.read_text()
    again = install.install(path, home=home, url=URL, key="k-123", http_url=URL)
    assert not again.changed and again.backup is None and path.read_text() == text

    # a new URL updates the handlers in place
    moved = install.install(path, home=home, url=URL, key="k-123", http_url="http://10.0.0.5:9")
    assert moved.changed and len(moved.updated) == len(HOOK_EVENTS) - len(HTTP_COMMAND_EVENTS)
    assert ours(json.loads(path.read_text()), "Stop")[0]["url"] == "http://10.0.0.5:9/event"

    # back to the command hook: our HTTP handlers go, one command handler per event
    back = install.install(path, home=home, url=URL, key="k-123")
    assert back.changed
    settings = json.loads(path.read_text())
    for event, _ in HOOK_EVENTS:
        (handler,) = ours(settings, event)
        assert handler["type"] == "command"
    assert settings["env"] == REAL_SETTINGS["env"]  # the key is config.json's again

    # uninstall after --http gives back the original settings
    install.install(path, home=home, url=URL, key="k-123", http_url=URL)
    removed = install.uninstall(path, home=home)
    assert removed.changed
    assert json.loads(path.read_text()) == REAL_SETTINGS


def test_http_install_keeps_the_users_own_http_hooks_and_edits(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    theirs = {"type": "http", "url": "http://localhost:9090/hook", "headers": {"X": "y"}}
    settings = copy.deepcopy(REAL_SETTINGS)
    settings["hooks"]["PostToolUse"] = [{"matcher": "*", "hooks": [theirs]}]
    write(path, settings)
    home = tmp_path / "home"
    install.install(path, home=home, url=URL, key="k", http_url=URL)
    data = json.loads(path.read_text())
    assert data["hooks"]["PostToolUse"][0] == {"matcher": "*", "hooks": [theirs]}
    # the user's own edit of our handler (a longer timeout) is kept
    handler = ours(data, "PostToolUse")[0]
    handler["timeout"] = 30
    path.write_text(json.dumps(data, indent=2))
    assert not install.install(path, home=home, url=URL, key="k", http_url=URL).changed
    assert ours(json.loads(path.read_text()), "PostToolUse")[0]["timeout"] == 30


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in base_env(HOME=str(home)).items()
        if not k.startswith(("AGENTFEED_", "CLAUDE_CONFIG_DIR"))
    }
    return subprocess.run(
        [sys.executable, "-m", "agentfeed", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
    )


def test_install_telemetry_prints_or_writes_the_environment(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # nothing listens: the key given is used as it is
    printed = run_cli(tmp_path, "install-telemetry", "--url", url, "--key", "k-1")
    assert printed.returncode == 0, printed.stderr
    lines = dict(re.findall(r"^export (\w+)=(.*)$", printed.stdout, re.M))
    assert lines == {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_LOGS_EXPORT_INTERVAL": "5000",
        "OTEL_EXPORTER_OTLP_HEADERS": "X-Agentfeed-Key=k-1",
    }
    settings_path = tmp_path / ".claude" / "settings.json"
    write(settings_path, REAL_SETTINGS)
    args = ("install-telemetry", "--url", url, "--key", "k-1", "--protocol", "http/json")
    written = run_cli(tmp_path, *args, "--write")
    assert written.returncode == 0, written.stderr
    settings = json.loads(settings_path.read_text())
    assert settings["env"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/json"
    assert settings["env"]["DISABLE_TELEMETRY"] == "1"  # the user's own env kept
    assert {k: v for k, v in settings.items() if k != "env"} == {
        k: v for k, v in REAL_SETTINGS.items() if k != "env"
    }
    text = settings_path.read_text()
    again = run_cli(tmp_path, *args, "--write")
    assert again.returncode == 0 and "already" in again.stdout
    assert settings_path.read_text() == text
    # no key and no server that takes posts without one: refused, nothing printed
    refused = run_cli(tmp_path / "other", "install-telemetry", "--url", url)
    assert refused.returncode == 1 and "Nothing was changed" in refused.stderr


def test_uninstall_telemetry_removes_what_install_telemetry_wrote(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"
    settings_path = tmp_path / ".claude" / "settings.json"
    write(settings_path, REAL_SETTINGS)
    args = ("install-telemetry", "--url", url, "--key", "k-1", "--write")
    assert run_cli(tmp_path, *args).returncode == 0
    settings = json.loads(settings_path.read_text())
    settings["env"]["OTEL_LOGS_EXPORT_INTERVAL"] = "60000"  # the user's own change since
    write(settings_path, settings)
    removed = run_cli(tmp_path, "uninstall-telemetry")
    assert removed.returncode == 0, removed.stderr
    assert "removed 6 variables" in removed.stdout and "backup:" in removed.stdout
    after = json.loads(settings_path.read_text())
    assert after["env"] == {**REAL_SETTINGS["env"], "OTEL_LOGS_EXPORT_INTERVAL": "60000"}
    assert {k: v for k, v in after.items() if k != "env"} == {
        k: v for k, v in REAL_SETTINGS.items() if k != "env"
    }
    text = settings_path.read_text()
    again = run_cli(tmp_path, "uninstall-telemetry")
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert settings_path.read_text() == text


def test_uninstall_telemetry_keeps_an_exporter_set_up_for_another_collector(
    tmp_path: Path,
) -> None:
    theirs = {
        **install.telemetry_env("https://otel.example.com", None),
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer abc",
    }
    without_headers = {**install.telemetry_env("https://otel.example.com", None)}
    without_headers["OTEL_METRICS_EXPORTER"] = "prometheus"
    for env in (theirs, without_headers):
        settings_path = tmp_path / ".claude" / "settings.json"
        write(settings_path, {**REAL_SETTINGS, "env": {**REAL_SETTINGS["env"], **env}})
        text = settings_path.read_text()
        kept = run_cli(tmp_path, "uninstall-telemetry")
        assert kept.returncode == 0 and "nothing changed" in kept.stdout, kept.stdout
        assert settings_path.read_text() == text


def claude_code_posts(handler: dict[str, Any], env: dict[str, str], body: dict[str, Any]) -> Any:
    """What Claude Code does with an HTTP handler: interpolate ``$VAR`` in header values for
    the variables ``allowedEnvVars`` lists, POST the hook input as JSON."""
    allowed = set(handler.get("allowedEnvVars", []))
    headers = {
        name: re.sub(r"\$(\w+)", lambda m: env.get(m[1], "") if m[1] in allowed else "", value)
        for name, value in handler.get("headers", {}).items()
    }
    headers["Content-Type"] = "application/json"
    return httpx.post(handler["url"], content=json.dumps(body), headers=headers, timeout=30)


@pytest.mark.e2e
def test_the_http_handler_as_written_delivers_a_raw_payload(tmp_path: Path) -> None:
    with launch(tmp_path / "server") as server:
        path = tmp_path / "settings.json"
        install.install(path, home=tmp_path / "home", url=server.url, key=KEY, http_url=server.url)
        settings = json.loads(path.read_text())
        (handler,) = ours(settings, "PostToolUse")
        env = {**os.environ, **settings["env"]}
        session_id = str(uuid.uuid4())
        payload = {
            "session_id": session_id,
            "transcript_path": f"/home/u/.claude/projects/-home-u-app/{session_id}.jsonl",
            "cwd": "/home/u/app",
            "hook_event_name": "PostToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "ls"},
            "tool_response": {"stdout": "a\nb", "stderr": ""},
            "tool_use_id": "toolu_http",
        }
        response = claude_code_posts(handler, env, payload)
        assert response.status_code == 200 and response.json()["status"] == "stored"
        event = Agentfeed(server).event(response.json()["event_id"])
        assert event["summary"] == "Bash: ls" and json.loads(event["raw"]) == payload
        # without the variable, the header is empty: refused, as Claude Code would see it
        assert claude_code_posts(handler, {}, payload).status_code == 401
