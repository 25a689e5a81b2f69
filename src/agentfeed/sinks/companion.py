"""``agentfeed serve``'s sink process: when any sink setting is present, ``agentfeed sinks``
runs as a second child next to the server, started once the server listens and stopped
(SIGTERM, then SIGKILL after a grace period) when it stops. With no sink setting nothing
starts, and ``serve`` behaves as before.

Why a process of its own rather than a task inside the server: a sink waits on the network
(PostHog, a broker, a webhook), retries for hours when its destination is down and parses and
encodes every event again; in its own process none of that shares the server's event loop or
its GIL, so ingestion never waits for a sink, and a sink that crashes or is killed takes nothing
else with it. It reads the same public change stream any consumer can.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import settings

STOP_GRACE = 10.0


def settings_problem() -> str | None:
    """What is wrong with the sink settings (an error line for ``serve``), or None."""
    try:
        settings.load()
    except settings.SettingsError as exc:
        return f"agentfeed: error: {exc}"
    return None


class SinksCompanion:
    """The ``agentfeed sinks`` child of ``agentfeed serve`` (nothing when no sink is set)."""

    def __init__(self, preexec: Callable[[], None] | None = None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.preexec = preexec  # e.g. SIGTERM when ``serve`` dies (Linux)

    def start(self, url: str, data: Path) -> str:
        """Start it if sinks are configured; a banner line saying so (or nothing)."""
        config = settings.load()
        if not config.names:
            return ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentfeed", "sinks", "--url", url, "--data", str(data)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # stopped by us, after the server
            preexec_fn=self.preexec,
        )
        return f"agentfeed: forwarding events to {', '.join(config.names)} (agentfeed sinks)\n"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
