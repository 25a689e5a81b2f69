"""Function logs (issue 13) against a real server: ``livebase logs`` as a process shows what
functions printed and logged and how they failed, filters by function and level, follows new
entries, keeps a bounded log, refuses callers without the admin key, and gets the lines of an
action run in a worker process."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.calls import admin_authorization, call
from tests.support.server import LivebaseServer, base_env

from .conftest import LogsServer, app_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def tag() -> str:
    return uuid.uuid4().hex[:8]


def post(server: LogsServer, kind: str, path: str, args: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers={"authorization": admin_authorization(server.server.admin_key)},
        timeout=30,
    )
    body: dict[str, Any] = response.json()
    return body


def json_lines(server: LogsServer, *args: str) -> list[dict[str, Any]]:
    done = server.cli("--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_lines_and_failures_with_path_kind_and_level(logs_server: LogsServer) -> None:
    t = tag()
    assert call(logs_server.url, logs_server.server.admin_key, "query", "chatty:levels", {"tag": t})
    call(logs_server.url, logs_server.server.admin_key, "mutation", "chatty:note", {"tag": t})
    failed = post(logs_server, "mutation", "chatty:broken", {"tag": t})
    assert failed["status"] == "error"

    done = logs_server.cli()
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if t in line]
    assert [line.split("] ", 1)[1] for line in lines] == [
        f"LOG printed {t}",
        f"DEBUG debug {t}",
        f"INFO info {t}",
        f"WARN warn {t}",
        f"ERROR error {t}",
        f"LOG noted {t}",
        f"LOG about to break {t}",
        lines[-1].split("] ", 1)[1],
    ]
    assert all("[query chatty:levels]" in line for line in lines[:5])
    assert "[mutation chatty:note]" in lines[5]
    request_id = failed["errorMessage"].split("]")[0].removeprefix("[Request ID: ")
    assert lines[-1].endswith(  # with the request id the caller was given
        f"[mutation chatty:broken] ERROR [Request ID: {request_id}] Uncaught ValueError: "
        f"broken on purpose {t}"
    )
    after = done.stdout.split(lines[-1], 1)[1].splitlines()
    assert after[1].startswith("    at broken (chatty.py:")  # the app's frames, under serve too
    stamp = lines[0].split(" [", 1)[0]
    assert time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S") and stamp[19] == "."

    entries = [e for e in json_lines(logs_server) if t in e["message"]]
    assert entries[-1]["failure"] is True and entries[-1]["kind"] == "mutation"
    assert {e["level"] for e in entries} == {"LOG", "DEBUG", "INFO", "WARN", "ERROR"}
    assert all(e["source"] == "call" and e["requestId"] for e in entries)


def test_function_and_level_filters(logs_server: LogsServer) -> None:
    t = tag()
    key = logs_server.server.admin_key
    call(logs_server.url, key, "query", "chatty:levels", {"tag": t})
    call(logs_server.url, key, "mutation", "chatty:note", {"tag": t})

    only_note = [
        e for e in json_lines(logs_server, "--function", "chatty:note") if t in e["message"]
    ]
    assert [e["message"] for e in only_note] == [f"noted {t}"]
    module = json_lines(logs_server, "--function", "chatty")
    assert {e["path"] for e in module if t in e["message"]} == {"chatty:levels", "chatty:note"}
    assert json_lines(logs_server, "--function", "nothere:fn") == []

    warn_up = [e for e in json_lines(logs_server, "--level", "warn") if t in e["message"]]
    assert [e["level"] for e in warn_up] == ["WARN", "ERROR"]
    text = logs_server.cli("--level", "error", "--function", "chatty:levels").stdout
    assert [line.split("] ", 1)[1] for line in text.splitlines() if t in line] == [
        f"ERROR error {t}"
    ]
    tail = json_lines(logs_server, "--tail", "1")
    assert len(tail) == 1 and tail[0]["message"] == f"noted {t}"
    assert [e for e in json_lines(logs_server, "--since", "1d") if t in e["message"]]
    future = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 3600))
    assert json_lines(logs_server, "--since", future) == []
    bad = logs_server.cli("--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_follow_shows_a_line_emitted_after_it_started(logs_server: LogsServer) -> None:
    t = tag()
    with subprocess.Popen(
        logs_server.command("--follow", "--function", "chatty:note"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=base_env(),
        cwd=logs_server.base,
    ) as process:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
        reader.start()
        try:
            time.sleep(1.0)  # let it read what is kept and start waiting
            key = logs_server.server.admin_key
            call(logs_server.url, key, "mutation", "chatty:note", {"tag": t})
            deadline = time.monotonic() + 20
            seen = ""
            while t not in seen:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no line for {t} from livebase logs --follow"
                seen = lines.get(timeout=remaining)
            assert f"[mutation chatty:note] LOG noted {t}" in seen
            assert process.poll() is None  # still following
        finally:
            process.terminate()
            process.wait(timeout=10)
            reader.join(timeout=10)


def test_an_action_in_a_worker_process_and_its_failure(logs_server: LogsServer) -> None:
    t = tag()
    key = logs_server.server.admin_key
    assert call(logs_server.url, key, "action", "chatty:worker", {"tag": t}) == "done"
    assert post(logs_server, "action", "chatty:worker_fails", {"tag": t})["status"] == "error"
    entries = [e for e in json_lines(logs_server, "--function", "chatty") if t in e["message"]]
    assert [(e["path"], e["kind"], e["level"], e["message"]) for e in entries] == [
        ("chatty:worker", "action", "LOG", f"from the worker {t}"),
        ("chatty:worker", "action", "WARN", f"worker warns {t}"),
        ("chatty:worker_fails", "action", "ERROR", entries[-1]["message"]),
    ]
    assert f"RuntimeError: worker failed {t}" in entries[-1]["message"]
    assert entries[-1]["failure"] is True


def test_a_scheduled_call_says_so(logs_server: LogsServer) -> None:
    t = tag()
    call(logs_server.url, logs_server.server.admin_key, "mutation", "chatty:later", {"tag": t})
    deadline = time.monotonic() + 20
    while not (found := [e for e in json_lines(logs_server) if t in e["message"]]):
        assert time.monotonic() < deadline, "the scheduled mutation's line never came"
        time.sleep(0.2)
    assert [(e["path"], e["source"]) for e in found] == [("chatty:note", "scheduled")]
    text = logs_server.cli("--function", "chatty:note").stdout
    assert f"[mutation chatty:note (scheduled)] LOG noted {t}" in text


def test_the_admin_key_is_required(logs_server: LogsServer) -> None:
    url = f"{logs_server.url}/api/admin/logs"
    assert httpx.get(url, timeout=30).status_code == 401
    wrong = httpx.get(url, headers={"authorization": "Convex nope"}, timeout=30)
    assert wrong.status_code == 401 and wrong.json()["code"] == "Unauthenticated"
    done = logs_server.cli("--admin-key", "not-the-key", key=False)
    assert done.returncode == 1 and "Unauthenticated" in done.stderr
    good = httpx.get(
        url, headers={"authorization": admin_authorization(logs_server.server.admin_key)}
    )
    assert good.status_code == 200 and {"entries", "cursor"} <= set(good.json())


def test_quiet_calls_add_nothing(logs_server: LogsServer) -> None:
    headers = {"authorization": admin_authorization(logs_server.server.admin_key)}
    url = f"{logs_server.url}/api/admin/logs"
    before = httpx.get(url, headers=headers, timeout=30).json()["cursor"]
    for _ in range(3):
        call(logs_server.url, logs_server.server.admin_key, "query", "chatty:quiet", {})
    answer = httpx.get(url, params={"after": before}, headers=headers, timeout=30).json()
    assert answer["entries"] == [] and answer["cursor"] == before


def test_the_bound_drops_the_oldest(tmp_path: Path) -> None:
    env = base_env(LIVEBASE_LOG_ENTRIES="4")
    with LivebaseServer.launch(tmp_path, app=app_dir(tmp_path), env=env) as server:
        for i in range(3):
            call(server.url, server.admin_key, "mutation", "chatty:note", {"tag": f"n{i}"})
            call(server.url, server.admin_key, "query", "chatty:levels", {"tag": f"q{i}"})
        headers = {"authorization": admin_authorization(server.admin_key)}
        answer = httpx.get(f"{server.url}/api/admin/logs", headers=headers, timeout=30).json()
    assert answer["capacity"] == 4
    assert [e["message"] for e in answer["entries"]] == [
        "debug q2",
        "info q2",
        "warn q2",
        "error q2",
    ]
    assert answer["oldest"] == answer["cursor"] - 3 == 3 * 6 - 3


def test_the_log_survives_a_restart_and_its_numbers_go_on(tmp_path: Path) -> None:
    """What ``livebase logs`` shows after a restart: the lines from before it (read back from
    ``<data>/logs``), then new ones numbered after them."""
    headers = {"authorization": ""}
    with LivebaseServer.launch(tmp_path, app=app_dir(tmp_path)) as server:
        call(server.url, server.admin_key, "query", "chatty:levels", {"tag": "before"})
        headers["authorization"] = admin_authorization(server.admin_key)
        before = httpx.get(f"{server.url}/api/admin/logs", headers=headers, timeout=30).json()
    assert [e["message"] for e in before["entries"]][-1] == "error before"

    with LivebaseServer.launch(tmp_path, app=app_dir(tmp_path)) as server:
        call(server.url, server.admin_key, "query", "chatty:levels", {"tag": "after"})
        after = httpx.get(f"{server.url}/api/admin/logs", headers=headers, timeout=30).json()
    messages = [e["message"] for e in after["entries"]]
    assert messages[: len(before["entries"])] == [e["message"] for e in before["entries"]]
    assert messages[-1] == "error after"
    cursors = [e["cursor"] for e in after["entries"]]
    assert cursors == sorted(set(cursors)) and cursors[-1] == after["cursor"]
    assert min(c for c, e in zip(cursors, after["entries"], strict=True)
               if e["message"].endswith("after")) > before["cursor"]  # fmt: skip
