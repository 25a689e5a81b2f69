"""A subscribed search re-runs when a write could change its results (a document in its filter
values holding one of its terms, or a term its prefix starts, before or after the write), and
only then: through the subscription manager of a real deployment (the test kit)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livebase.testing import AppHarness
from tests.search.app import write_search_app


@pytest.fixture
def app(make_livebase_app: Callable[..., AppHarness], tmp_path: Path) -> AppHarness:
    return make_livebase_app(write_search_app(tmp_path))


def test_a_matching_insert_reruns_the_search(app: AppHarness) -> None:
    sub = app.subscribe("messages:search", {"channel": "general", "text": "deploy fail"})
    assert sub.value == []
    app.mutation("messages:send", {"channel": "general", "body": "the deploy went fine"})
    assert sub.value == ["the deploy went fine"] and sub.reruns == 1
    # The last term is a prefix: "failed" and "failure" match "fail".
    app.mutation("messages:send", {"channel": "general", "body": "build failed"})
    assert sub.reruns == 2 and "build failed" in sub.value


def test_unrelated_writes_do_not_rerun_it(app: AppHarness) -> None:
    sub = app.subscribe("messages:search", {"channel": "general", "text": "deploy fail"})
    assert sub.value == []
    app.mutation("messages:send", {"channel": "general", "body": "lunch at noon"})
    app.mutation("messages:send", {"channel": "random", "body": "deploy failed elsewhere"})
    app.mutation("messages:send", {"channel": "general", "body": "fai is not a prefix match"})
    app.mutation("messages:note", {"body": "deploy failed in another table"})
    assert sub.value == [] and sub.reruns == 0


def test_edits_rerun_it_both_ways(app: AppHarness) -> None:
    doc_id = app.mutation("messages:send", {"channel": "general", "body": "deploy done"})
    other = app.mutation("messages:send", {"channel": "general", "body": "unrelated"})
    sub = app.subscribe("messages:search", {"channel": "general", "text": "deploy"})
    assert sub.value == ["deploy done"]
    app.mutation("messages:edit", {"id": doc_id, "body": "renamed"})  # leaves the results
    assert sub.value == [] and sub.reruns == 1
    app.mutation("messages:edit", {"id": other, "body": "deploy now"})  # joins them
    assert sub.value == ["deploy now"] and sub.reruns == 2
    app.mutation("messages:edit", {"id": doc_id, "body": "still unrelated"})
    assert sub.reruns == 2
