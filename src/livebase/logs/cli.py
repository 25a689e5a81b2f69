"""``livebase logs``: a running deployment's function logs and failures, one line each.

It reads ``/api/admin/logs`` (``livebase.logs.endpoints``) the way ``livebase env`` reads
``/api/admin/env``: ``--url`` (``LIVEBASE_URL``, else ``http://127.0.0.1:3210``) and the admin
key from ``--admin-key``, ``LIVEBASE_ADMIN_KEY`` or the data folder (``--data``). It prints the
entries the server still keeps (``--tail N``: only the last N), then with ``--follow`` long-polls
for new ones until Ctrl-C. A line reads::

    2026-12-04 16:40:01.123 [query messages:list] INFO hello

(local time; ``(cron)`` or ``(scheduled)`` after the path for a job's calls; a failure is an
``ERROR`` line that starts with its request id and may go on over more lines). On a terminal
errors are red and warnings yellow. ``--json`` prints one JSON object per entry and line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import deque
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from livebase.admin_client import AdminClient, deployment_options

HELP = "print a running deployment's function logs and failures (--follow to keep streaming)"
FOLLOW_WAIT = 25
"""Seconds each long poll of ``--follow`` may wait on the server."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_COLOR = {"ERROR": "\033[31m", "WARN": "\033[33m"}
_RESET = "\033[0m"


def add_commands(sub: Any, url_default: str) -> None:
    """Add ``logs`` to the ``livebase`` parser's subcommands."""
    p = sub.add_parser("logs", help=HELP, description=HELP)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    p.add_argument(
        "--function", metavar="PATH", help="only this function (module:name), module or route"
    )
    p.add_argument(
        "--level",
        type=str.lower,
        choices=("debug", "log", "info", "warn", "error"),
        help="only entries at this level or above (log and info rank alike)",
    )
    p.add_argument(
        "--since", metavar="WHEN", help="only entries from then: 10m, 2h, 1d, or 2026-12-04T16:40"
    )
    p.add_argument("--tail", type=int, metavar="N", help="of the kept entries, print the last N")
    p.add_argument("--json", action="store_true", help="print JSON Lines")
    deployment_options(p, url_default)


def since_ms(text: str, now: float | None = None) -> float:
    """``--since``: a duration back from now (``90s``, ``10m``, ``2h``, ``1d``) or a date and
    time (ISO 8601; local time unless it names a zone), as milliseconds since the epoch."""
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
        return ((time.time() if now is None else now) - seconds) * 1000
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration (90s, 10m, 2h, 1d) or a date and time "
            "(2026-12-04T16:40)"
        ) from None
    return when.timestamp() * 1000


def format_entry(entry: dict[str, Any], color: bool = False) -> str:
    """One entry as the line ``livebase logs`` prints."""
    ts = entry["timestamp"] / 1000
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
    source = entry.get("source", "call")
    where = f"{entry['kind']} {entry['path']}" + ("" if source == "call" else f" ({source})")
    level = entry["level"]
    message = entry["message"]
    if entry.get("failure"):
        message = f"[Request ID: {entry['requestId']}] {message}"
    shown = f"{_COLOR[level]}{level}{_RESET}" if color and level in _COLOR else level
    return f"{stamp} [{where}] {shown} {message}"


def run(args: argparse.Namespace, admin_key: str | None) -> int:
    """Run ``livebase logs``; the exit status (0 also after Ctrl-C)."""
    if not admin_key:
        sys.stderr.write(
            "livebase logs: needs the admin key: pass --admin-key, set LIVEBASE_ADMIN_KEY, or give "
            "the server's data folder with --data\n"
        )
        return 2
    query: dict[str, str] = {}
    if args.function:
        query["function"] = args.function
    if args.level:
        query["level"] = args.level
    if args.since:
        try:
            query["since"] = str(since_ms(args.since))
        except ValueError as exc:
            sys.stderr.write(f"livebase logs: {exc}\n")
            return 2
    timeout = max(args.timeout, FOLLOW_WAIT + 15) if args.follow else args.timeout
    client = AdminClient("livebase logs", args.url, admin_key, timeout)
    try:
        return _stream(client, query, args)
    except KeyboardInterrupt:
        return 0


def _stream(client: AdminClient, query: dict[str, str], args: argparse.Namespace) -> int:
    color = not args.json and sys.stdout.isatty()
    cursor = 0
    kept: deque[dict[str, Any]] = deque(maxlen=args.tail if args.tail and args.tail > 0 else None)
    while True:  # what the server keeps, page by page
        answer = client.call("GET", "admin/logs?" + urlencode({**query, "after": cursor}))
        if answer is None:
            return 1
        cursor = answer["cursor"]
        if not answer["entries"]:
            break
        kept.extend(answer["entries"])
        if args.tail is None:
            _print(kept, args.json, color)
            kept.clear()
    _print(kept, args.json, color)
    while args.follow:
        params = {**query, "after": cursor, "wait": FOLLOW_WAIT}
        answer = client.call("GET", "admin/logs?" + urlencode(params))
        if answer is None:
            return 1
        if answer["oldest"] > cursor + 1 and cursor > 0:
            dropped = answer["oldest"] - cursor - 1
            sys.stderr.write(
                f"livebase logs: {dropped} entries were dropped before they were read\n"
            )
        cursor = answer["cursor"]
        _print(answer["entries"], args.json, color)
    return 0


def _print(entries: Any, as_json: bool, color: bool) -> None:
    out = sys.stdout
    for entry in entries:
        out.write((json.dumps(entry) if as_json else format_entry(entry, color)) + "\n")
    out.flush()


__all__ = ["HELP", "add_commands", "format_entry", "run", "since_ms"]
