"""Install the agentfeed capture hook into Claude Code's settings, and take it out again.

``install`` copies ``hook.py`` to the agentfeed home (``$AGENTFEED_HOME``, default
``~/.agentfeed``), writes ``config.json`` there (url and key, mode 0600) and merges one command
handler per hook event into a Claude Code settings file:

* ``--user`` (default): ``$CLAUDE_CONFIG_DIR/settings.json``, else ``~/.claude/settings.json``.
* ``--project DIR``: ``DIR/.claude/settings.local.json``, the personal, uncommitted project file.
  Not ``DIR/.claude/settings.json``: that file is shared through git, and our handler holds
  machine-specific absolute paths (this interpreter, this home) and would send every teammate's
  prompts and tool output to this machine's server. When it creates the file inside a git
  repository, the installer adds it to ``.git/info/exclude``, as Claude Code itself does.

The home is private: made (or made again) with mode 0700, ``hook.py`` and ``config.json`` 0600.

Each handler is ``{"type": "command", "command": "<python> -S <home>/hook.py --home <home>",
"timeout": 5}``; events with matcher support get a group ``{"matcher": "*", ...}``, the others a
group without a matcher. Our handlers are recognised by the hook path in their command (a
settings file may hold several installs with different homes, each uninstalled on its own).

Guarantees: the file is only written when something changes (so a second install is a no-op);
other settings keys, other hooks and key order are kept; a timestamped backup of the old file goes
to ``<home>/backups/`` before any write; invalid JSON is refused without writing anything; the
write is atomic and goes through a symlinked settings file to its target. ``uninstall`` removes
exactly our handlers, and the matcher groups, event lists and ``hooks`` object that became empty
by that removal, so install followed by uninstall gives back the original JSON.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from agentfeed.home import agentfeed_home as agentfeed_home
from agentfeed.home import private_home
from agentfeed.hook import DEFAULT_URL, Target

HANDLER_TIMEOUT = 5  # seconds; Claude Code's default for command hooks is 600

# Every hook event of Claude Code v2.1.240 (docs/agentfeed-hook.md), in lifecycle order, and
# whether it supports matchers. A settings file may list events this Claude Code does not know;
# they are ignored there.
HOOK_EVENTS: tuple[tuple[str, bool], ...] = (
    ("Setup", True),
    ("SessionStart", True),
    ("InstructionsLoaded", True),
    ("UserPromptSubmit", False),
    ("UserPromptExpansion", True),
    ("PreToolUse", True),
    ("PermissionRequest", True),
    ("PermissionDenied", True),
    ("PostToolUse", True),
    ("PostToolUseFailure", True),
    ("PostToolBatch", False),
    ("Notification", True),
    ("MessageDisplay", False),
    ("SubagentStart", True),
    ("SubagentStop", True),
    ("TaskCreated", False),
    ("TaskCompleted", False),
    ("TeammateIdle", False),
    ("Stop", False),
    ("StopFailure", True),
    ("ConfigChange", True),
    ("CwdChanged", False),
    ("DirectoryAdded", True),
    # FileChanged's matcher is also its watch list of literal file names: "*" would watch a
    # file named "*". Without a matcher the handler sees the files other hooks watch.
    ("FileChanged", False),
    ("WorktreeRemove", False),
    ("PreCompact", True),
    ("PostCompact", True),
    ("Elicitation", True),
    ("ElicitationResult", True),
    ("SessionEnd", True),
)

# Events of the catalogue that get no handler, and why.
SKIPPED_EVENTS: dict[str, str] = {
    "WorktreeCreate": (
        "a WorktreeCreate hook replaces Claude Code's own `git worktree add` and must print the "
        "new worktree's path; a passive capture hook there would make every worktree fail"
    ),
}


# Events on which a native HTTP hook (`install-hook --http`) is not used: Claude Code does not
# run HTTP hooks on SessionStart and Setup, and an HTTP hook on PermissionRequest fails closed
# (the tool is silently denied) when the server is down (reference §1.7). They keep the command
# hook.
HTTP_COMMAND_EVENTS: dict[str, str] = {
    "Setup": "Claude Code runs no HTTP hook on Setup",
    "SessionStart": "Claude Code runs no HTTP hook on SessionStart",
    "PermissionRequest": "an HTTP hook there denies the tool when the server is down",
}
KEY_HEADER = "X-Agentfeed-Key"
KEY_ENV = "AGENTFEED_KEY"


def http_handler(url: str) -> dict[str, Any]:
    """The native HTTP handler for ``url`` (the server's base URL): it POSTs the raw hook
    payload to ``URL/event`` with the key from ``$AGENTFEED_KEY`` (interpolated by Claude Code,
    which only does so for variables listed in ``allowedEnvVars``)."""
    return {
        "type": "http",
        "url": event_url(url),
        "headers": {KEY_HEADER: f"${KEY_ENV}"},
        "allowedEnvVars": [KEY_ENV],
        "timeout": HANDLER_TIMEOUT,
    }


def event_url(url: str) -> str:
    base = url.strip() if "://" in url else "http://" + url.strip()
    return base.rstrip("/") + "/event"


def is_our_http(handler: object) -> bool:
    """Whether a settings handler is an agentfeed HTTP handler (it sends our key header)."""
    if not isinstance(handler, dict) or handler.get("type") != "http":
        return False
    headers = handler.get("headers")
    url = handler.get("url")
    return (
        isinstance(headers, dict)
        and KEY_HEADER in headers
        and isinstance(url, str)
        and url.rstrip("/").endswith("/event")
    )


def has_our_http(settings: dict[str, Any]) -> bool:
    """Whether a settings object holds one of our HTTP handlers."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return False
    return any(
        is_our_http(handler)
        for groups in hooks.values()
        if isinstance(groups, list)
        for group in groups
        if isinstance(group, dict) and isinstance(group.get("hooks"), list)
        for handler in group["hooks"]
    )


class SettingsError(Exception):
    """A settings file we refuse to change; nothing was written."""


@dataclass
class Result:
    """What ``install`` or ``uninstall`` did."""

    settings_path: Path
    changed: bool
    created: bool = False
    backup: Path | None = None
    added: list[str] = field(default_factory=list)  # events that got a new handler
    updated: list[str] = field(default_factory=list)  # events whose handler's command changed
    removed: int = 0  # handlers removed
    command: str = ""
    config_path: Path | None = None
    git_excluded: bool = False


# --- locations ---------------------------------------------------------------------------------


def user_settings_path() -> Path:
    """``$CLAUDE_CONFIG_DIR/settings.json``, else ``~/.claude/settings.json``."""
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(env).expanduser().absolute() if env else Path.home() / ".claude"
    return base / "settings.json"


def project_settings_path(project: Path) -> Path:
    """``DIR/.claude/settings.local.json``; ``DIR`` must be an existing directory."""
    if not project.is_dir():
        raise SettingsError(f"{project} is not a directory")
    return project.absolute() / ".claude" / "settings.local.json"


def hook_command(home: Path, python: str | None = None) -> str:
    """The shell command Claude Code runs for every event."""
    interpreter = python or sys.executable
    hook = home / "hook.py"
    return f"{shlex.quote(interpreter)} -S {shlex.quote(str(hook))} --home {shlex.quote(str(home))}"


def is_ours(handler: object, hook_path: Path) -> bool:
    """Whether a settings handler is an agentfeed handler for the hook at ``hook_path``."""
    if not isinstance(handler, dict) or handler.get("type") != "command":
        return False
    command = handler.get("command")
    if not isinstance(command, str) or "hook.py" not in command:
        return False
    try:
        return str(hook_path) in shlex.split(command)
    except ValueError:
        return False


# --- merging -----------------------------------------------------------------------------------


def _hooks_object(settings: dict[str, Any], path: Path) -> dict[str, Any] | None:
    hooks = settings.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise SettingsError(f'{path}: "hooks" is not a JSON object; nothing was changed')
    return hooks


def merge(
    settings: dict[str, Any],
    command: str,
    hook_path: Path,
    path: Path,
    http: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str], list[str], int]:
    """``settings`` with our handler on every event: ``(new, added, updated, removed)``.

    The handler is the command hook, or with ``http`` (``http_handler``) that native HTTP
    handler on the events that support it (``HTTP_COMMAND_EVENTS`` keep the command hook). An
    event that already has one of our handlers of the wanted kind keeps it where it is (its
    ``command`` or ``url`` is updated if it changed; a ``timeout`` or other key the user set is
    left alone); duplicates of ours, and ours of the other kind, are removed; ours on events we
    no longer register are removed.
    """
    new = copy.deepcopy(settings)
    hooks = _hooks_object(new, path)
    if hooks is None:
        hooks = new["hooks"] = {}
    added: list[str] = []
    updated: list[str] = []
    removed = 0
    wanted = {event for event, _ in HOOK_EVENTS}

    def ours_command(handler: object) -> bool:
        return is_ours(handler, hook_path)

    for event, has_matcher in HOOK_EVENTS:
        groups = hooks.get(event)
        if groups is None:
            groups = hooks[event] = []
        if not isinstance(groups, list):
            raise SettingsError(f'{path}: "hooks.{event}" is not a list; nothing was changed')
        use_http = http is not None and event not in HTTP_COMMAND_EVENTS
        match, other = (is_our_http, ours_command) if use_http else (ours_command, is_our_http)
        found = False
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                continue
            for handler in handlers:
                if not match(handler) or found:
                    continue
                found = True
                if _update(handler, http if use_http else None, command):
                    updated.append(event)
                handler.setdefault("timeout", HANDLER_TIMEOUT)
        removed += _remove_ours(groups, other, keep_first=False)
        if found:
            removed += _remove_ours(groups, match, keep_first=True)
        else:
            group_new: dict[str, Any] = {"matcher": "*"} if has_matcher else {}
            if use_http:
                assert http is not None
                group_new["hooks"] = [copy.deepcopy(http)]
            else:
                group_new["hooks"] = [
                    {"type": "command", "command": command, "timeout": HANDLER_TIMEOUT}
                ]
            groups.append(group_new)
            added.append(event)
    for event in [e for e in hooks if e not in wanted]:
        groups = hooks[event]
        if isinstance(groups, list):
            removed += _remove_ours(groups, _any_ours(hook_path), keep_first=False)
            if not groups:
                del hooks[event]
    return new, added, updated, removed


def _update(handler: dict[str, Any], http: dict[str, Any] | None, command: str) -> bool:
    """Bring the fields we own of one of our handlers up to date; whether any changed."""
    if http is None:
        if handler.get("command") == command:
            return False
        handler["command"] = command
        return True
    changed = False
    if handler.get("url") != http["url"]:
        handler["url"] = http["url"]
        changed = True
    headers = handler["headers"]
    if headers.get(KEY_HEADER) != http["headers"][KEY_HEADER]:
        headers[KEY_HEADER] = http["headers"][KEY_HEADER]
        changed = True
    allowed = handler.get("allowedEnvVars")
    if not isinstance(allowed, list):
        handler["allowedEnvVars"] = [KEY_ENV]
        changed = True
    elif KEY_ENV not in allowed:
        allowed.append(KEY_ENV)
        changed = True
    return changed


def _any_ours(hook_path: Path) -> Any:
    return lambda handler: is_ours(handler, hook_path) or is_our_http(handler)


def _remove_ours(groups: list[Any], match: Any, *, keep_first: bool) -> int:
    """Remove the handlers ``match`` accepts from ``groups`` in place (all, or all but the
    first); drop the groups this empties. Returns how many handlers were removed."""
    removed = 0
    kept_one = not keep_first
    for group in list(groups):
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(handlers, list):
            continue
        remaining = []
        for handler in handlers:
            if match(handler):
                if not kept_one:
                    kept_one = True
                    remaining.append(handler)
                else:
                    removed += 1
                continue
            remaining.append(handler)
        if len(remaining) != len(handlers):
            if remaining:
                group["hooks"] = remaining
            else:
                groups.remove(group)
    return removed


def unmerge(settings: dict[str, Any], hook_path: Path, path: Path) -> tuple[dict[str, Any], int]:
    """``settings`` without our handlers, and how many were removed."""
    new = copy.deepcopy(settings)
    hooks = _hooks_object(new, path)
    if not hooks:
        return new, 0
    removed = 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        n = _remove_ours(groups, _any_ours(hook_path), keep_first=False)
        removed += n
        if n and not groups:
            del hooks[event]
    if removed and not hooks:
        del new["hooks"]
    return new, removed


def set_env(
    settings: dict[str, Any], values: Mapping[str, str | None], path: Path
) -> dict[str, Any]:
    """``settings`` with these keys of its ``env`` object set (None: removed; an ``env`` that
    the removal empties is removed). Other keys and the key order are kept."""
    new = copy.deepcopy(settings)
    env = new.get("env")
    if env is not None and not isinstance(env, dict):
        raise SettingsError(f'{path}: "env" is not a JSON object; nothing was changed')
    env = env if env is not None else {}
    dropped = False
    for key, value in values.items():
        if value is None:
            dropped = env.pop(key, None) is not None or dropped
        else:
            env[key] = value
    if env or not dropped:
        if env or "env" in new:
            new["env"] = env
    else:
        new.pop("env", None)
    return new


# --- files -------------------------------------------------------------------------------------


def load_settings(path: Path) -> tuple[dict[str, Any], str | None]:
    """The settings object and the file's text (None if the file does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        return {}, text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path} is not valid JSON ({exc}); fix or move it, nothing was changed"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} does not hold a JSON object; nothing was changed")
    return data, text


def _indent(text: str | None) -> str | int:
    """The indentation the file already uses (Claude Code writes two spaces)."""
    match = re.match(r"\{[ \t]*\r?\n([ \t]+)\S", text or "")
    return match.group(1) if match else 2


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.agentfeed-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def save_settings(path: Path, settings: dict[str, Any], old_text: str | None) -> None:
    """Write ``settings`` to ``path`` (through a symlink to its target), keeping its file mode."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    text = json.dumps(settings, indent=_indent(old_text), ensure_ascii=False) + "\n"
    _write_atomic(target, text.encode("utf-8"), mode)


def backup(path: Path, old_text: str, home: Path) -> Path:
    """Copy the current settings text to ``home/backups/`` (mode 0600); the copy's path."""
    folder = home / "backups"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    where = re.sub(r"[^A-Za-z0-9._-]+", "_", str(path.parent).strip("/"))[-120:]
    copy_path = folder / f"{stamp}_{where}_{path.name}"
    _write_atomic(copy_path, old_text.encode("utf-8"), 0o600)
    return copy_path


def install_hook_file(home: Path) -> Path:
    """Copy ``hook.py`` into ``home`` (unless it is already identical); its path."""
    private_home(home)
    source = resources.files("agentfeed").joinpath("hook.py").read_bytes()
    dest = home / "hook.py"
    try:
        if dest.read_bytes() == source:
            if dest.stat().st_mode & 0o777 != 0o600:
                dest.chmod(0o600)
            return dest
    except FileNotFoundError:
        pass
    _write_atomic(dest, source, 0o600)  # run as `python -S hook.py`: read, not executed
    return dest


def write_config(home: Path, url: str | None, key: str | None) -> Path:
    """Merge ``url``/``key`` (None = keep the current value) into ``home/config.json`` (0600)."""
    path = home / "config.json"
    config: dict[str, Any] = {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            config = loaded
    except (FileNotFoundError, ValueError):
        pass
    if url is not None:
        config["url"] = url
    config.setdefault("url", DEFAULT_URL)
    if key is not None:
        if key:
            config["key"] = key
        else:
            config.pop("key", None)
    data = (json.dumps(config, indent=2) + "\n").encode("utf-8")
    private_home(home)
    _write_atomic(path, data, 0o600)
    return path


def validate_url(url: str) -> None:
    """Raise SettingsError unless the hook can POST to ``url``."""
    try:
        Target(url, "")
    except ValueError as exc:
        raise SettingsError(f"bad --url {url!r}: {exc}") from None


def git_exclude(settings_path: Path) -> bool:
    """Add the project settings file to ``.git/info/exclude`` unless git already ignores it.

    True if a line was added. Outside a git repository, or without git, nothing happens.
    """
    project = settings_path.parent.parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(project), *args], capture_output=True, text=True, timeout=10
        )

    try:
        inside = git("rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return False
        relative = f".claude/{settings_path.name}"
        if git("check-ignore", "-q", relative).returncode == 0:
            return False
        prefix = git("rev-parse", "--show-prefix").stdout.strip()
        exclude = git("rev-parse", "--git-path", "info/exclude").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    if not exclude:
        return False
    exclude_path = Path(exclude) if os.path.isabs(exclude) else project / exclude
    exclude_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = exclude_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    line = f"/{prefix}{relative}"
    if current and not current.endswith("\n"):
        current += "\n"
    exclude_path.write_text(current + line + "\n", encoding="utf-8")
    return True


def server_reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to the server's host and port opens within ``timeout``."""
    try:
        target = Target(url, "")
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def is_local(url: str) -> bool:
    """Whether ``url`` names this machine (a loopback address or ``localhost``)."""
    try:
        host = Target(url, "").host
    except ValueError:
        return False
    return host in ("localhost", "::1") or host.startswith("127.")


KeyCheck = Literal["accepted", "open", "refused", "unreachable", "unknown"]


def check_key(url: str, key: str | None, timeout: float = 2.0) -> KeyCheck:
    """Ask the server at ``url`` whether it lets a post with ``key`` in (``GET /event``, which
    stores nothing): ``accepted``; ``open`` (it needs no key: ``livebase dev``); ``refused``
    (401); ``unreachable``; ``unknown`` (any other answer, e.g. an older server)."""
    headers = {"X-Agentfeed-Key": key} if key else {}
    base = url.strip() if "://" in url else "http://" + url.strip()
    request = urllib.request.Request(base.rstrip("/") + "/event", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as the hook: direct
    try:
        with opener.open(request, timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return "refused" if exc.code == 401 else "unknown"
    except (OSError, ValueError):
        return "unreachable"
    if not isinstance(body, dict) or body.get("ok") is not True:
        return "unknown"
    return "accepted" if body.get("key_required") else "open"


# --- the two operations ------------------------------------------------------------------------


def install(
    settings_path: Path,
    *,
    home: Path | None = None,
    url: str | None = None,
    key: str | None = None,
    python: str | None = None,
    project: bool = False,
    http_url: str | None = None,
) -> Result:
    """Install the hook into ``settings_path``; see the module docstring. With ``http_url``
    (the server's base URL): native HTTP handlers where Claude Code supports them, the key in
    the settings' ``env`` as ``AGENTFEED_KEY`` for their header (none when ``key`` is empty)."""
    home = home or agentfeed_home()
    if url is not None:
        validate_url(url)
    settings, old_text = load_settings(settings_path)  # refuse bad files before touching anything
    command = hook_command(home, python)
    hook_path = home / "hook.py"
    http = http_handler(http_url) if http_url is not None else None
    new, added, updated, removed = merge(settings, command, hook_path, settings_path, http)
    if http is not None and key:
        new = set_env(new, {KEY_ENV: key}, settings_path)
    elif http is None and has_our_http(settings) and isinstance(new.get("env"), dict):
        # back to the command hook: the key it reads comes from config.json (an old key left
        # in env would take precedence over it)
        new = set_env(new, {KEY_ENV: None}, settings_path)
    install_hook_file(home)
    result = Result(settings_path, changed=new != settings or old_text is None, command=command)
    result.config_path = write_config(home, url, key)
    result.added, result.updated, result.removed = added, updated, removed
    if result.changed:
        if old_text is not None:
            result.backup = backup(settings_path, old_text, home)
        result.created = old_text is None
        save_settings(settings_path, new, old_text)
        if project and result.created:
            result.git_excluded = git_exclude(settings_path)
    return result


def uninstall(settings_path: Path, *, home: Path | None = None) -> Result:
    """Remove our handlers from ``settings_path``; the home (hook, config, spool) stays."""
    home = home or agentfeed_home()
    settings, old_text = load_settings(settings_path)
    if old_text is None:
        return Result(settings_path, changed=False)
    had_http = has_our_http(settings)
    new, removed = unmerge(settings, home / "hook.py", settings_path)
    if had_http and isinstance(new.get("env"), dict) and KEY_ENV in new["env"]:
        new = set_env(new, {KEY_ENV: None}, settings_path)
    result = Result(settings_path, changed=removed > 0, removed=removed)
    if result.changed:
        result.backup = backup(settings_path, old_text, home)
        save_settings(settings_path, new, old_text)
    return result


# --- telemetry ---------------------------------------------------------------------------------


def telemetry_env(url: str, key: str | None, protocol: str = "http/protobuf") -> dict[str, str]:
    """The environment that makes Claude Code export its OpenTelemetry logs (events such as
    ``claude_code.api_request``) and metrics to the agentfeed server at ``url``
    (``URL/v1/logs``, ``URL/v1/metrics``), with the key as a header (reference §2.5)."""
    base = url.strip() if "://" in url else "http://" + url.strip()
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": base.rstrip("/"),
        "OTEL_LOGS_EXPORT_INTERVAL": "5000",
    }
    if key:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"{KEY_HEADER}={key}"
    return env


def written_telemetry(env: Mapping[str, Any]) -> dict[str, None]:
    """The keys of ``env`` that ``install-telemetry --write`` put there and that still hold the
    values it wrote (read back from the endpoint, protocol and key header found), each mapped to
    None for ``set_env``. A value the user changed since is theirs, and kept."""
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if not isinstance(endpoint, str) or protocol not in ("http/protobuf", "http/json"):
        return {}
    headers = env.get("OTEL_EXPORTER_OTLP_HEADERS")
    key = None
    if isinstance(headers, str) and headers.startswith(f"{KEY_HEADER}="):
        key = headers.removeprefix(f"{KEY_HEADER}=")
    ours = telemetry_env(endpoint, key, str(protocol))
    if headers is not None and key is None:
        return {}  # headers that are not our key header: an exporter set up by someone else
    if key is None and any(env.get(name) != value for name, value in ours.items()):
        return {}  # without our key header only the whole set written marks it as ours
    return {name: None for name, value in ours.items() if env.get(name) == value}


def uninstall_telemetry(settings_path: Path, *, home: Path | None = None) -> Result:
    """Remove from the settings' ``env`` what ``install-telemetry --write`` put there (backup
    first; nothing written when it is not there). ``removed`` counts the variables."""
    home = home or agentfeed_home()
    settings, old_text = load_settings(settings_path)
    env = settings.get("env")
    drop = written_telemetry(env) if isinstance(env, dict) else {}
    result = Result(settings_path, changed=bool(drop), removed=len(drop))
    if result.changed and old_text is not None:
        result.backup = backup(settings_path, old_text, home)
        save_settings(settings_path, set_env(settings, drop, settings_path), old_text)
    return result


def write_env(
    settings_path: Path, values: Mapping[str, str | None], *, home: Path | None = None
) -> Result:
    """Merge ``values`` into the ``env`` object of ``settings_path`` (backup first; nothing
    written when nothing changes)."""
    home = home or agentfeed_home()
    settings, old_text = load_settings(settings_path)
    new = set_env(settings, values, settings_path)
    result = Result(settings_path, changed=new != settings or old_text is None)
    if result.changed:
        if old_text is not None:
            result.backup = backup(settings_path, old_text, home)
        result.created = old_text is None
        save_settings(settings_path, new, old_text)
    return result
