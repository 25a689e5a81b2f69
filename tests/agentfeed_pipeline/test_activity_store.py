"""The ``ActivityStore`` conformance suite: the same tests against a ``livebase serve
apps/agentfeed`` on SQLite and one on the PostgreSQL server, through the Python client over the
sync WebSocket, signed in as the owner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentfeed.activity_store import ActivityFilter, ActivityStore, ActivityStoreError
from livebase.client import FunctionError, SyncClient
from tests.agentfeed.serving import wait_for
from tests.agentfeed_app.conftest import APP, KEY, add_owner, sign_in
from tests.agentfeed_app.payloads import hook
from tests.support.postgres import fresh_database_url
from tests.support.server import LivebaseServer, base_env

T0 = 1_790_000_000_000


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivebaseServer]:
    base: Path = tmp_path_factory.mktemp(f"store-{request.param}")
    env = base_env(AGENTFEED_HOME=str(base / "home"), AGENTFEED_KEY=KEY)
    if request.param == "sqlite":
        with LivebaseServer.launch(base, app=APP, env=env) as running:
            add_owner(running)
            yield running
        return
    with fresh_database_url("store") as url:
        with LivebaseServer.launch(base, app=APP, env=env, db=url) as running:
            add_owner(running)
            yield running


@pytest.fixture(scope="module")
def token(server: LivebaseServer) -> str:
    return sign_in(server.url)


def _stage() -> str:
    return f"stage-{uuid.uuid4().hex[:8]}"


def _activity(project: str, n: int, **extra: object) -> dict[str, object]:
    return {
        "source": "ci",
        "type": "build",
        "id": f"{project}-{n}",
        "summary": f"build {n}",
        "project": project,
        "timestamp": T0 + n * 1000,
        **extra,
    }


def test_insert_stores_once_and_says_why_it_refuses(server: LivebaseServer, token: str) -> None:
    project = f"/p/{uuid.uuid4().hex[:6]}"
    with ActivityStore(server.url, token=token) as store:
        first = store.insert(_activity(project, 1))
        assert (first.status, first.event_id) == ("stored", f"ci:{project}-1")
        assert store.insert(_activity(project, 1)).status == "duplicate"
        refused = store.insert({"source": "ci"})
        assert refused.status == "rejected"
        assert str(refused.reason).startswith("'type' must be a non-empty string")
        [stored] = store.query(ActivityFilter(project=project))
        assert stored["summary"] == "build 1" and stored["origin"] == "activity"


def test_a_stage_gets_each_new_event_until_marked(server: LivebaseServer, token: str) -> None:
    project = f"/p/{uuid.uuid4().hex[:6]}"
    with ActivityStore(server.url, token=token) as plain:
        plain.insert(_activity(project, 0))  # before the stage exists: not queued for it
    with ActivityStore(server.url, token=token, stage=_stage()) as store:
        for n in (1, 2, 3):
            store.insert(_activity(project, n))
        posted = hook("UserPromptSubmit", f"s-{project}", cwd=project, prompt="hello")
        response = httpx.post(
            f"{server.url}/event", json=posted, headers={"X-Agentfeed-Key": KEY}, timeout=30
        )
        assert response.status_code == 200, response.text
        queued = store.get_unprocessed()
        wanted = [f"ci:{project}-{n}" for n in (1, 2, 3)] + [posted["event_id"]]
        assert [a["event_id"] for a in queued] == wanted
        assert store.get_unprocessed(limit=2) == queued[:2]
        assert store.mark_processed(wanted[:2]) == 2
        assert store.mark_processed(wanted[:2]) == 0
        assert [a["event_id"] for a in store.get_unprocessed()] == wanted[2:]
        assert store.mark_processed(wanted[2:]) == 2
        assert store.get_unprocessed() == []


def test_query_filters(server: LivebaseServer, token: str) -> None:
    project = f"/p/{uuid.uuid4().hex[:6]}"
    with ActivityStore(server.url, token=token) as store:
        for n in range(1, 6):
            store.insert(_activity(project, n, type="build" if n % 2 else "deploy"))
        store.insert({**_activity(project, 9), "source": "cron", "id": "x"})

        def ids(where: ActivityFilter, **options: object) -> list[str]:
            found = store.query(where, **options)  # type: ignore[arg-type]
            return [a["summary"].removeprefix("build ") for a in found]

        assert ids(ActivityFilter(project=project)) == ["1", "2", "3", "4", "5", "9"]
        assert ids(ActivityFilter(project=project, type="deploy")) == ["2", "4"]
        assert ids(ActivityFilter(project=project, source="ci")) == ["1", "2", "3", "4", "5"]
        window = ActivityFilter(project=project, since=T0 + 2000, until=T0 + 4000)
        assert ids(window) == ["2", "3"]
        assert ids(ActivityFilter(project=project), order="desc", limit=2) == ["9", "5"]
        assert ids(ActivityFilter(type="deploy", since=T0 + 4000, until=T0 + 5000)) == ["4"]
        assert ids(ActivityFilter(project=project, source="cron")) == ["9"]


def test_bad_calls_are_named(server: LivebaseServer, token: str) -> None:
    with ActivityStore(server.url, token=token) as store:
        cases = [
            (lambda: store.get_unprocessed(stage="never-registered"), "UnknownStage"),
            (lambda: store.mark_processed(["x"], stage="sessions"), "ReservedStage"),
            (lambda: store.query(limit=0), "InvalidLimit"),
        ]
        for run, code in cases:
            with pytest.raises(ActivityStoreError) as failed:
                run()
            assert failed.value.code == code
        with pytest.raises(ActivityStoreError, match="stage 'Bad Stage!'"):
            ActivityStore(server.url, token=token, stage="Bad Stage!")
        with pytest.raises(ValueError, match="name a stage"):
            store.get_unprocessed()
    public = SyncClient(server.url)
    owner = SyncClient(server.url)
    owner.set_auth(token)
    try:
        assert public.query("pipeline:find", {"filter": {}}) == []  # the public sees no pipeline
        assert public.query("pipeline:unprocessed", {"stage": "sessions"}) == []
        with pytest.raises(FunctionError) as refused:
            public.mutation("pipeline:insert", {"activity": _activity("/p/x", 1)})
        assert isinstance(refused.value.data, dict) and refused.value.data["code"] == "Forbidden"
        with pytest.raises(FunctionError) as unknown:
            owner.query("pipeline:find", {"filter": {"colour": "red"}})
        assert "colour" in unknown.value.message
        with pytest.raises(FunctionError) as wrong_type:
            owner.query("pipeline:find", {"filter": {"since": "yesterday"}})
        assert "since" in wrong_type.value.message
    finally:
        public.close()
        owner.close()


def test_inserted_activity_reaches_the_sessions_worker(server: LivebaseServer, token: str) -> None:
    project = f"/p/{uuid.uuid4().hex[:6]}"
    with ActivityStore(server.url, token=token) as store:
        inserted = store.insert(_activity(project, 1, summary="deploy the refunds service"))
        owner = SyncClient(server.url)
        owner.set_auth(token)
        try:

            def grouped() -> list[dict[str, object]] | None:
                listed = owner.query("activity:sessions", {"limit": 100})["sessions"]
                mine = [s for s in listed if s["project"] == project]
                return mine or None

            [session] = wait_for(grouped, "the activity session of the inserted activity")
        finally:
            owner.close()
        assert session["event_count"] == 1
        waiting = store.get_unprocessed(stage="sessions", limit=1000)  # the worker's own queue
        assert inserted.event_id not in [a["event_id"] for a in waiting]


def test_an_unregistered_stage_gets_nothing_more(server: LivebaseServer, token: str) -> None:
    project = f"/p/{uuid.uuid4().hex[:6]}"
    with ActivityStore(server.url, token=token, stage=_stage()) as store:
        store.insert(_activity(project, 1))
        store.insert(_activity(project, 2))
        assert store.unregister() == 2
        store.insert(_activity(project, 3))
        with pytest.raises(ActivityStoreError) as gone:
            store.get_unprocessed()
        assert gone.value.code == "UnknownStage"
        assert store.unregister() == 0  # already gone: no error
        with pytest.raises(ActivityStoreError) as reserved:
            store.unregister(stage="sessions")
        assert reserved.value.code == "ReservedStage"
