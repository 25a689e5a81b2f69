"""A test cannot leak state into the next: each gets a fresh database, its own clock and
scheduler, and the app's modules are unloaded afterwards. The tests run in file order."""

from __future__ import annotations

import sys

from livebase.testing import AppHarness
from livebase.testing.harness import DEFAULT_START_MS

_first: dict[str, object] = {}


def test_first_leaves_a_mess(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("messages:send", {"channel": "c", "body": "left behind"})
    t.mutation("notes:remind", {"text": "pending forever", "seconds": 3600})
    t.subscribe("messages:list", {"channel": "c"})
    t.advance(minutes=5)
    _first.update(package=t.deployment.app.package, data=t.deployment.data_dir)
    assert t.table("ticks") != []


def test_second_starts_clean(livebase_app: AppHarness) -> None:
    t = livebase_app
    assert _first, "runs after test_first_leaves_a_mess"
    assert t.deployment.data_dir != _first["data"]
    assert t.now_ms == DEFAULT_START_MS
    assert t.query("messages:list", {"channel": "c"}) == []
    assert t.table("ticks") == [] and t.scheduled() == []
    assert t.deployment.sync.manager.subscriptions == 0
    package = _first["package"]
    assert isinstance(package, str)
    assert not [m for m in sys.modules if m == package or m.startswith(package + ".")]
    assert t.advance() == 1  # the cron starts afresh with this app
