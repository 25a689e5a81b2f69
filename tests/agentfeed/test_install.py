"""``agentfeed install-hook`` / ``uninstall-hook`` on real settings files.

The fixtures look like real ``settings.json`` files (permissions, env, statusLine, plugins, other
people's hooks, an event this catalogue does not know). Checked: one handler per event with the
right shape, everything else untouched and in order, idempotence, exact uninstall, backups,
refusal of invalid files, ``CLAUDE_CONFIG_DIR``, ``--project`` and its git exclude, the config
file, and that the registered command really delivers an event.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentfeed import install
from agentfeed.install import HOOK_EVENTS, SKIPPED_EVENTS, SettingsError
from tests.agentfeed.conftest import EventServer, post_tool_use
from tests.support.server import REPO_ROOT, free_port

REAL_SETTINGS: dict[str, Any] = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "env": {"DISABLE_TELEMETRY": "1", "BASH_DEFAULT_TIMEOUT_MS": "300000"},
    "permissions": {
        "allow": ["Bash(npm run lint)", "Bash(git diff:*)", "Read(~/.zshrc)"],
        "deny": ["Read(./.env)", "Read(./secrets/**)"],
        "defaultMode": "acceptEdits",
    },
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "/home/u/bin/guard.sh", "timeout": 30}],
            },
            {
                "matcher": "Edit|Write",
                "hooks": [
                    {"type": "command", "command": 'npx prettier --write "$(jq -r .file_path)"'}
                ],
            },
        ],
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": "afplay /System/Library/Sounds/Glass.aiff",
                        "async": True,
                    }
                ]
            }
        ],
        "WorktreeCreate": [{"hooks": [{"type": "command", "command": "~/bin/make-worktree"}]}],
        "FutureEvent": [{"hooks": [{"type": "http", "url": "http://localhost:9/x"}]}],
    },
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0},
    "enabledPlugins": {"formatter@acme-tools": True},
    "cleanupPeriodDays": 60,
}

PYTHON = "/usr/bin/python3"


def write_settings(path: Path, data: dict[str, Any], indent: int = 2) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent) + "\n"
    path.write_text(text)
    return text


def ours(settings: dict[str, Any], home: Path) -> dict[str, list[dict[str, Any]]]:
    """Our handlers, with their group, by event."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event, groups in settings.get("hooks", {}).items():
        for group in groups:
            for handler in group.get("hooks", []):
                if install.is_ours(handler, home / "hook.py"):
                    found.setdefault(event, []).append({"group": group, "handler": handler})
    return found


def ordered(value: Any) -> str:
    """JSON text that keeps key order, to compare order as well as content."""
    return json.dumps(value)


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "claude" / "settings.json"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "agentfeed-home"


def test_install_adds_one_handler_per_event_and_keeps_the_rest(
    settings_path: Path, home: Path
) -> None:
    write_settings(settings_path, REAL_SETTINGS)
    result = install.install(settings_path, home=home, python=PYTHON)
    assert result.changed and not result.created
    assert result.added == [event for event, _ in HOOK_EVENTS]
    new = json.loads(settings_path.read_text())

    found = ours(new, home)
    assert set(found) == {event for event, _ in HOOK_EVENTS}
    assert "WorktreeCreate" in SKIPPED_EVENTS and "WorktreeCreate" not in found
    command = f"{PYTHON} -S {home / 'hook.py'} --home {home}"
    for event, has_matcher in HOOK_EVENTS:
        [entry] = found[event]
        assert entry["handler"] == {"type": "command", "command": command, "timeout": 5}
        assert entry["group"] == ({"matcher": "*"} if has_matcher else {}) | {
            "hooks": [entry["handler"]]
        }
    # Everything else is as it was, in the same order; other hooks come first, unchanged.
    assert list(new) == list(REAL_SETTINGS)
    for key in REAL_SETTINGS:
        if key != "hooks":
            assert ordered(new[key]) == ordered(REAL_SETTINGS[key])
    for event, groups in REAL_SETTINGS["hooks"].items():
        assert new["hooks"][event][: len(groups)] == groups
    assert new["hooks"]["WorktreeCreate"] == REAL_SETTINGS["hooks"]["WorktreeCreate"]
    assert new["hooks"]["FutureEvent"] == REAL_SETTINGS["hooks"]["FutureEvent"]
    assert (home / "hook.py").read_bytes() == (REPO_ROOT / "src/agentfeed/hook.py").read_bytes()


def test_install_twice_changes_nothing(settings_path: Path, home: Path) -> None:
    write_settings(settings_path, REAL_SETTINGS)
    install.install(settings_path, home=home, python=PYTHON)
    after_first = settings_path.read_bytes()
    backups = sorted((home / "backups").iterdir())
    result = install.install(settings_path, home=home, python=PYTHON)
    assert not result.changed and result.backup is None
    assert result.added == result.updated == [] and result.removed == 0
    assert settings_path.read_bytes() == after_first
    assert sorted((home / "backups").iterdir()) == backups


def test_uninstall_gives_back_the_original_json(settings_path: Path, home: Path) -> None:
    write_settings(settings_path, REAL_SETTINGS)
    install.install(settings_path, home=home, python=PYTHON)
    result = install.uninstall(settings_path, home=home)
    assert result.changed and result.removed == len(HOOK_EVENTS)
    restored = json.loads(settings_path.read_text())
    assert restored == REAL_SETTINGS
    assert ordered(restored) == ordered(REAL_SETTINGS)
    again = install.uninstall(settings_path, home=home)
    assert not again.changed


def test_backup_holds_the_old_text(settings_path: Path, home: Path) -> None:
    original = write_settings(settings_path, REAL_SETTINGS, indent=4)
    result = install.install(settings_path, home=home, python=PYTHON)
    assert result.backup is not None and result.backup.parent == home / "backups"
    assert result.backup.read_text() == original
    assert result.backup.stat().st_mode & 0o777 == 0o600
    # The file keeps its four-space indentation.
    assert settings_path.read_text().startswith('{\n    "$schema"')


def test_missing_settings_file_is_created(settings_path: Path, home: Path) -> None:
    result = install.install(settings_path, home=home, python=PYTHON)
    assert result.changed and result.created and result.backup is None
    assert set(ours(json.loads(settings_path.read_text()), home)) == {e for e, _ in HOOK_EVENTS}
    install.uninstall(settings_path, home=home)
    assert json.loads(settings_path.read_text()) == {}


@pytest.mark.parametrize(
    "text",
    ['{"model": "opus",}\n', "not json", '["a list"]', '{"hooks": []}', '{"hooks": {"Stop": {}}}'],
)
def test_invalid_settings_are_refused_and_nothing_is_written(
    settings_path: Path, home: Path, text: str
) -> None:
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        install.install(settings_path, home=home, python=PYTHON)
    assert str(settings_path) in str(caught.value) and "nothing was changed" in str(caught.value)
    assert settings_path.read_text() == text
    assert not home.exists()


def test_a_changed_command_is_updated_in_place(settings_path: Path, home: Path) -> None:
    write_settings(settings_path, REAL_SETTINGS)
    install.install(settings_path, home=home, python="/opt/old/bin/python3")
    result = install.install(settings_path, home=home, python=PYTHON)
    assert result.added == [] and result.updated == [e for e, _ in HOOK_EVENTS]
    new = json.loads(settings_path.read_text())
    for entries in ours(new, home).values():
        [entry] = entries
        assert entry["handler"]["command"].startswith(f"{PYTHON} -S ")
    assert len(new["hooks"]["PreToolUse"]) == 3


def test_user_edits_to_our_handler_are_kept_and_duplicates_removed(
    settings_path: Path, home: Path
) -> None:
    install.install(settings_path, home=home, python=PYTHON)
    data = json.loads(settings_path.read_text())
    data["hooks"]["PostToolUse"][0]["hooks"][0]["timeout"] = 10
    data["hooks"]["PostToolUse"][0]["hooks"][0]["async"] = True
    data["hooks"]["Stop"].append(json.loads(json.dumps(data["hooks"]["Stop"][0])))
    write_settings(settings_path, data)
    result = install.install(settings_path, home=home, python=PYTHON)
    assert result.removed == 1 and result.added == []
    new = json.loads(settings_path.read_text())
    assert len(new["hooks"]["Stop"]) == 1
    handler = new["hooks"]["PostToolUse"][0]["hooks"][0]
    assert handler["timeout"] == 10 and handler["async"] is True


def test_two_homes_are_separate_installs(settings_path: Path, tmp_path: Path) -> None:
    write_settings(settings_path, REAL_SETTINGS)
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    install.install(settings_path, home=home_a, python=PYTHON)
    install.install(settings_path, home=home_b, python=PYTHON)
    install.uninstall(settings_path, home=home_a)
    new = json.loads(settings_path.read_text())
    assert ours(new, home_a) == {}
    assert set(ours(new, home_b)) == {e for e, _ in HOOK_EVENTS}


def test_symlinked_settings_and_file_mode_are_kept(tmp_path: Path, home: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    write_settings(real, REAL_SETTINGS)
    real.chmod(0o640)
    link = tmp_path / "claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    install.install(link, home=home, python=PYTHON)
    assert link.is_symlink()
    assert real.stat().st_mode & 0o777 == 0o640
    assert set(ours(json.loads(real.read_text()), home)) == {e for e, _ in HOOK_EVENTS}


def test_config_file_is_private_and_keeps_the_key(settings_path: Path, home: Path) -> None:
    install.install(settings_path, home=home, url="http://10.0.0.5:3210", key="s3cret")
    config = home / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text()) == {"url": "http://10.0.0.5:3210", "key": "s3cret"}
    install.install(settings_path, home=home)
    assert json.loads(config.read_text()) == {"url": "http://10.0.0.5:3210", "key": "s3cret"}
    install.install(settings_path, home=home, key="")
    assert json.loads(config.read_text()) == {"url": "http://10.0.0.5:3210"}
    with pytest.raises(SettingsError):
        install.install(settings_path, home=home, url="ftp://example.com")


# --- the command line, as a real process ---------------------------------------------------------

CLOSED = ("--url", f"http://127.0.0.1:{free_port()}", "--key", "k")
"""A server that is not running, and a key (install-hook refuses to install without one)."""


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("AGENTFEED_", "CLAUDE_CONFIG_DIR", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT / "src"), **extra)
    return env


def agentfeed(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentfeed.cli", *args],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, **env),
        timeout=60,
    )


def test_cli_honours_claude_config_dir(tmp_path: Path) -> None:
    config_dir = tmp_path / "claude-config"
    proc = agentfeed(tmp_path, "install-hook", *CLOSED, CLAUDE_CONFIG_DIR=str(config_dir))
    assert proc.returncode == 0, proc.stderr
    assert str(config_dir / "settings.json") in proc.stdout
    settings = json.loads((config_dir / "settings.json").read_text())
    agentfeed_home = tmp_path / "home" / ".agentfeed"
    assert set(ours(settings, agentfeed_home)) == {e for e, _ in HOOK_EVENTS}
    assert not (tmp_path / "home" / ".claude").exists()
    proc = agentfeed(tmp_path, "uninstall-hook", CLAUDE_CONFIG_DIR=str(config_dir))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((config_dir / "settings.json").read_text()) == {}


def test_cli_user_default_is_home_dot_claude(tmp_path: Path) -> None:
    proc = agentfeed(
        tmp_path, "install-hook", "--user", "--url", "http://127.0.0.1:9", "--key", "k"
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "home" / ".claude" / "settings.json").exists()
    assert "not reachable" in proc.stdout
    proc = agentfeed(tmp_path, "install-hook")
    assert (
        proc.returncode == 0 and "already installed" in proc.stdout and "unchanged" in proc.stdout
    )


def test_cli_project_uses_settings_local_and_git_exclude(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)
    proc = agentfeed(tmp_path, "install-hook", "--project", str(project), *CLOSED)
    assert proc.returncode == 0, proc.stderr
    local = project / ".claude" / "settings.local.json"
    assert local.exists() and not (project / ".claude" / "settings.json").exists()
    assert "/.claude/settings.local.json" in (project / ".git/info/exclude").read_text()
    ignored = subprocess.run(
        ["git", "-C", str(project), "check-ignore", "-q", ".claude/settings.local.json"],
        timeout=30,
    )
    assert ignored.returncode == 0
    proc = agentfeed(tmp_path, "uninstall-hook", "--project", str(project))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(local.read_text()) == {}


def test_cli_refuses_invalid_json_with_exit_1(tmp_path: Path) -> None:
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    (config_dir / "settings.json").write_text('{"hooks": {,}}')
    proc = agentfeed(tmp_path, "install-hook", *CLOSED, CLAUDE_CONFIG_DIR=str(config_dir))
    assert proc.returncode == 1
    assert "not valid JSON" in proc.stderr and proc.stdout == ""
    assert (config_dir / "settings.json").read_text() == '{"hooks": {,}}'
    assert not (tmp_path / "home" / ".agentfeed").exists()


def test_cli_user_and_project_are_exclusive(tmp_path: Path) -> None:
    proc = agentfeed(tmp_path, "install-hook", "--user", "--project", str(tmp_path))
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


def test_the_registered_command_delivers_an_event(
    tmp_path: Path, event_server: EventServer
) -> None:
    config_dir = tmp_path / "claude-config"
    proc = agentfeed(
        tmp_path,
        "install-hook",
        "--url",
        event_server.url,
        "--key",
        "k",
        CLAUDE_CONFIG_DIR=str(config_dir),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{event_server.url} reachable" in proc.stdout
    settings = json.loads((config_dir / "settings.json").read_text())
    command = settings["hooks"]["PostToolUse"][-1]["hooks"][0]["command"]
    assert shlex.split(command)[:2] == [sys.executable, "-S"]
    # Run it as Claude Code does: through a shell, event on stdin, with a bare environment.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "elsewhere")}
    run = subprocess.run(
        ["sh", "-c", command],
        input=json.dumps(post_tool_use(1)).encode(),
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    [received] = event_server.received
    assert received.body["seq"] == 1 and received.headers["X-Agentfeed-Key"] == "k"


def test_a_home_with_spaces_and_quotes_is_quoted(tmp_path: Path) -> None:
    home = tmp_path / 'my home\'s "dir"'
    settings_path = tmp_path / "claude" / "settings.json"
    install.install(settings_path, home=home, url=f"http://127.0.0.1:{free_port()}")
    settings = json.loads(settings_path.read_text())
    assert set(ours(settings, home)) == {e for e, _ in HOOK_EVENTS}
    command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    run = subprocess.run(
        ["sh", "-c", command], input=b"{}", capture_output=True, timeout=30,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout == b""
    assert (home / "spool.jsonl").exists()  # server down: spooled in that home
    install.uninstall(settings_path, home=home)
    assert json.loads(settings_path.read_text()) == {}
