"""A Node.js script run as a child process that talks in lines: JSON objects on stdout, one line
of input at a time on stdin. Threads collect stdout (a queue of lines) and stderr (kept for the
transcript shown when a test fails)."""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


class NodeProcess:
    """``node SCRIPT ARGS...`` in ``cwd`` with line-by-line access to its stdout.

    ``max_line_chars`` shortens long stdout lines in ``transcript()``.
    """

    def __init__(
        self, cwd: Path, script: str, *args: str, max_line_chars: int | None = None
    ) -> None:
        node = shutil.which("node")
        assert node is not None
        self.proc = subprocess.Popen(
            [node, script, *args],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.max_line_chars = max_line_chars
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        self.ended = False
        self._pumps = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def transcript(self) -> str:
        """The stdout lines read so far and the last 80 lines of stderr."""
        limit = self.max_line_chars
        out = "".join(
            line if limit is None or len(line) < limit else line[:limit] + "…\n"
            for line in self.seen
        )
        return "stdout:\n" + out + "\nstderr:\n" + "".join(self.stderr[-80:])

    def read_event(self, deadline: float) -> dict[str, Any] | None:
        """The next stdout line that is a JSON object, or None if ``deadline`` (a
        ``time.monotonic()`` value) passed or the script's stdout ended (``ended`` is then set).
        Other lines are kept for the transcript and skipped."""
        while not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                self.ended = True
                # The script is ending: let the stderr pump read to the end, for the transcript.
                self._pumps[1].join(timeout=10)
                return None
            self.seen.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                return event
        return None

    def send_line(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close(self, timeout: float) -> None:
        """Close stdin, give the script ``timeout`` seconds to exit (then kill it), and reap the
        reader threads and pipes."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pump in self._pumps:
            pump.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
