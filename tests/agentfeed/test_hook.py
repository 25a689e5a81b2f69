"""The capture hook run as a real process (``python -S hook.py``) against a real HTTP server.

Covers the contract with the server (body = stdin object + ``event_id`` + ``timestamp``, headers,
``raw`` for anything else), the contract with Claude Code (stdout empty, exit 0, at most one
stderr line, bounded time), and the spool: written on failure, replayed oldest first, safe under
concurrent hooks, bounded per run, capped in size.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.agentfeed.conftest import (
    HOOK,
    EventServer,
    HookEnv,
    closed_port_url,
    post_tool_use,
)
from tests.support.server import REPO_ROOT, free_port


def assert_quiet_success(result: Any) -> None:
    assert result.returncode == 0
    assert result.stdout == b""
    assert result.stderr.count("\n") <= 1


def assert_event(body: dict[str, Any], payload: dict[str, Any], before_ms: int) -> None:
    assert uuid.UUID(body["event_id"]).version == 4
    assert isinstance(body["timestamp"], int)
    assert before_ms <= body["timestamp"] <= time.time_ns() // 1_000_000
    rest = {k: v for k, v in body.items() if k not in ("event_id", "timestamp")}
    assert rest == payload


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- server up -----------------------------------------------------------------------------------


def test_server_up_receives_payload_with_event_id_and_timestamp(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    payload = post_tool_use()
    before = now_ms()
    result = hook_env.run(payload)
    assert_quiet_success(result)
    assert result.stderr == ""
    assert len(event_server.received) == 1
    got = event_server.received[0]
    assert got.path == "/event"
    assert got.headers["Content-Type"] == "application/json"
    assert "X-Agentfeed-Key" not in got.headers
    assert_event(got.body, payload, before)
    assert not hook_env.spool.exists()


def test_object_text_is_kept_and_made_one_line(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    text = '{\n  "hook_event_name": "Stop",\n  "n": 1.50,\n  "s": "caf\\u00e9 \u00e9"\n}\n'
    assert_quiet_success(hook_env.run(text.encode()))
    raw = event_server.received[0].raw
    assert b"\n" not in raw
    kept = text.strip()[:-1].rstrip().replace("\n", " ")  # the object's text minus its brace
    assert raw.startswith(kept.encode() + b',"event_id":')
    body = event_server.received[0].body
    assert body["s"] == "café é"
    assert set(body) == {"hook_event_name", "n", "s", "event_id", "timestamp"}


def test_empty_object_and_existing_event_id(hook_env: HookEnv, event_server: EventServer) -> None:
    assert_quiet_success(hook_env.run(b"{}"))
    assert set(event_server.received[0].body) == {"event_id", "timestamp"}
    assert_quiet_success(hook_env.run({"event_id": "mine", "timestamp": 1, "x": 2}))
    body = event_server.received[1].body
    assert body["event_id"] != "mine" and body["timestamp"] > 1 and body["x"] == 2


def test_stdin_that_is_not_a_json_object_is_sent_raw(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    inputs = [b"not json {", b"", b"[1, 2]\n", b'"text"', b'{"a": 1} trailing', b"\xff\xfe{"]
    for data in inputs:
        assert_quiet_success(hook_env.run(data))
    bodies = event_server.bodies()
    assert [b["raw"] for b in bodies] == [d.decode("utf-8", "replace") for d in inputs]
    for body in bodies:
        assert set(body) == {"event_id", "timestamp", "raw"}
        assert uuid.UUID(body["event_id"]).version == 4


def test_key_and_url_from_config_file_env_wins(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    hook_env.home.mkdir()
    config = {"url": event_server.url + "/base/", "key": "from-file"}
    (hook_env.home / "config.json").write_text(json.dumps(config))
    hook_env.extra["AGENTFEED_URL"] = ""  # unset: the config file's url applies
    assert_quiet_success(hook_env.run({"n": 1}))
    hook_env.extra["AGENTFEED_KEY"] = "from-env"
    assert_quiet_success(hook_env.run({"n": 2}))
    first, second = event_server.received
    assert first.path == second.path == "/base/event"
    assert first.headers["X-Agentfeed-Key"] == "from-file"
    assert second.headers["X-Agentfeed-Key"] == "from-env"


def test_https_with_a_trusted_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:  # fail loudly: CI must never skip this silently
        pytest.fail("the openssl command makes the test certificate: apt install openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = EventServer(tls=(cert, key)).start()
    try:
        env = HookEnv(tmp_path, server.url)
        untrusted = env.run({"n": 1})  # the system CAs do not know this certificate
        assert_quiet_success(untrusted)
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
        env.extra["SSL_CERT_FILE"] = str(cert)
        assert_quiet_success(env.run({"n": 2}))
        assert [b["n"] for b in server.bodies()] == [1, 2]
        assert not env.spool.exists()
    finally:
        server.stop()


def test_any_2xx_is_success(hook_env: HookEnv, event_server: EventServer) -> None:
    event_server.status = 202
    assert_quiet_success(hook_env.run({"n": 1}))
    assert len(event_server.received) == 1
    assert not hook_env.spool.exists()


def test_cli_hook_runs_in_process(hook_env: HookEnv, event_server: EventServer) -> None:
    env = hook_env.env()
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "agentfeed.cli", "hook"],
        input=b'{"hook_event_name": "SessionStart"}',
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout == b""
    assert event_server.bodies()[0]["hook_event_name"] == "SessionStart"


# --- failures and the spool ----------------------------------------------------------------------


def test_server_down_spools_the_event(hook_env: HookEnv) -> None:
    hook_env.url = closed_port_url()
    payload = post_tool_use()
    before = now_ms()
    result = hook_env.run(payload)
    assert_quiet_success(result)
    assert "Connection refused" in result.stderr
    [spooled] = hook_env.spooled()
    assert_event(spooled, payload, before)
    assert hook_env.spool.stat().st_mode & 0o777 == 0o600


def test_slow_server_times_out_then_backs_off(hook_env: HookEnv, event_server: EventServer) -> None:
    event_server.delay = 5.0
    result = hook_env.run(post_tool_use(1))
    assert_quiet_success(result)
    assert result.seconds < 2.5
    assert [e["seq"] for e in hook_env.spooled()] == [1]
    # A timeout makes the next runs spool at once instead of waiting 2 s each.
    arrivals = event_server.arrivals
    result = hook_env.run(post_tool_use(2))
    assert_quiet_success(result)
    assert result.seconds < 1.0
    assert event_server.arrivals == arrivals
    assert [e["seq"] for e in hook_env.spooled()] == [1, 2]


def test_backoff_expires_and_replay_clears_it(hook_env: HookEnv, event_server: EventServer) -> None:
    hook_env.url = closed_port_url()
    assert_quiet_success(hook_env.run(post_tool_use(0)))
    marker = hook_env.home / "offline"
    marker.touch()
    old = time.time() - 60
    os.utime(marker, (old, old))
    hook_env.url = event_server.url
    assert_quiet_success(hook_env.run(post_tool_use(1)))
    assert [b["seq"] for b in event_server.bodies()] == [0, 1]
    assert not marker.exists()


def test_spool_is_replayed_oldest_first_on_the_next_successful_post(tmp_path: Path) -> None:
    port = free_port()
    env = HookEnv(tmp_path, f"http://127.0.0.1:{port}")
    for n in range(5):
        assert_quiet_success(env.run(post_tool_use(n)))
    spooled = env.spooled()
    assert [e["seq"] for e in spooled] == [0, 1, 2, 3, 4]
    server = EventServer(port).start()
    try:
        result = env.run(post_tool_use(5))
        assert_quiet_success(result)
        assert result.stderr == ""
        bodies = server.bodies()
        assert [b["seq"] for b in bodies] == [0, 1, 2, 3, 4, 5]
        assert [b["event_id"] for b in bodies[:5]] == [e["event_id"] for e in spooled]
        assert bodies[:5] == spooled
        assert not env.spool.exists()
    finally:
        server.stop()


def test_server_error_is_retried_and_4xx_rejection_is_dropped(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    event_server.status = 500
    result = hook_env.run(post_tool_use(0))
    assert_quiet_success(result)
    assert "500" in result.stderr
    assert [e["seq"] for e in hook_env.spooled()] == [0]
    event_server.status = 422
    result = hook_env.run(post_tool_use(1))
    assert_quiet_success(result)
    assert "rejected" in result.stderr
    assert not hook_env.spool.exists()  # both dropped: the 422 answer applied to line 0 too
    event_server.status = 200
    assert_quiet_success(hook_env.run(post_tool_use(2)))
    assert [b["seq"] for b in event_server.bodies()] == [2]


def test_a_truncated_spool_line_does_not_block_the_rest(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    hook_env.home.mkdir()
    good = json.dumps({"event_id": str(uuid.uuid4()), "timestamp": 1, "seq": 0})
    hook_env.spool.write_text(good + "\n" + '{"event_id": "half", "times')  # a run died mid-write
    assert_quiet_success(hook_env.run(post_tool_use(1)))
    assert [b["seq"] for b in event_server.bodies()] == [0, 1]
    assert not hook_env.spool.exists()


def test_spool_is_capped(tmp_path: Path) -> None:
    env = HookEnv(tmp_path, closed_port_url(), {"AGENTFEED_SPOOL_MAX_BYTES": "1000"})
    assert_quiet_success(env.run(post_tool_use(0)))
    result = env.run(post_tool_use(1))
    assert_quiet_success(result)
    assert "spool full" in result.stderr
    assert [e["seq"] for e in env.spooled()] == [0]


def test_replay_work_per_run_is_bounded(hook_env: HookEnv, event_server: EventServer) -> None:
    hook_env.home.mkdir()
    backlog = [{"event_id": str(uuid.uuid4()), "timestamp": 1, "seq": n} for n in range(3000)]
    hook_env.spool.write_text("".join(json.dumps(e) + "\n" for e in backlog))
    result = hook_env.run(post_tool_use(3000))
    assert_quiet_success(result)
    assert result.seconds < 2.5
    sent = event_server.bodies()
    assert 1 <= len(sent) <= 1000
    assert sent == backlog[: len(sent)]
    left = hook_env.spooled()
    assert left[:-1] == backlog[len(sent) :]
    assert left[-1]["seq"] == 3000


def test_ten_concurrent_hooks_while_down_spool_ten_intact_lines(tmp_path: Path) -> None:
    env = HookEnv(tmp_path, closed_port_url())
    assert run_concurrently(env, range(10)) == [(0, b"")] * 10
    spooled = env.spooled()
    assert sorted(e["seq"] for e in spooled) == list(range(10))
    assert len({e["event_id"] for e in spooled}) == 10
    for event in spooled:
        assert event["tool_response"]["stdout"] == "42 passed in 1.2s\n"


def test_concurrent_hooks_after_recovery_deliver_everything_once_backlog_first(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = HookEnv(tmp_path, f"http://127.0.0.1:{port}")
    for n in range(10):
        assert_quiet_success(env.run(post_tool_use(n)))
    server = EventServer(port).start()
    try:
        assert run_concurrently(env, range(10, 20)) == [(0, b"")] * 10
        assert_quiet_success(env.run(post_tool_use(20)))  # picks up anything left behind
        bodies = server.bodies()
        seqs = [b["seq"] for b in bodies]
        assert seqs[:10] == list(range(10))
        assert sorted(seqs) == list(range(21))
        assert len({b["event_id"] for b in bodies}) == 21
        assert not env.spool.exists()
    finally:
        server.stop()


def run_concurrently(env: HookEnv, seqs: range) -> list[tuple[int, bytes]]:
    """Start one hook per ``seq`` at once, then feed them all; ``(exit code, stdout)`` each."""
    procs = [
        subprocess.Popen(
            env.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env.env(),
        )
        for _ in seqs
    ]
    for proc, n in zip(procs, seqs, strict=True):
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(post_tool_use(n)).encode())
        proc.stdin.close()
    results = []
    for proc in procs:
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.stdout.close()
        results.append((proc.wait(timeout=30), stdout))
    return results


def test_sigterm_mid_post_still_spools_and_exits_0(
    hook_env: HookEnv, event_server: EventServer
) -> None:
    event_server.delay = 5.0
    proc = subprocess.Popen(
        hook_env.command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hook_env.env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(post_tool_use(7)).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while event_server.arrivals == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read() == b""
    proc.stdout.close()
    proc.stderr.close()
    assert [e["seq"] for e in hook_env.spooled()] == [7]


def test_home_argument_beats_the_environment(tmp_path: Path) -> None:
    env = HookEnv(tmp_path, closed_port_url())
    other = tmp_path / "other-home"
    proc = subprocess.run(
        env.command("--home", str(other)),
        input=b"{}",
        capture_output=True,
        env=env.env(),
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout == b""
    assert (other / "spool.jsonl").exists()
    assert not env.spool.exists()


def test_hook_file_imports_nothing_from_the_project(tmp_path: Path) -> None:
    source = HOOK.read_text()
    assert "livebase" not in source.split('"""', 2)[2]
    assert "import agentfeed" not in source and "from agentfeed" not in source
    # Under -S (no site-packages) and -I it must still run: a stripped environment.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK), "--home", str(tmp_path / "home")],
        input=b"{}",
        capture_output=True,
        env={"AGENTFEED_URL": closed_port_url()},
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout == b""
    assert (tmp_path / "home" / "spool.jsonl").exists()
