"""``livebase.client.SyncClient``, the blocking wrapper, against a real server."""

from __future__ import annotations

import threading
import uuid

import pytest

from livebase.client import ConnectionClosedError, FunctionError, SyncClient

from .conftest import ChatServer, free_port

pytestmark = pytest.mark.e2e


def test_blocking_calls(chat_server: ChatServer) -> None:
    ch = f"ch-{uuid.uuid4().hex[:8]}"
    with SyncClient(chat_server.url) as c:
        assert c.query("messages:echo", {"value": {"n": 2**40, "b": b"\x01"}}) == {
            "n": 2**40,
            "b": b"\x01",
        }
        msg_id = c.mutation("messages:send", {"channel": ch, "body": "hi"}, timeout=10)
        assert isinstance(msg_id, str)
        assert c.action("actions:slow_sum", {"a": 1.0, "b": 2.0}) == 3.0
        with pytest.raises(FunctionError) as info:
            c.mutation("messages:send", {"channel": ch, "body": "  "})
        assert info.value.data == {"code": "EmptyMessage", "channel": ch}
        with pytest.raises(FunctionError):
            c.query("admin/users:message_total")
        c.set_admin_auth(chat_server.admin_key)
        assert isinstance(c.query("admin/users:message_total"), int)
    with pytest.raises(ConnectionClosedError):
        c.query("messages:count", {"channel": ch})
    c.close()  # idempotent


def test_blocking_subscribe_iterator(chat_server: ChatServer) -> None:
    ch = f"ch-{uuid.uuid4().hex[:8]}"
    with SyncClient(chat_server.url) as watcher, SyncClient(chat_server.url) as writer:
        sub = watcher.subscribe("messages:count", {"channel": ch})
        assert next(sub) == 0

        def write() -> None:
            writer.mutation("messages:send", {"channel": ch, "body": "a"})

        thread = threading.Thread(target=write)
        thread.start()
        assert sub.next(timeout=10) == 1
        thread.join()
        # Read your writes through the blocking wrapper too.
        watcher.mutation("messages:send", {"channel": ch, "body": "b"})
        assert sub.latest == 2

        seen = []
        for count in sub:
            seen.append(count)
            break
        assert seen == [2]
        sub.close()
        with pytest.raises(StopIteration):
            next(sub)
        assert watcher.client._state.query_count == 0

        with watcher.subscribe("messages:count", {"channel": ch}) as again:
            assert next(again) == 2


def test_blocking_timeout() -> None:
    with SyncClient(f"http://127.0.0.1:{free_port()}") as c:
        with pytest.raises(TimeoutError):
            c.query("messages:count", {"channel": "x"}, timeout=0.2)
        sub = c.subscribe("messages:count", {"channel": "x"})
        with pytest.raises(TimeoutError):
            sub.next(timeout=0.2)
