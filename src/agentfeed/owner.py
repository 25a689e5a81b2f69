"""The owner's account: agentfeed's owner signs in on the page with a Livebase built-in account
(``apps/agentfeed/auth.py``), made or updated here on a running server through its admin API.

- ``agentfeed owner EMAIL`` (password from a prompt or ``--password-stdin``) makes the account,
  or sets a new password for it if it exists.
- ``agentfeed serve`` with ``AGENTFEED_OWNER_EMAIL`` and ``AGENTFEED_OWNER_PASSWORD`` does the
  same once the server listens (an unchanged password is left alone, so a restart does not end
  the owner's sessions); without them it says how to make an account when there is none.

The admin key is ``LIVEBASE_ADMIN_KEY`` or the one ``livebase serve`` keeps in the server's data
folder (``$AGENTFEED_HOME/data`` by default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentfeed.home import agentfeed_home

EMAIL_ENV = "AGENTFEED_OWNER_EMAIL"
PASSWORD_ENV = "AGENTFEED_OWNER_PASSWORD"
ADMIN_KEY_FILE = "admin_key"
DEFAULT_URL = "http://127.0.0.1:3210"
HOW_TO = (
    f"agentfeed owner EMAIL (asks for a password), or set {EMAIL_ENV} and {PASSWORD_ENV} "
    "before agentfeed serve"
)


def admin_key(data: Path) -> str | None:
    """``LIVEBASE_ADMIN_KEY``, else the key the server keeps in ``data``, else None."""
    env = os.environ.get("LIVEBASE_ADMIN_KEY")
    if env:
        return env
    try:
        return (data / ADMIN_KEY_FILE).read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _password_holds(url: str, email: str, password: str, timeout: float) -> bool:
    """Whether ``email`` signs in with ``password`` (the session it opens is revoked at once)."""
    form = {"grant_type": "password", "username": email, "password": password}
    try:
        tokens = _post_form(f"{url}/auth/token", form, timeout)
    except urllib.error.HTTPError:
        return False
    _post_form(f"{url}/auth/revoke", {"token": tokens["refresh_token"]}, timeout)
    return True


def _post_form(url: str, form: dict[str, str], timeout: float) -> Any:
    body = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def ensure(
    url: str, key: str, email: str, password: str, *, name: str, timeout: float = 60.0
) -> str | None:
    """Make the account ``email`` with ``password``, or give it that password; a line saying
    what was done, or None after printing what went wrong (prefixed with ``name``)."""
    from livebase.admin_client import AdminClient

    client = AdminClient(name, url, key, timeout)
    listing = client.call("GET", "admin/users")
    if listing is None:
        return None
    wanted = email.strip().lower()
    account = next((u for u in listing["users"] if u["email"] == wanted), None)
    if account is None:
        added = client.call("POST", "admin/users", {"email": email, "password": password})
        return (
            None if added is None else f"owner account {added['email']} made: sign in on the page"
        )
    if account["disabled"]:
        return (
            f"owner account {account['email']} is disabled: it cannot sign in until "
            f"`livebase users enable {account['email']} --data ...` enables it"
        )
    if _password_holds(url.rstrip("/"), wanted, password, timeout):
        return f"owner account {account['email']}: sign in on the page"
    body = {"email": email, "password": password}
    if client.call("POST", "admin/users/reset-password", body) is None:
        return None
    return f"owner account {account['email']}: new password set (its earlier sessions ended)"


def status_line(url: str, data: Path, say: Callable[[str], None]) -> None:
    """At ``agentfeed serve``'s start: make or update the owner from the environment, or say
    how to make one when the server has no account yet."""
    key = admin_key(data)
    if key is None:
        say(f"agentfeed: cannot manage the owner account: no admin key in {data}")
        return
    email, password = os.environ.get(EMAIL_ENV), os.environ.get(PASSWORD_ENV)
    if email and password:
        done = ensure(url, key, email, password, name=f"agentfeed: {EMAIL_ENV}")
        if done is not None:
            say(f"agentfeed: {done}")
        return
    if email or password:
        missing = PASSWORD_ENV if email else EMAIL_ENV
        say(f"agentfeed: {missing} is not set, so the owner account was left as it is")
    from livebase.admin_client import AdminClient

    listing = AdminClient("agentfeed", url, key, 30.0).call("GET", "admin/users")
    if listing is None:
        return
    active = [u["email"] for u in listing["users"] if not u["disabled"]]
    if active:
        say(f"agentfeed: sign in on the page as the owner ({', '.join(active)})")
    else:
        say(f"agentfeed: no owner account yet; to see everything and share projects, run: {HOW_TO}")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "owner",
        help="make the owner's account on a running agentfeed server (or set its password)",
        description="Make the account the owner signs in with on the page, or give it a new "
        "password, on the agentfeed server at --url (its admin key from --data, default "
        "$AGENTFEED_HOME/data, or LIVEBASE_ADMIN_KEY).",
    )
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--url", default=DEFAULT_URL, help="the server (default: %(default)s)")
    p.add_argument("--data", type=Path, help="its data folder (default: $AGENTFEED_HOME/data)")


def run(args: argparse.Namespace) -> int:
    from livebase.auth.builtin.cli import read_password

    name = "agentfeed owner"
    data = args.data if args.data is not None else agentfeed_home() / "data"
    key = admin_key(data)
    if key is None:
        sys.stderr.write(
            f"{name}: no admin key in {data}: start the server first (agentfeed serve), pass "
            "the server's --data folder, or set LIVEBASE_ADMIN_KEY\n"
        )
        return 2
    password = read_password(name, args.password_stdin)
    if password is None:
        return 2
    done = ensure(args.url, key, args.email, password, name=name)
    if done is None:
        return 1
    sys.stdout.write(f"{done}\n")
    return 0
