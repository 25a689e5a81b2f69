"""``agentfeed serve``: run the agentfeed Livebase app (``livebase serve apps/agentfeed``) as a
child process, and say where the page is and how to point the hook at it once it listens.

The app folder is ``apps/agentfeed`` of the source checkout (an editable install), or, from a
wheel, the copy packaged as ``agentfeed/app``.

- The banner (the page's link, the ``install-hook`` line, the owner account: made or updated
  from ``AGENTFEED_OWNER_EMAIL`` and ``AGENTFEED_OWNER_PASSWORD``, see ``agentfeed.owner``) is
  printed when the server reports it is ready (``Livebase ready at ...``), never before: a port
  that is taken gives one error line and exit 1 (checked before starting, and again if the
  server itself cannot listen).
- SIGTERM, SIGINT and SIGHUP are passed on to the server, and ``agentfeed serve`` exits when
  it has, with its status: no server is left holding the port. A server still running
  ``STOP_GRACE`` seconds later, or at a second signal, is killed (SIGKILL). On Linux the server
  also gets SIGTERM if ``agentfeed serve`` dies without passing it on.
- The agentfeed home is made private (0700) and the server runs with umask 077, so its
  database, keys and data folder are readable by this user only.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from agentfeed import owner
from agentfeed.home import PRIVATE_UMASK, SERVER_KEY_FILE, agentfeed_home, private_home
from agentfeed.sinks.companion import SinksCompanion, settings_problem

DEFAULT_PORT = 3210
READY = "Livebase ready at "
CANNOT_LISTEN = "livebase: cannot listen on "
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP")
STOP_GRACE = 10.0
"""Seconds a signalled server has to stop before it is killed."""


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
        "/event. Server settings (AGENTFEED_KEY, AGENTFEED_OWNER_EMAIL...) come from the "
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
    cmd += ["--data", str(data_dir(args))]
    if args.db is not None:
        cmd += ["--db", args.db]
    return cmd


def data_dir(args: argparse.Namespace) -> Path:
    # The data goes to the agentfeed home by default, not next to the app (which may be inside
    # site-packages).
    return args.data if args.data is not None else agentfeed_home() / "data"


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (tried with a socket of our own, closed
    at once), or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        return _cannot_listen(f"{host}:{port}", exc.strerror or str(exc), exc.errno)
    return None


def _cannot_listen(where: str, reason: str, code: int | None) -> str:
    hint = ""
    if code == errno.EADDRINUSE or "in use" in reason:
        hint = " (is agentfeed serve already running there? pick another --port)"
    return f"agentfeed: error: cannot listen on {where}: {reason}{hint}"


def local_url(args: argparse.Namespace) -> str:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    return f"http://{host}:{args.port}" if ":" not in host else f"http://[{host}]:{args.port}"


def banner(args: argparse.Namespace, home: Path) -> str:
    """What to open and what to run, once the server listens."""
    url = local_url(args)
    lines = [f"agentfeed: your feed: {url}/ (the public sees public projects only)"]
    owner.status_line(url, data_dir(args), lines.append)
    lines.append(f"agentfeed: capture Claude Code events with: agentfeed install-hook --url {url}")
    if os.environ.get("AGENTFEED_KEY"):
        lines.append("agentfeed: posts need the key in $AGENTFEED_KEY (install-hook uses it)")
    else:
        lines.append(
            f"agentfeed: posts need the key in {home / SERVER_KEY_FILE} "
            "(install-hook on this machine uses it by itself)"
        )
    return "".join(line + "\n" for line in lines)


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when ``agentfeed serve`` dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Server:
    """The ``livebase serve`` child: its output passed through, its signals forwarded."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            umask=PRIVATE_UMASK,
            start_new_session=True,  # our signals reach it once, through us
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.signals = 0
        self.bind_error: str | None = None
        self._stderr = threading.Thread(target=self._pass_stderr, daemon=True)
        self._stderr.start()

    def forward(self, signum: int, frame: FrameType | None) -> None:
        """Our signal handler: pass the first signal on (SIGHUP as SIGTERM), kill at the
        second or after ``STOP_GRACE`` seconds."""
        self.signals += 1
        if self.signals > 1:
            self.kill()
            return
        if signum == getattr(signal, "SIGHUP", None):
            signum = signal.SIGTERM
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        timer = threading.Timer(STOP_GRACE, self.kill)
        timer.daemon = True
        timer.start()

    def kill(self) -> None:
        if self.proc.poll() is None:
            sys.stderr.write(
                f"agentfeed: the server did not stop; killing it (pid {self.proc.pid})\n"
            )
            self.proc.kill()

    def _pass_stderr(self) -> None:
        """Copy the server's stderr to ours as it comes, keeping back a failed bind's line."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 65536):
            text = chunk.decode("utf-8", "replace")
            if CANNOT_LISTEN in text:
                before, _, rest = text.partition(CANNOT_LISTEN)
                line, _, after = rest.partition("\n")
                self.bind_error = line
                text = before + after
            sys.stderr.write(text)
            sys.stderr.flush()

    def pass_stdout(self, when_ready: Callable[[], str]) -> bool:
        """Copy the server's stdout to ours line by line until it ends; after its ready line,
        print ``when_ready()``. Whether it got ready."""
        assert self.proc.stdout is not None
        ready = False
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            sys.stdout.write(line)
            if not ready and line.startswith(READY):
                ready = True
                sys.stdout.write(when_ready())
            sys.stdout.flush()
        return ready

    def wait(self) -> int:
        code = self.proc.wait()
        self._stderr.join(timeout=5)
        return code if code >= 0 else 128 - code


def run(args: argparse.Namespace) -> int:
    if app_dir() is None:
        sys.stderr.write(
            "agentfeed: error: the agentfeed app is missing from this installation "
            "(neither apps/agentfeed of a checkout nor the packaged agentfeed/app); reinstall\n"
        )
        return 1
    problem = port_problem(args.host, args.port)
    if problem is not None:
        sys.stderr.write(problem + "\n")
        return 1
    if (sink_problem := settings_problem()) is not None:
        sys.stderr.write(sink_problem + "\n")
        return 2
    home = private_home(agentfeed_home())
    server = _Server(command(args), {**os.environ, "AGENTFEED_HOME": str(home)})
    previous = {}
    for name in FORWARDED:
        if hasattr(signal, name):
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, server.forward)
    sinks = SinksCompanion(_die_with_parent if sys.platform == "linux" else None)
    url = local_url(args)
    try:
        ready = server.pass_stdout(lambda: banner(args, home) + sinks.start(url, data_dir(args)))
        code = server.wait()
    finally:
        sinks.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not ready and server.bind_error is not None:
        where, _, reason = server.bind_error.removeprefix(CANNOT_LISTEN).partition(": ")
        sys.stderr.write(_cannot_listen(where, reason.strip(), None) + "\n")
        return code or 1
    if not ready and not server.signals:
        return code or 1
    return code
