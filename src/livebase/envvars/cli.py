"""``livebase env set | get | list | unset``: a running deployment's environment variables.

Like ``livebase users``, they talk to the server's admin API (``/api/admin/env``) with
``--url`` (``LIVEBASE_URL``, else ``http://127.0.0.1:3210``) and the admin key from
``--admin-key``, ``LIVEBASE_ADMIN_KEY`` or the data folder (``--data``, else ``./.livebase`` or
``./*/.livebase``). ``set NAME --value-stdin`` reads the value from standard input (all of it,
less one final line break), so a secret stays out of the shell's history. A failure prints one
line saying what went wrong and exits 1 (2 for bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from livebase.admin_client import AdminClient, deployment_options
from livebase.envvars.names import check_name, check_value
from livebase.errors import ValidationError

HELP = "set, get, list or unset a running deployment's environment variables (ctx.env)"


def add_commands(sub: Any, url_default: str) -> None:
    """Add ``env`` to the ``livebase`` parser's subcommands."""

    def common(p: argparse.ArgumentParser) -> None:
        deployment_options(p, url_default)

    env = sub.add_parser("env", help=HELP, description=HELP)
    actions = env.add_subparsers(dest="env_command", required=True, metavar="COMMAND")
    p = actions.add_parser("set", help="set a variable (NAME VALUE, or NAME --value-stdin)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("value", metavar="VALUE", nargs="?")
    p.add_argument("--value-stdin", action="store_true", help="read the value from stdin")
    common(p)
    p = actions.add_parser("get", help="print a variable's value")
    p.add_argument("name", metavar="NAME")
    common(p)
    p = actions.add_parser("list", help="list the variables' names (values with --values)")
    p.add_argument("--values", action="store_true", help="print NAME=VALUE lines")
    p.add_argument("--json", action="store_true", help="print JSON")
    common(p)
    p = actions.add_parser("unset", help="remove a variable")
    p.add_argument("name", metavar="NAME")
    common(p)


def run(args: argparse.Namespace, admin_key: str | None) -> int:
    """Run ``livebase env ...``; the exit status."""
    command = args.env_command
    name = f"livebase env {command}"
    if not admin_key:
        _complain(
            f"{name}: needs the admin key: pass --admin-key, set LIVEBASE_ADMIN_KEY, or give the "
            "server's data folder with --data"
        )
        return 2
    client = AdminClient(name, args.url, admin_key, args.timeout)
    if command == "list":
        answer = client.call("GET", "admin/env" + ("?values=true" if args.values else ""))
        if answer is None:
            return 1
        _print_list(answer, values=args.values, as_json=args.json)
        return 0
    try:
        var = check_name(args.name)
        value = _value(args, var) if command == "set" else None
    except ValidationError as exc:
        _complain(f"{name}: {exc.message}")
        return 2
    route = "admin/env/" + urllib.parse.quote(var)
    if command == "get":
        answer = client.call("GET", route)
        if answer is None:
            return 1
        sys.stdout.write(answer["value"] + "\n")
        return 0
    if command == "set":
        answer = client.call("PUT", route, {"value": value})
        if answer is None:
            return 1
        _say(f"{'added' if answer['created'] else 'updated'} {var}")
        return 0
    answer = client.call("DELETE", route)
    if answer is None:
        return 1
    _say(f"removed {var}" if answer["removed"] else f"{var} was not set; nothing to remove")
    return 0


def _value(args: argparse.Namespace, var: str) -> str:
    if args.value_stdin:
        if args.value is not None:
            raise ValidationError("give the value either as VALUE or with --value-stdin, not both")
        text = sys.stdin.read()
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        return check_value(var, text)
    if args.value is None:
        raise ValidationError(
            f"no value for {var}: livebase env set {var} VALUE, or pipe it to "
            f"livebase env set {var} --value-stdin"
        )
    return check_value(var, args.value)


def _print_list(answer: dict[str, Any], *, values: bool, as_json: bool) -> None:
    names: list[str] = answer["names"]
    if as_json:
        _say(json.dumps(answer["values"] if values else names, indent=2))
    elif not names:
        _say("no environment variables yet (set one with: livebase env set NAME VALUE)")
    elif values:
        for var in names:
            _say(f"{var}={answer['values'][var]}")
    else:
        for var in names:
            _say(var)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _complain(text: str) -> None:
    sys.stderr.write(text + "\n")


__all__ = ["HELP", "add_commands", "run"]
