"""``examples/streaming`` against a real ``livebase serve``: built-in accounts signed in with
real tokens, two (or three) users and an anonymous visitor. Per-user watch progress and
"continue watching", chat with the sender's current display name, presence with heartbeats and
expiry, the editorial workflow with its audit log, and per-user subscriptions that never see
another user's data. The presence cron itself runs on a fake clock, in process.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client, FunctionError, SyncClient
from livebase.client.sync import SyncSubscription
from livebase.config import Settings
from livebase.functions.loader import unload
from livebase.runtime import FakeRuntime
from livebase.scheduler.jobs import CRON_JOBS
from livebase.server import Deployment
from tests.support.calls import call
from tests.support.server import REPO_ROOT, LivebaseServer
from tests.support.signed_in import add_account, password_sign_in

pytestmark = pytest.mark.timeout(180)

APP = REPO_ROOT / "examples" / "streaming"
ADMIN = "lb_admin_streaming_example_0123456789"
PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


@dataclass
class Person:
    email: str
    token: str
    user: str
    """The ``tokenIdentifier``: what roles are granted to and per-user rows are keyed by."""
    public_id: str


@dataclass
class World:
    server: LivebaseServer

    def call(self, kind: str, path: str, args: dict[str, Any], who: Person | None = None) -> Any:
        """``POST /api/<kind>`` as ``who`` (anonymous when None): the JSON body of a call that
        ran (HTTP 200)."""
        headers = {} if who is None else {"authorization": f"Bearer {who.token}"}
        response = httpx.post(
            f"{self.server.url}/api/{kind}",
            json={"path": path, "args": args, "format": "json"},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, kind: str, path: str, args: dict[str, Any], who: Person | None = None) -> Any:
        body = self.call(kind, path, args, who)
        assert body["status"] == "success", body
        return body["value"]

    def refused(
        self, kind: str, path: str, args: dict[str, Any], who: Person | None = None
    ) -> dict[str, Any]:
        """The ``errorData`` of a call the app refuses with an ``AppError``."""
        body = self.call(kind, path, args, who)
        assert body["status"] == "error" and "errorData" in body, body
        return dict(body["errorData"])

    def admin(self, kind: str, path: str, args: dict[str, Any]) -> Any:
        return call(self.server.url, ADMIN, kind, path, args)

    def person(self, name: str, *, cli: bool = False, role: str | None = None) -> Person:
        """A new built-in account (with ``livebase users add`` when ``cli``, else the admin API),
        signed in at ``POST /auth/token``; ``role`` granted by the admin."""
        email = f"{name}.{next(_numbers)}@example.com"
        if cli:
            added = subprocess.run(
                [sys.executable, "-m", "livebase", "users", "add", email, "--password-stdin",
                 "--url", self.server.url, "--admin-key", ADMIN],
                input=PASSWORD, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
        else:
            add_account(self.server.url, ADMIN, email, PASSWORD)
        token = password_sign_in(self.server.url, email, PASSWORD)
        me = self.ok("query", "profiles:me", {}, Person(email, token, "", ""))
        assert me["email"] == email and me["role"] == "viewer"
        person = Person(email, token, me["user"], me["publicId"])
        if role is not None:
            self.admin("mutation", "roles:set_role", {"user": person.user, "role": role})
        return person

    def client(self, who: Person | None = None) -> SyncClient:
        client = SyncClient(self.server.url)
        if who is not None:
            client.set_auth(who.token)
        return client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("streaming")
    with LivebaseServer.launch(base, app=APP, admin_key=ADMIN) as server:
        yield World(server)


def wait_for(
    sub: SyncSubscription, done: Callable[[Any], bool], what: str, timeout: float = 30.0
) -> list[Any]:
    """Every result ``sub`` yields until one satisfies ``done`` (that one last)."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            value = sub.next(timeout=max(remaining, 0.001))
        except TimeoutError:
            pytest.fail(f"no result with {what} within {timeout} s; saw {seen}")
        seen.append(value)
        if done(value):
            return seen


def videos(rows: list[dict[str, Any]]) -> list[str]:
    return [row["videoId"] for row in rows]


@pytest.mark.e2e
def test_progress_is_per_user_and_continue_watching_is_newest_first(world: World) -> None:
    ann, bob = world.person("ann"), world.person("bob")

    def save(who: Person, video: str, position: float, duration: float = 100.0) -> Any:
        args = {"videoId": video, "positionSeconds": position, "durationSeconds": duration}
        return world.ok("mutation", "progress:save", args, who)

    save(ann, "final", 10.0)
    save(ann, "semi", 50.0)
    assert save(ann, "derby", 99.0)["finished"] is True  # past 95 %: finished
    save(ann, "final", 20.0)  # the same row again, now the most recent
    save(bob, "semi", 5.0)
    mine = world.ok("query", "progress:continue_watching", {}, ann)
    assert videos(mine) == ["final", "semi"]
    assert [r["positionSeconds"] for r in mine] == [20.0, 50.0]
    assert mine[0]["updatedAt"] > mine[1]["updatedAt"]
    theirs = world.ok("query", "progress:continue_watching", {}, bob)
    assert videos(theirs) == ["semi"] and theirs[0]["positionSeconds"] == 5.0
    assert world.ok("query", "progress:get", {"videoId": "final"}, bob) is None
    assert world.ok("query", "progress:get", {"videoId": "semi"}, ann)["positionSeconds"] == 50.0

    # Re-watching a finished video brings it back, first; a position past the end is the end.
    save(ann, "derby", 3.0)
    assert videos(world.ok("query", "progress:continue_watching", {}, ann)) == [
        "derby", "final", "semi",
    ]  # fmt: skip
    clamped = save(ann, "final", 500.0)
    assert (clamped["positionSeconds"], clamped["finished"]) == (100.0, True)
    assert videos(world.ok("query", "progress:continue_watching", {"limit": 1.0}, ann)) == ["derby"]

    bad = {"videoId": "x", "positionSeconds": 1.0, "durationSeconds": 0.0}
    assert world.refused("mutation", "progress:save", bad, ann)["code"] == "InvalidArgument"
    bad = {"videoId": "", "positionSeconds": 1.0, "durationSeconds": 10.0}
    assert world.refused("mutation", "progress:save", bad, ann)["code"] == "InvalidArgument"
    anonymous = world.refused("query", "progress:continue_watching", {})
    assert anonymous == {
        "code": "SignInRequired", "message": "sign in to see what you were watching"
    }  # fmt: skip
    saved = {"videoId": "x", "positionSeconds": 1.0, "durationSeconds": 10.0}
    assert world.refused("mutation", "progress:save", saved)["code"] == "SignInRequired"


@pytest.mark.e2e
def test_chat_shows_each_senders_current_display_name(world: World) -> None:
    ann, bob = world.person("ann", cli=True), world.person("bob")
    game = "chat-names"
    assert world.ok("mutation", "profiles:set_name", {"name": "  Ann  "}, ann) == "Ann"
    world.ok("mutation", "profiles:set_name", {"name": "Bob"}, bob)
    page = {"numItems": 10.0, "cursor": None}

    with world.client() as visitor:  # anonymous: reads the chat live
        sub = visitor.subscribe("chat:list", {"gameId": game, "paginationOpts": page})
        wait_for(sub, lambda r: r["page"] == [], "the empty chat")
        world.ok("mutation", "chat:send", {"gameId": game, "body": "  kick-off!  "}, ann)
        world.ok("mutation", "chat:send", {"gameId": game, "body": "here we go"}, bob)
        world.ok("mutation", "chat:send", {"gameId": game, "body": "what a pass"}, ann)
        latest = wait_for(sub, lambda r: len(r["page"]) == 3, "three messages")[-1]
        assert [(m["authorName"], m["body"]) for m in latest["page"]] == [
            ("Ann", "what a pass"), ("Bob", "here we go"), ("Ann", "kick-off!"),
        ]  # fmt: skip
        ids = [ann.public_id, bob.public_id, ann.public_id]
        assert [m["authorId"] for m in latest["page"]] == ids

        # A rename shows on every earlier message at once: the name is joined when read.
        world.ok("mutation", "profiles:set_name", {"name": "Ann the Fan"}, ann)
        renamed = wait_for(
            sub, lambda r: r["page"][0]["authorName"] == "Ann the Fan", "Ann's new name"
        )[-1]
        assert [m["authorName"] for m in renamed["page"]] == ["Ann the Fan", "Bob", "Ann the Fan"]
        sub.close()

    # No profile yet: a neutral name, never the email.
    cal = world.person("cal")
    world.ok("mutation", "chat:send", {"gameId": game, "body": "hi all"}, cal)
    newest = world.ok("query", "chat:list", {"gameId": game, "paginationOpts": page})["page"][0]
    assert newest["authorName"] == f"Viewer {cal.public_id[:6]}"
    assert "cal." not in str(newest)

    # Pages of two, newest first, cover the whole chat once.
    bodies, cursor, done = [], None, False
    while not done:
        opts = {"numItems": 2.0, "cursor": cursor}
        got = world.ok("query", "chat:list", {"gameId": game, "paginationOpts": opts})
        bodies += [m["body"] for m in got["page"]]
        cursor, done = got["continueCursor"], got["isDone"]
    assert bodies == ["hi all", "what a pass", "here we go", "kick-off!"]

    # Length limits, and a blank message.
    assert world.refused("mutation", "chat:send", {"gameId": game, "body": "  \n "}, ann) == {
        "code": "EmptyMessage", "message": "a message cannot be empty",
    }  # fmt: skip
    too_long = world.refused("mutation", "chat:send", {"gameId": game, "body": "x" * 501}, ann)
    assert too_long["code"] == "MessageTooLong" and too_long["limit"] == 500
    world.ok("mutation", "chat:send", {"gameId": game, "body": " " + "x" * 500 + " "}, ann)
    for bad_name in ("", "   ", "x" * 33, "tab\there"):
        refused = world.refused("mutation", "profiles:set_name", {"name": bad_name}, ann)
        assert refused["code"] == "InvalidName"


@pytest.mark.e2e
def test_anonymous_visitors_read_but_cannot_send(world: World) -> None:
    ann = world.person("ann")
    game = "anonymous-reads"
    world.ok("mutation", "chat:send", {"gameId": game, "body": "from ann"}, ann)
    page = {"numItems": 5.0, "cursor": None}
    with world.client() as visitor:
        got = visitor.query("chat:list", {"gameId": game, "paginationOpts": page}, timeout=30)
        assert [m["body"] for m in got["page"]] == ["from ann"]
        assert visitor.query("profiles:me", {}, timeout=30) is None
        with pytest.raises(FunctionError) as refused:
            visitor.mutation("chat:send", {"gameId": game, "body": "me too"}, timeout=30)
        assert refused.value.data == {"code": "SignInRequired", "message": "sign in to chat"}
        with pytest.raises(FunctionError) as refused:
            visitor.mutation("presence:heartbeat", {"gameId": game}, timeout=30)
        assert refused.value.data["code"] == "SignInRequired"
        with pytest.raises(FunctionError) as refused:
            visitor.mutation("profiles:set_name", {"name": "Sneaky"}, timeout=30)
        assert refused.value.data["code"] == "SignInRequired"
    got = world.ok("query", "chat:list", {"gameId": game, "paginationOpts": page})
    assert [m["body"] for m in got["page"]] == ["from ann"]
    # Roles are the admin's: clients cannot reach the internal mutation, signed in or not.
    for who in (None, ann):
        headers = {} if who is None else {"authorization": f"Bearer {who.token}"}
        body = {"path": "roles:set_role", "args": {"user": ann.user, "role": "editor"}}
        response = httpx.post(f"{world.server.url}/api/mutation", json=body, headers=headers)
        assert response.status_code == 404 and response.json()["code"] == "FunctionNotFound"
    assert world.ok("query", "profiles:me", {}, ann)["role"] == "viewer"


@pytest.mark.e2e
def test_presence_rises_with_heartbeats_and_falls_when_stale_rows_expire(world: World) -> None:
    ann, bob = world.person("ann"), world.person("bob")
    game, other = "presence-game", "presence-other"
    with world.client() as visitor:
        sub = visitor.subscribe("presence:viewers", {"gameId": game})
        wait_for(sub, lambda n: n == 0, "no viewers")
        world.ok("mutation", "presence:heartbeat", {"gameId": game}, ann)
        wait_for(sub, lambda n: n == 1, "one viewer")
        bob_seen = world.ok("mutation", "presence:heartbeat", {"gameId": game}, bob)
        wait_for(sub, lambda n: n == 2, "two viewers")
        world.ok("mutation", "presence:heartbeat", {"gameId": other}, bob)
        ann_seen = world.ok("mutation", "presence:heartbeat", {"gameId": game}, ann)
        assert world.ok("query", "presence:viewers", {"gameId": game}) == 2  # one row per user
        assert world.ok("query", "presence:viewers", {"gameId": other}) == 1
        assert bob_seen < ann_seen

        # What the cron does, with a cut-off after bob's heartbeats and at ann's last one:
        # bob's rows (in both games) are stale.
        assert world.admin("mutation", "presence:expire", {"seenBefore": ann_seen}) == 2
        wait_for(sub, lambda n: n == 1, "bob expired")
        # The cron's own call (no argument: 45 s ago) keeps fresh rows.
        assert world.admin("mutation", "presence:expire", {}) == 0
        assert world.ok("query", "presence:viewers", {"gameId": game}) == 1
        assert world.ok("query", "presence:viewers", {"gameId": other}) == 0

        world.ok("mutation", "presence:leave", {"gameId": game}, ann)
        wait_for(sub, lambda n: n == 0, "ann left")
        sub.close()


def test_the_cron_expires_presence_every_minute_on_a_fake_clock(tmp_path: Path) -> None:
    """The real crons.py, on an in-process deployment whose clock the test moves."""
    clock = FakeRuntime()
    deployment = Deployment(
        APP, tmp_path / "data", durability="normal", settings=Settings(), runtime=clock
    )
    deployment.open()
    runner = deployment.runner

    def identity(subject: str) -> dict[str, Any]:
        issuer = "https://issuer.test"
        return {"tokenIdentifier": f"{issuer}|{subject}", "subject": subject, "issuer": issuer}

    async def heartbeat(subject: str) -> None:
        args = {"gameId": "g"}
        result = await runner.run_mutation("presence:heartbeat", args, identity=identity(subject))
        assert result.error is None, result.error

    def viewers() -> int:
        result = runner.run_query("presence:viewers", {"gameId": "g"})
        assert result.error is None, result.error
        return int(result.value)

    def presence() -> list[str]:
        docs, _ = deployment.engine.read(lambda tx: tx.query("presence").collect())
        return sorted(doc["user"].split("|")[1] for doc in docs)

    async def main() -> None:
        assert await deployment.worker.run_due() == 1  # an interval cron first runs at deploy
        await heartbeat("ann")
        clock.advance(30)
        await heartbeat("bob")
        assert viewers() == 2
        clock.advance(31)  # the cron is due: ann was seen 61 s ago, bob 31 s ago
        assert await deployment.worker.run_due() == 1
        assert presence() == ["bob"] and viewers() == 1
        clock.advance(60)  # bob is 91 s old now
        assert await deployment.worker.run_due() == 1
        assert presence() == [] and viewers() == 0

    try:
        asyncio.run(main())
        rows, _ = deployment.engine.read(lambda tx: tx.query(CRON_JOBS).collect())
        assert [(r["name"], r["function"]) for r in rows] == [
            ("expire stale presence", "presence:expire")
        ]
    finally:
        deployment.close()
        unload(deployment.app)


def pick(data: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(data[key] for key in keys)


def audit_steps(content: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(a["action"], a["from"], a["to"], a["by"]) for a in content["audit"]]


@pytest.mark.e2e
def test_the_content_workflow_and_its_audit_log(world: World) -> None:
    ann = world.person("ann", role="editor")  # writes
    eve = world.person("eve", role="editor")  # reviews
    bob = world.person("bob")  # a viewer

    def step(action: str, id: str, who: Person, **extra: Any) -> dict[str, Any]:
        return dict(world.ok("mutation", f"content:{action}", {"id": id, **extra}, who))

    def refused(action: str, id: str, who: Person | None) -> dict[str, Any]:
        return world.refused("mutation", f"content:{action}", {"id": id}, who)

    new = {"title": "Match report", "body": "A late winner."}
    assert world.refused("mutation", "content:create", new, bob) == {
        "code": "Forbidden", "message": "only editors can create content (you are a viewer)",
        "role": "viewer",
    }  # fmt: skip
    assert world.refused("mutation", "content:create", new)["code"] == "SignInRequired"
    id = world.ok("mutation", "content:create", new, ann)

    with world.client(ann) as editor:
        # Every state the editor's page ever shows has the log ending where the content is.
        sub = editor.subscribe("content:get", {"id": id})
        seen = wait_for(sub, lambda r: r["content"]["state"] == "draft", "the draft")

        assert refused("publish", id, ann) == {
            "code": "InvalidTransition",
            "message": "cannot publish content that is in 'draft': "
            "publish moves 'review' to 'published'",
            "action": "publish", "current": "draft", "wanted": "published",
        }  # fmt: skip
        assert refused("approve", id, eve)["current"] == "draft"
        assert step("submit", id, ann)["state"] == "review"
        again = refused("submit", id, ann)
        assert pick(again, "code", "current", "wanted") == ("InvalidTransition", "review", "review")
        assert refused("publish", id, ann)["code"] == "NotApproved"
        assert refused("approve", id, ann)["code"] == "OwnContent"
        assert refused("approve", id, bob)["code"] == "Forbidden"
        rejected = step("reject", id, eve, note=" add the second goal ")
        assert rejected["state"] == "draft" and "approvedBy" not in rejected
        step("submit", id, ann)
        assert step("approve", id, eve)["approvedBy"] == eve.user
        published = step("publish", id, ann)
        assert published["state"] == "published" and published["publishedAt"] > 0
        assert refused("publish", id, ann)["current"] == "published"
        late = refused("reject", id, eve)
        assert pick(late, "current", "wanted") == ("published", "draft")

        seen += wait_for(sub, lambda r: r["content"]["state"] == "published", "published")
        sub.close()
    for view in seen:
        last = view["audit"][-1]
        assert view["content"]["state"] == last["to"]
        assert view["content"]["updatedAt"] == last["at"]

    final = world.ok("query", "content:get", {"id": id}, eve)
    # Exactly one row per step made; none for the eight refused ones.
    assert audit_steps(final) == [
        ("create", None, "draft", ann.user),
        ("submit", "draft", "review", ann.user),
        ("reject", "review", "draft", eve.user),
        ("submit", "draft", "review", ann.user),
        ("approve", "review", "review", eve.user),
        ("publish", "review", "published", ann.user),
    ]
    assert final["audit"][2]["note"] == "add the second goal"
    times = [a["at"] for a in final["audit"]]
    assert times == sorted(times) and times[-1] == final["content"]["publishedAt"]

    # Published content is public; drafts and the log are for editors.
    for who in (None, bob):
        public = world.ok("query", "content:published", {}, who)
        assert {"_id": id, "title": "Match report"}.items() <= public[0].items()
    assert world.refused("query", "content:get", {"id": id}, bob)["code"] == "Forbidden"
    assert world.refused("query", "content:get", {"id": id})["code"] == "SignInRequired"
    queue = world.ok("query", "content:queue", {"state": "review"}, eve)
    assert id not in [row["_id"] for row in queue]
    missing = world.refused("mutation", "content:submit", {"id": "nope"}, ann)
    assert missing["code"] == "NotFound"


@pytest.mark.e2e
def test_racing_transitions_one_wins_and_only_it_is_audited(world: World) -> None:
    """Two tabs of the same editor submit the same drafts at once: each draft moves once, the
    loser is told the state it found, and the log has one submit per draft."""
    ann = world.person("ann", role="editor")
    ids = [
        world.ok("mutation", "content:create", {"title": f"Piece {n}", "body": ""}, ann)
        for n in range(5)
    ]

    async def race() -> list[Any]:
        async with Client(world.server.url) as one, Client(world.server.url) as two:
            one.set_auth(ann.token)
            two.set_auth(ann.token)
            calls = [tab.mutation("content:submit", {"id": id}) for id in ids for tab in (one, two)]
            return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(race())
    pairs = [outcomes[n : n + 2] for n in range(0, len(outcomes), 2)]
    for id, pair in zip(ids, pairs, strict=True):
        won = [o for o in pair if isinstance(o, dict)]
        lost = [o for o in pair if isinstance(o, FunctionError)]
        assert len(won) == 1 and len(lost) == 1, pair
        assert lost[0].data["code"] == "InvalidTransition"
        assert lost[0].data["current"] == "review"
        log = world.ok("query", "content:get", {"id": id}, ann)
        assert [a["action"] for a in log["audit"]] == ["create", "submit"]


@pytest.mark.e2e
def test_two_users_on_the_same_per_user_query_each_see_their_own(world: World) -> None:
    """Same function, same arguments, two identities: two results. A write by one changes only
    that user's result (the other's subscription never shows it)."""
    ann, bob = world.person("ann"), world.person("bob")

    def save(who: Person, video: str, position: float) -> None:
        args = {"videoId": video, "positionSeconds": position, "durationSeconds": 600.0}
        world.ok("mutation", "progress:save", args, who)

    with world.client(ann) as ann_client, world.client(bob) as bob_client:
        ann_sub = ann_client.subscribe("progress:continue_watching", {})
        bob_sub = bob_client.subscribe("progress:continue_watching", {})
        ann_seen = wait_for(ann_sub, lambda r: r == [], "ann's empty row")
        bob_seen = wait_for(bob_sub, lambda r: r == [], "bob's empty row")
        me = {"ann": ann_client.query("profiles:me", {}), "bob": bob_client.query("profiles:me")}
        assert me["ann"]["email"] == ann.email and me["bob"]["email"] == bob.email

        save(ann, "ann-1", 60.0)
        ann_seen += wait_for(ann_sub, lambda r: videos(r) == ["ann-1"], "ann's save")
        # bob's own write comes after ann's: by the time bob's result shows it, any effect of
        # ann's write on bob's result would have been pushed too.
        save(bob, "bob-1", 30.0)
        bob_seen += wait_for(bob_sub, lambda r: videos(r) == ["bob-1"], "bob's save")
        save(ann, "ann-2", 90.0)
        ann_seen += wait_for(ann_sub, lambda r: videos(r) == ["ann-2", "ann-1"], "ann's 2nd")
        save(bob, "bob-1", 45.0)
        bob_seen += wait_for(
            bob_sub, lambda r: r and r[0]["positionSeconds"] == 45.0, "bob's update"
        )
        assert all(v.startswith("ann-") for r in ann_seen for v in videos(r))
        assert all(v.startswith("bob-") for r in bob_seen for v in videos(r))
        assert videos(bob_sub.latest) == ["bob-1"]
        assert videos(ann_sub.latest) == ["ann-2", "ann-1"]
        # The mutation's caller sees their own write when it resolves (read your writes).
        ann_client.mutation(
            "progress:save",
            {"videoId": "ann-3", "positionSeconds": 1.0, "durationSeconds": 600.0},
        )
        assert videos(ann_sub.latest) == ["ann-3", "ann-2", "ann-1"]
        assert videos(bob_sub.latest) == ["bob-1"]
        ann_sub.close()
        bob_sub.close()
