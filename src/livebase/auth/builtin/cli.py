"""``livebase users ...`` and ``livebase auth rotate-keys``: built-in accounts on a running server.

They talk to the server's admin API (``/api/admin/users``, ``/api/admin/auth/rotate-keys``) the
way ``livebase run`` does: ``--url`` (``LIVEBASE_URL``, else ``http://127.0.0.1:3210``) and the
admin key from ``--admin-key``, ``LIVEBASE_ADMIN_KEY`` or the data folder (``--data``, else
``./.livebase`` or ``./*/.livebase``). A password is read from standard input (one line; the
line break is not part of it) with ``--password-stdin``, or asked for twice on a terminal.
Every failure prints one line saying what went wrong and exits 1 (2 for bad input).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any

from livebase.admin_client import AdminClient, deployment_options

ACCOUNTS_NOT_FOUND = " (is this a Livebase server with built-in accounts? check --url)"
USERS_HELP = "manage the built-in issuer's accounts on a running server"
AUTH_HELP = "the built-in issuer's signing keys on a running server"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _complain(text: str) -> None:
    sys.stderr.write(text + "\n")


def add_commands(sub: Any, url_default: str) -> None:
    """Add ``users`` and ``auth`` to the ``livebase`` parser's subcommands."""

    def common(p: argparse.ArgumentParser) -> None:
        deployment_options(p, url_default)

    users = sub.add_parser("users", help=USERS_HELP, description=USERS_HELP)
    actions = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    p = actions.add_parser("add", help="add an account (password from stdin or a prompt)")
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    common(p)
    p = actions.add_parser("list", help="list the accounts")
    p.add_argument("--json", action="store_true", help="print JSON")
    common(p)
    p = actions.add_parser("disable", help="stop an account signing in and refreshing")
    p.add_argument("email", metavar="EMAIL")
    common(p)
    p = actions.add_parser("enable", help="let a disabled account sign in again")
    p.add_argument("email", metavar="EMAIL")
    common(p)
    p = actions.add_parser(
        "grant-admin", help="let an account sign in to the dashboard (/_dashboard) as an admin"
    )
    p.add_argument("email", metavar="EMAIL")
    common(p)
    p = actions.add_parser(
        "revoke-admin", help="take the admin role back; its dashboard sessions end at once"
    )
    p.add_argument("email", metavar="EMAIL")
    common(p)
    p = actions.add_parser(
        "reset-password", help="set a new password (from stdin or a prompt); ends all sessions"
    )
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    common(p)

    auth = sub.add_parser("auth", help=AUTH_HELP, description=AUTH_HELP)
    actions = auth.add_subparsers(dest="auth_command", required=True, metavar="COMMAND")
    p = actions.add_parser(
        "rotate-keys", help="make a new signing key; old tokens stay valid until they expire"
    )
    common(p)


def run(args: argparse.Namespace, admin_key: str | None) -> int:
    """Run ``livebase users ...`` or ``livebase auth ...``; the exit status."""
    action = args.users_command if args.command == "users" else args.auth_command
    name = f"livebase {args.command} {action}"
    if not admin_key:
        _complain(
            f"{name}: needs the admin key: pass --admin-key, set LIVEBASE_ADMIN_KEY, or give the "
            "server's data folder with --data"
        )
        return 2
    client = AdminClient(name, args.url, admin_key, args.timeout, ACCOUNTS_NOT_FOUND)
    if args.command == "auth":
        answer = client.call("POST", "admin/auth/rotate-keys")
        if answer is None:
            return 1
        _say(
            f"new signing key {answer['kid']} signs from now on; published keys: "
            f"{', '.join(answer['published'])} (a retired key stays until its tokens expire)"
        )
        return 0
    command = args.users_command
    if command == "list":
        answer = client.call("GET", "admin/users")
        if answer is None:
            return 1
        _print_users(answer["users"], as_json=args.json)
        return 0
    body: dict[str, Any] = {"email": args.email}
    if command in ("add", "reset-password"):
        password = read_password(name, args.password_stdin)
        if password is None:
            return 2
        body["password"] = password
    route = "admin/users" if command == "add" else f"admin/users/{command}"
    account = client.call("POST", route, body)
    if account is None:
        return 1
    email = account["email"]
    if command == "add":
        _say(f"added {email} (subject {account['subject']})")
    elif command == "disable":
        _say(f"disabled {email}: it can no longer sign in or refresh, and its tokens are refused")
    elif command == "enable":
        _say(f"enabled {email}: it can sign in again")
    elif command == "grant-admin":
        _say(f"{email} is an admin: it can sign in to /_dashboard with its email and password")
    elif command == "revoke-admin":
        _say(f"{email} is no longer an admin: its dashboard sessions have ended")
    else:
        _say(f"new password set for {email}; its sessions from before now must sign in again")
    return 0


def read_password(name: str, from_stdin: bool) -> str | None:
    """One line of stdin (with ``--password-stdin``, or when stdin is not a terminal), else
    asked twice on the terminal; None (after saying why) when there is none or it is too weak."""
    from livebase.auth.builtin.passwords import check_password
    from livebase.errors import ValidationError

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            _complain(f"{name}: no password on standard input; pipe one line to it")
            return None
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            _complain(f"{name}: the two passwords differ; nothing was changed")
            return None
    try:
        return check_password(password)
    except ValidationError as exc:
        _complain(f"{name}: {exc.message}")
        return None


def _print_users(users: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        _say(json.dumps(users, indent=2))
        return
    if not users:
        _say("no accounts yet (add one with: livebase users add EMAIL --password-stdin)")
        return
    width = max(len("EMAIL"), *(len(u["email"]) for u in users))
    _say(f"{'EMAIL':<{width}}  {'STATUS':<8}  {'ROLE':<5}  {'CREATED (UTC)':<16}  SUBJECT")
    for user in users:
        status = "disabled" if user["disabled"] else "active"
        role = "admin" if user.get("admin") else "user"
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(user["createdAt"]))
        line = f"{user['email']:<{width}}  {status:<8}  {role:<5}  {created:<16}  {user['subject']}"
        _say(line)


__all__ = ["AdminClient", "add_commands", "read_password", "run"]
