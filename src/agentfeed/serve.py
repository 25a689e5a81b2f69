"""``agentfeed serve``: run the agentfeed Livebase app (``livebase serve apps/agentfeed``) and say
where the page is and how to point the hook at it.

The app folder is ``apps/agentfeed`` of the source checkout (an editable install), or, from a
wheel, the copy packaged as ``agentfeed/app``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_PORT = 3210


def agentfeed_home() -> Path:
    return Path(os.environ.get("AGENTFEED_HOME") or Path.home() / ".agentfeed")


def app_dir() -> Path | None:
    """``apps/agentfeed`` of the checkout this package runs from, else the packaged copy."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "apps" / "agentfeed", here / "app"):
        if (candidate / "schema.py").is_file():
            return candidate
    return None


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
    p.add_argument(
        "--data", type=Path, help="data folder (default: $AGENTFEED_HOME/data, ~/.agentfeed/data)"
    )
    p.add_argument("--db", help="database URL (e.g. postgresql://...; default: SQLite in --data)")


def command(args: argparse.Namespace) -> list[str]:
    """The ``livebase serve`` command line for ``args`` (``app_dir()`` must exist)."""
    app = app_dir()
    assert app is not None
    cmd = [sys.executable, "-m", "livebase", "serve", str(app)]
    cmd += ["--port", str(args.port), "--host", args.host]
    # The data goes to the agentfeed home by default, not next to the app (which may be inside
    # site-packages).
    data = args.data if args.data is not None else agentfeed_home() / "data"
    cmd += ["--data", str(data)]
    if args.db is not None:
        cmd += ["--db", args.db]
    return cmd


def run(args: argparse.Namespace) -> int:
    if app_dir() is None:
        sys.stderr.write(
            "agentfeed: error: the agentfeed app is missing from this installation "
            "(neither apps/agentfeed of a checkout nor the packaged agentfeed/app); reinstall\n"
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
