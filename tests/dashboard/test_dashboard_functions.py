"""The dashboard's system functions against a real server (a copy of examples/chat plus
``app_extra``), through the public protocol with the admin key: a window of documents by index
range, field filter and sort; imports that are all-or-nothing per batch and name the bad line;
a log line leading to its call; log and health subscriptions pushed without polling; cron
history; stored files listed, downloaded and deleted."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import FunctionError, SyncClient
from tests.support.server import CHAT_APP, LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXTRA = Path(__file__).parent / "app_extra"
ADMIN_KEY = "dashboard-functions-admin-key"
D = "_system/dashboard"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("dash")
    app = base / "app"
    shutil.copytree(CHAT_APP, app, ignore=shutil.ignore_patterns(".livebase", "__pycache__"))
    for extra in EXTRA.glob("*.py"):
        shutil.copy(extra, app / extra.name)
    with LivebaseServer(app, data=base / "data", admin_key=ADMIN_KEY).start() as running:
        yield running


@pytest.fixture
def admin(server: LivebaseServer) -> Iterator[SyncClient]:
    with SyncClient(server.url) as client:
        client.set_admin_auth(ADMIN_KEY)
        yield client


def _wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _in_channel(channel: str, **options: Any) -> dict[str, Any]:
    """``page`` arguments: messages of ``channel`` by the ``by_channel`` index range."""
    where = [{"field": "channel", "op": "eq", "value": channel}]
    return {"table": "messages", "index": "by_channel", "range": where, **options}


def _page(admin: SyncClient, args: dict[str, Any]) -> dict[str, Any]:
    page = admin.query(f"{D}:page", args)
    assert isinstance(page, dict)
    return page


def test_page_is_a_window_with_index_range_filter_and_sort(admin: SyncClient) -> None:
    admin.mutation("dash:seed", {"channel": "win", "count": 300, "start": 0})
    admin.mutation("dash:seed", {"channel": "other", "count": 50, "start": 1000})
    page = _page(admin, _in_channel("win", order="asc", offset=100, limit=20))
    assert page["total"] == 300 and page["offset"] == 100 and not page["capped"]
    assert [d["body"] for d in page["documents"]] == [f"message {i:05d}" for i in range(100, 120)]

    filtered = _page(
        admin,
        _in_channel(
            "win", field="author", contains="USER3", sortField="body", sortOrder="desc", limit=5
        ),
    )
    assert filtered["total"] == len([i for i in range(300) if i % 7 == 3])
    assert [d["body"] for d in filtered["documents"]][:2] == ["message 00297", "message 00290"]

    # a plain window reads only up to its end and leaves the count to ``tables``
    plain = _page(admin, {"table": "messages", "order": "asc", "offset": 10, "limit": 5})
    assert plain["total"] is None
    assert [d["body"] for d in plain["documents"]] == [f"message {i:05d}" for i in range(10, 15)]

    # a subscription holds the window only, and follows writes to the range
    sub = admin.subscribe(f"{D}:page", _in_channel("win", limit=10))
    first = next(sub)
    assert isinstance(first, dict) and len(first["documents"]) == 10
    admin.mutation("messages:send", {"channel": "win", "body": "newest"})
    update = sub.next(timeout=15)
    assert isinstance(update, dict)
    assert update["total"] == 301 and update["documents"][0]["body"] == "newest"
    sub.close()


def test_page_errors_name_the_problem(admin: SyncClient) -> None:
    with pytest.raises(FunctionError, match="op is 'like'"):
        admin.query(
            f"{D}:page",
            {**_in_channel("x"), "range": [{"field": "channel", "op": "like", "value": 1}]},
        )
    with pytest.raises(FunctionError, match="no_such_index"):
        admin.query(f"{D}:page", {"table": "messages", "index": "no_such_index"})


def test_import_batches_are_atomic_and_name_the_bad_line(admin: SyncClient) -> None:
    assert _page(admin, _in_channel("imp"))["total"] == 0
    good = [{"channel": "imp", "body": f"row {i}"} for i in range(3)]
    result = admin.mutation(
        f"{D}:importDocuments", {"table": "messages", "documents": good, "firstLine": 2}
    )
    assert isinstance(result, dict) and result["inserted"] == 3
    bad = [{"channel": "imp", "body": "fine"}, {"channel": "imp", "body": 7}]
    with pytest.raises(FunctionError, match=r"line 11: .*body"):
        admin.mutation(
            f"{D}:importDocuments", {"table": "messages", "documents": bad, "firstLine": 10}
        )
    assert _page(admin, _in_channel("imp"))["total"] == 3  # nothing of the bad batch


def test_log_head_is_pushed_and_a_line_leads_to_its_call(admin: SyncClient) -> None:
    head = admin.subscribe(f"{D}:logHead", {})
    before = next(head)
    assert isinstance(before, dict)
    with pytest.raises(FunctionError):
        admin.mutation("dash:shout", {"text": "hello"})
    pushed = head.next(timeout=10)  # no polling: the new line re-ran the subscription
    assert isinstance(pushed, dict) and pushed["last"] > before["last"]
    head.close()
    page = admin.query(f"{D}:logs", {"after": before["last"]})
    assert isinstance(page, dict)
    line = next(e for e in page["entries"] if e["path"] == "dash:shout" and not e["failure"])
    assert line["message"] == "about to fail on hello"
    call = admin.query(f"{D}:call", {"requestId": line["requestId"]})
    assert isinstance(call, dict)
    assert call["path"] == "dash:shout" and call["kind"] == "mutation"
    assert call["outcome"] == "failure" and "cannot shout 'hello'" in call["error"]
    assert [x["message"] for x in call["lines"]] == ["about to fail on hello"]
    record = call["record"]  # the runner's record of the call, by the same request id
    assert record["args"] == '{"text": "hello"}' and record["caller"] == "admin"
    assert record["outcome"] == "failure" and record["result"] is None
    assert record["durationMs"] > 0
    assert admin.query(f"{D}:call", {"requestId": "no-such-request"}) is None


def test_a_call_keeps_its_arguments_result_and_timing(admin: SyncClient) -> None:
    head = admin.query(f"{D}:logHead", {})
    assert isinstance(head, dict)
    job = admin.mutation("dash:later", {"channel": "general", "body": "kept", "minutes": 90})
    page = admin.query(f"{D}:logs", {"after": head["last"]})
    assert isinstance(page, dict)
    line = next(e for e in page["entries"] if e["path"] == "dash:later")
    call = admin.query(f"{D}:call", {"requestId": line["requestId"]})
    assert isinstance(call, dict)
    record = call["record"]
    assert record["path"] == "dash:later" and record["kind"] == "mutation"
    assert '"body": "kept"' in record["args"] and '"minutes": 90' in record["args"]
    assert record["result"] == f'"{job}"' and record["outcome"] == "success"
    assert record["caller"] == "admin" and record["durationMs"] > 0


def test_health_is_pushed_every_second_while_watched(admin: SyncClient) -> None:
    sub = admin.subscribe(f"{D}:health", {})
    first = next(sub)
    second = sub.next(timeout=10)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert second["at"] > first["at"]
    assert "livebase_sync_connections" in second["figures"]
    sub.close()


def _cron_runs(admin: SyncClient) -> list[dict[str, Any]]:
    state = admin.query(f"{D}:schedules", {})
    assert isinstance(state, dict)
    runs: list[dict[str, Any]] = next(c for c in state["crons"] if c["name"] == "tidy up")[
        "history"
    ]
    return runs


def test_cron_history_and_files(server: LivebaseServer, admin: SyncClient) -> None:
    state = admin.query(f"{D}:schedules", {})
    assert isinstance(state, dict)
    cron = next(c for c in state["crons"] if c["name"] == "tidy up")
    assert cron["nextRunTime"] > time.time() * 1000
    # an interval cron runs once at start: its history has that run and its outcome
    _wait(lambda: _cron_runs(admin) != [])
    (run,) = _cron_runs(admin)
    assert run["state"]["kind"] == "success" and run["completedTime"] >= run["scheduledTime"]

    storage_id = admin.action("dash:store_note", {"text": "hello files"})
    listing = admin.query(f"{D}:files", {})
    assert isinstance(listing, dict)
    stored = next(f for f in listing["files"] if f["_id"] == storage_id)
    assert stored["size"] == len("hello files") and stored["contentType"] == "text/plain"
    assert httpx.get(stored["url"], timeout=10).text == "hello files"
    admin.mutation(f"{D}:deleteFile", {"id": storage_id})
    listing = admin.query(f"{D}:files", {})
    assert isinstance(listing, dict)
    assert storage_id not in {f["_id"] for f in listing["files"]}
    with SyncClient(server.url) as anonymous, pytest.raises(FunctionError):
        anonymous.query(f"{D}:files", {})
