"""``agentfeed serve``: run the agentfeed Livebase app (``livebase serve apps/agentfeed``) and say
where the page is and how to point the hook at it.

The app folder is found relative to this checkout (``apps/agentfeed`` at the repository root,
two levels above the ``agentfeed`` package): it is not part of the wheel yet, so ``serve`` needs
a source checkout (an editable install).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

DEFAULT_PORT = 3210


def app_dir() -> Path | None:
    """``apps/agentfeed`` of the checkout this package runs from, if it is there."""
    candidate = Path(__file__).resolve().parents[2] / "apps" / "agentfeed"
    return candidate if (candidate / "schema.py").is_file() else None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "serve",
        help="run the agentfeed server and its live page (livebase serve apps/agentfeed)",
        description="Run `livebase serve apps/agentfeed`: the feed page at /, hook events at "
        "/event. Server settings (AGENTFEED_KEY, AGENTFEED_OWNER_KEY...) come from the "
        "environment; see docs/agentfeed.md.",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    p.add_argument("--data", type=Path, help="data folder (livebase serve's default if unset)")
    p.add_argument("--db", help="database URL (e.g. postgresql://...; default: SQLite in --data)")


def command(args: argparse.Namespace) -> list[str]:
    """The ``livebase serve`` command line for ``args`` (``app_dir()`` must exist)."""
    app = app_dir()
    assert app is not None
    cmd = [sys.executable, "-m", "livebase", "serve", str(app)]
    cmd += ["--port", str(args.port), "--host", args.host]
    if args.data is not None:
        cmd += ["--data", str(args.data)]
    if args.db is not None:
        cmd += ["--db", args.db]
    return cmd


def run(args: argparse.Namespace) -> int:
    if app_dir() is None:
        sys.stderr.write(
            "agentfeed: error: apps/agentfeed not found next to this installation; "
            "`agentfeed serve` needs a source checkout (pip install -e .)\n"
        )
        return 1
    url = f"http://{args.host}:{args.port}"
    sys.stdout.write(
        f"agentfeed: the feed page: {url}/  (owner view: {url}/?key=$AGENTFEED_OWNER_KEY)\n"
        f"agentfeed: capture Claude Code events with: agentfeed install-hook --url {url}\n"
        "agentfeed: posts need the key in $AGENTFEED_KEY, else the one in "
        "$AGENTFEED_HOME/server_key (made on first start; install-hook uses it by itself)\n"
    )
    sys.stdout.flush()
    try:
        return subprocess.call(command(args))
    except KeyboardInterrupt:
        return 130
