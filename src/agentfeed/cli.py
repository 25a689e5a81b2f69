"""The ``agentfeed`` command line: ``install-hook``, ``uninstall-hook``, ``hook``, ``serve``,
``owner`` (the account the owner signs in with, see ``agentfeed.owner``),
``import-transcripts`` (backfill from Claude Code's transcripts, see ``agentfeed.importer``) and
``sinks`` (forward events to PostHog, MQTT and a webhook, see ``agentfeed.sinks``).

``agentfeed install-hook [--user | --project DIR] [--url URL] [--key KEY]`` and
``agentfeed uninstall-hook [--user | --project DIR]`` edit Claude Code's settings (see
``agentfeed.install``). ``install-hook`` sends ``--key``, else ``$AGENTFEED_KEY``, else the key of
``agentfeed serve`` on this machine (``$AGENTFEED_HOME/server_key``), else the key kept from an
earlier install; it checks the key with the server first (``GET /event``) and changes nothing,
exit 1, when it has no key for a server that needs one or the server refuses it.
``install-hook --http`` registers native HTTP hooks instead where Claude Code supports them;
``install-telemetry`` prints (or ``--write``s into the settings' ``env``) what makes Claude Code
send its OpenTelemetry logs and metrics to the server, and ``uninstall-telemetry`` takes out of
the settings' ``env`` exactly what ``install-telemetry --write`` put there.
``agentfeed hook`` runs the capture hook in this process, for trying it by
hand (Claude Code runs ``hook.py`` directly, which starts much faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from agentfeed import home as agentfeed_home
from agentfeed import hook, importer, install, owner, pricing, serve, transcripts
from agentfeed.sinks import cli as sinks_cli

DESCRIPTION = "Capture Claude Code hook events and send them to an agentfeed server."


def _scope(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--user",
        action="store_true",
        help="edit the user settings, $CLAUDE_CONFIG_DIR/settings.json or "
        "~/.claude/settings.json: capture every project (default)",
    )
    group.add_argument(
        "--project",
        metavar="DIR",
        type=Path,
        help="edit DIR/.claude/settings.local.json, the personal project settings that are not "
        "committed (never the shared .claude/settings.json: the hook command holds paths of "
        "this machine)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentfeed", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "install-hook",
        help="add the capture hook for every Claude Code hook event",
        description="Add the capture hook for every Claude Code hook event to a settings file. "
        "Idempotent; keeps your other hooks and settings; backs the file up to "
        "$AGENTFEED_HOME/backups/ before changing it. The hook, its config and its spool live in "
        "$AGENTFEED_HOME (default ~/.agentfeed).",
    )
    _scope(p)
    p.add_argument(
        "--url",
        help="base URL of the agentfeed server; events go to URL/event (default: kept, "
        "else http://127.0.0.1:3210; env AGENTFEED_URL overrides it at run time)",
    )
    p.add_argument(
        "--key",
        help="API key sent as X-Agentfeed-Key, stored in $AGENTFEED_HOME/config.json "
        "with mode 0600 (default: $AGENTFEED_KEY, else the key of `agentfeed serve` on this "
        "machine, $AGENTFEED_HOME/server_key, else the one kept; '' for none, for a server "
        "that takes events without a key). Refused (exit 1, nothing changed) when no key is "
        "found and the server is not one that takes events without, or when the server "
        "answers 401 to the key",
    )
    p.add_argument(
        "--http",
        action="store_true",
        help="register native HTTP hooks (type: http, POST URL/event with the key from "
        "$AGENTFEED_KEY, set in the settings' env) on the events that support them; Setup, "
        "SessionStart and PermissionRequest keep the command hook. Without it (the default) "
        "every event gets the command hook, which spools while the server is down",
    )

    p = commands.add_parser(
        "install-telemetry",
        help="print (or --write) the environment that sends Claude Code's telemetry here",
        description="Print the environment variables that make Claude Code export its "
        "OpenTelemetry logs and metrics (tokens, cost per API request) to the agentfeed server's "
        "OTLP/HTTP receiver (URL/v1/logs, URL/v1/metrics), as shell `export` lines; with "
        "--write, merge them into the settings file's env object instead (backed up first, "
        "idempotent, other settings kept). Claude Code reads them when it starts.",
    )
    _scope(p)
    p.add_argument("--url", help="base URL of the agentfeed server (default: as install-hook)")
    p.add_argument("--key", help="the server's key (default: as install-hook; '' for none)")
    p.add_argument(
        "--protocol",
        choices=("http/protobuf", "http/json"),
        default="http/protobuf",
        help="OTEL_EXPORTER_OTLP_PROTOCOL (default http/protobuf; both are received)",
    )
    p.add_argument(
        "--write", action="store_true", help="write them into the settings file's env object"
    )

    p = commands.add_parser(
        "uninstall-telemetry",
        help="remove what install-telemetry --write put in the settings' env",
        description="Remove from the settings file's env object the variables "
        "install-telemetry --write put there, when they still hold the values it wrote (a "
        "variable changed since is kept, and so is an exporter set up for another collector). "
        "The file is backed up first; nothing is written when there is nothing to remove.",
    )
    _scope(p)

    p = commands.add_parser(
        "uninstall-hook",
        help="remove exactly the handlers install-hook added",
        description="Remove exactly the handlers install-hook added (and the groups and events "
        "that become empty). The hook file, config and spool in $AGENTFEED_HOME are left.",
    )
    _scope(p)

    commands.add_parser(
        "hook",
        help="run the capture hook once in this process (event JSON on stdin)",
        description="Run the capture hook once: read an event from stdin and POST it (or spool "
        "it). Prints nothing on stdout and always exits 0, like the hook Claude Code runs.",
    )

    p = commands.add_parser(
        "import-transcripts",
        help="backfill past sessions, with token usage and cost, from Claude Code transcripts",
        description="Read Claude Code's transcript files (DIR, default: "
        "$CLAUDE_CONFIG_DIR/projects for each comma-separated entry, else "
        "~/.config/claude/projects and ~/.claude/projects) "
        "and send their sessions, events, token usage (counted once per API response) and "
        "estimated cost to the server. Idempotent: running it again stores nothing twice.",
    )
    p.add_argument("dirs", nargs="*", metavar="DIR", type=Path, help="folders or files to read")
    p.add_argument(
        "--url",
        help="agentfeed server (default: as the hook: env AGENTFEED_URL, "
        "$AGENTFEED_HOME/config.json, http://127.0.0.1:3210)",
    )
    p.add_argument("--key", help="API key (default: env AGENTFEED_KEY, then config.json)")
    p.add_argument(
        "--pricing",
        type=Path,
        metavar="FILE",
        help="price table (JSON; default "
        "$AGENTFEED_HOME/pricing.json, written with the defaults on first use)",
    )
    p.add_argument("--dry-run", action="store_true", help="read and price only; send nothing")
    serve.add_parser(commands)
    owner.add_parser(commands)
    sinks_cli.add_parser(commands)
    return parser


def _settings_path(args: argparse.Namespace) -> Path:
    if args.project is not None:
        return install.project_settings_path(args.project)
    return install.user_settings_path()


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


SERVER_STATES = {
    "accepted": "reachable, key accepted",
    "open": "reachable, takes events without a key (livebase dev)",
    "unknown": "reachable",
    "unreachable": "not reachable now (events are spooled until it is)",
}


def _kept_config(home: Path) -> dict[str, object]:
    try:
        config = json.loads((home / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _find_key(args: argparse.Namespace, home: Path) -> tuple[str | None, str]:
    """The key the hook will send, and where it was found: ``--key``, ``$AGENTFEED_KEY``, the
    server key of a server on this machine, else the key kept from an earlier install."""
    if args.key is not None:
        return args.key or None, "--key"
    if os.environ.get("AGENTFEED_KEY"):
        return os.environ["AGENTFEED_KEY"], "$AGENTFEED_KEY"
    server_key = agentfeed_home.read_key(home, agentfeed_home.SERVER_KEY_FILE)
    if server_key is not None:
        return server_key, str(home / agentfeed_home.SERVER_KEY_FILE)
    kept = _kept_config(home).get("key")
    if isinstance(kept, str) and kept:
        return kept, f"{home / 'config.json'} (kept)"
    return None, ""


def _checked_server(args: argparse.Namespace) -> tuple[str, str | None, str, str] | None:
    """The server URL (``--url``, else the one kept from the last install, else the default),
    the ingest key, where the key came from, and what the server said of it; None (after saying
    why) when the server refuses the key or a key is needed and none was found."""
    home = install.agentfeed_home()
    key, source = _find_key(args, home)
    kept_url = _kept_config(home).get("url")
    url = args.url or (kept_url if isinstance(kept_url, str) else None) or hook.DEFAULT_URL
    install.validate_url(url)
    check = install.check_key(url, key)
    if check == "refused" or (key is None and check != "open" and args.key is None):
        _fail_install(url, key, source, check, home)
        return None
    return url, key, source, check


def _install(args: argparse.Namespace) -> int:
    checked = _checked_server(args)
    if checked is None:
        return 1
    url, key, source, check = checked
    result = install.install(
        _settings_path(args),
        url=args.url,
        key=key or "",
        project=args.project is not None,
        http_url=url if args.http else None,
    )
    path = result.settings_path
    if not result.changed:
        _out(f"agentfeed: the hook is already installed in {path}; the file is unchanged")
    else:
        verb = "created" if result.created else "updated"
        _out(
            f"agentfeed: {verb} {path}: handler added for {len(result.added)} events"
            + (f", command updated for {len(result.updated)}" if result.updated else "")
            + (f", {result.removed} duplicate or stale handlers removed" if result.removed else "")
        )
        if result.backup is not None:
            _out(f"  backup:  {result.backup}")
        if result.git_excluded:
            _out(f"  added {path.name} to the repository's .git/info/exclude")
    _out(f"  command: {result.command}")
    if args.http:
        _out(
            f"  http:    POST {install.event_url(url)} with {install.KEY_HEADER}: "
            f"${install.KEY_ENV} (env {install.KEY_ENV} in the settings file)"
        )
        for event, why in install.HTTP_COMMAND_EVENTS.items():
            _out(f"  command hook kept on {event}: {why}")
    for event in install.SKIPPED_EVENTS:
        _out(f"  skipped: {event} (a hook there would replace Claude Code's own behaviour)")
    keyed = f"key from {source}" if key else "no key"
    _out(f"  config:  {result.config_path} (url {url}, {keyed})")
    _out(f"  server:  {url} {SERVER_STATES[check]}")
    if check in ("accepted", "open"):
        _out(f"  feed:    {url.rstrip('/')}/ (sign in there as the owner to see everything)")
    return 0


def _fail_install(url: str, key: str | None, source: str, check: str, home: Path) -> None:
    """Say why nothing was installed, and what to do."""
    where = {
        "refused": "answers 401 (missing or wrong key)",
        "unreachable": "is not reachable now",
    }.get(check, "is reachable")
    if key is not None:
        why = (
            f"the server at {url} refuses the key from {source}: events would only be spooled.\n"
            "  Pass the server's key with --key (its AGENTFEED_KEY, or the server_key file in "
            "its agentfeed home), or run install-hook on the machine where `agentfeed serve` runs."
        )
    elif source == "--key":
        why = f"--key '' but the server at {url} needs a key: it {where}."
    else:
        why = (
            f"no key to send with the events: no --key, no AGENTFEED_KEY, no "
            f"{home / agentfeed_home.SERVER_KEY_FILE} (`agentfeed serve` makes it when it "
            f"starts), and the server at {url} {where}.\n"
            "  Start the server first (`agentfeed serve`), then run install-hook again; or pass "
            "--key <the server's key>; or --key '' for a server that takes events without one "
            "(`livebase dev`)."
        )
    sys.stderr.write(f"agentfeed: error: {why}\n  Nothing was changed.\n")


def _install_telemetry(args: argparse.Namespace) -> int:
    checked = _checked_server(args)
    if checked is None:
        return 1
    url, key, _, check = checked
    env = install.telemetry_env(url, key, args.protocol)
    if not args.write:
        for name, value in env.items():
            _out(f"export {name}={shlex.quote(value)}")
        sys.stderr.write(
            "agentfeed: set these where `claude` starts (or run again with --write to put them "
            "in Claude Code's settings); the key is in OTEL_EXPORTER_OTLP_HEADERS\n"
        )
        return 0
    result = install.write_env(_settings_path(args), env)
    if not result.changed:
        _out(f"agentfeed: the telemetry settings are already in {result.settings_path}")
    else:
        verb = "created" if result.created else "updated"
        _out(f"agentfeed: {verb} {result.settings_path}: env " + ", ".join(env))
        if result.backup is not None:
            _out(f"  backup:  {result.backup}")
    _out(f"  receiver: {url.rstrip('/')}/v1/logs and /v1/metrics ({args.protocol})")
    _out(f"  server:   {url} {SERVER_STATES[check]}")
    _out("  Claude Code reads these when it starts: start a new `claude` session")
    return 0


def _uninstall_telemetry(args: argparse.Namespace) -> int:
    result = install.uninstall_telemetry(_settings_path(args))
    if not result.changed:
        _out(
            f"agentfeed: no telemetry settings of install-telemetry in {result.settings_path}; "
            "nothing changed"
        )
        return 0
    _out(f"agentfeed: removed {result.removed} variables from {result.settings_path}")
    if result.backup is not None:
        _out(f"  backup: {result.backup}")
    _out("  Claude Code stops sending telemetry from its next session")
    return 0


def _uninstall(args: argparse.Namespace) -> None:
    result = install.uninstall(_settings_path(args))
    if not result.changed:
        _out(f"agentfeed: no agentfeed handler in {result.settings_path}; nothing changed")
        return
    _out(f"agentfeed: removed {result.removed} handlers from {result.settings_path}")
    if result.backup is not None:
        _out(f"  backup: {result.backup}")


def _import_transcripts(args: argparse.Namespace) -> int:
    roots = list(args.dirs) or transcripts.default_roots()
    missing = [str(r) for r in roots if not r.exists()]
    if missing or not roots:
        where = ", ".join(missing) or "no Claude Code projects folder found"
        sys.stderr.write(f"agentfeed: error: {where}: nothing to import\n")
        return 1
    try:
        prices = pricing.load(args.pricing)
    except (pricing.PricingError, OSError) as exc:
        sys.stderr.write(f"agentfeed: error: pricing: {exc}\n")
        return 1
    post = None
    if not args.dry_run:
        url, key = hook.load_config(str(pricing.home_dir()))
        post = importer.poster(args.url or url, key if args.key is None else args.key)
    try:
        report = importer.run(roots, prices, post)
    except importer.ImportFailed as exc:
        sys.stderr.write(f"agentfeed: error: {exc}\n")
        return 1
    for line in importer.summary(report, sent=post is not None):
        _out(line)
    _out(f"  pricing: {prices.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hook":
        hook.main([])
        return 0
    if args.command == "serve":
        return serve.run(args)
    if args.command == "owner":
        return owner.run(args)
    if args.command == "sinks":
        return sinks_cli.run(args)
    if args.command == "import-transcripts":
        return _import_transcripts(args)
    try:
        if args.command == "install-hook":
            return _install(args)
        if args.command == "install-telemetry":
            return _install_telemetry(args)
        if args.command == "uninstall-telemetry":
            return _uninstall_telemetry(args)
        _uninstall(args)
    except (install.SettingsError, OSError) as exc:
        sys.stderr.write(f"agentfeed: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
