"""Fixtures for the sink tests: a real agentfeed server (``livebase serve apps/agentfeed``) per
test, and ``agentfeed sinks`` as a real child process against it (started, SIGTERMed,
SIGKILLed and restarted by the tests; ended by pid when the test is done)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.agentfeed import serving
from tests.agentfeed.serving import agentfeed_command
from tests.agentfeed_app.conftest import Agentfeed, launch
from tests.agentfeed_app.payloads import hook
from tests.support.server import base_env

T = TypeVar("T")
DEADLINE = 60.0


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something true (an empty list is not ready)."""
    return serving.wait_for(lambda: probe() or None, what, timeout)


class Sinks:
    """``agentfeed sinks --url <server>`` with ``env`` (the sink settings)."""

    def __init__(self, af: Agentfeed, base: Path, env: dict[str, str]) -> None:
        self.af = af
        self.env = base_env(LIVEBASE_ADMIN_KEY=af.server.admin_key, **env)
        self.log = base / f"sinks-{uuid.uuid4().hex[:8]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sinks:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*agentfeed_command(), "sinks", "--url", self.af.server.url],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self, name: str) -> Sinks:
        """Started, and sink ``name`` following the stream."""
        self.start()
        wait_started(self.af, self, name)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def sink_state(af: Agentfeed, name: str) -> dict[str, Any] | None:
    status = af.query("sinks/state:status")
    assert status is not None
    return next((s for s in status["sinks"] if s["sink"] == name), None)


def wait_started(af: Agentfeed, sinks: Sinks, name: str) -> dict[str, Any]:
    """Until the sink has saved its first cursor (it follows the stream from there)."""

    def started() -> dict[str, Any] | None:
        assert sinks.proc is not None
        if sinks.proc.poll() is not None:
            raise AssertionError(f"agentfeed sinks exited:\n{sinks.output()}")
        state = sink_state(af, name)
        return state if state is not None and state.get("cursor") else None

    return wait_for(started, f"sink {name} started\n{sinks.output()}")


def post_events(
    af: Agentfeed, n: int, *, session: str | None = None, cwd: str = "/home/u/app", **fields: Any
) -> list[str]:
    """``n`` prompts posted one by one; their event ids in order."""
    session = session or f"s-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(n):
        payload = hook("UserPromptSubmit", session, cwd=cwd, **{"prompt": f"prompt {i}", **fields})
        af.post(payload)
        ids.append(payload["event_id"])
    return ids


@pytest.fixture
def af(tmp_path: Path) -> Iterator[Agentfeed]:
    with launch(tmp_path) as server:
        yield Agentfeed(server)


@pytest.fixture
def sinks_for(af: Agentfeed, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Sinks]]:
    made: list[Sinks] = []

    def make(env: dict[str, str]) -> Sinks:
        sinks = Sinks(af, tmp_path, env)
        made.append(sinks)
        return sinks

    yield make
    for sinks in made:
        sinks.close()
