"""``examples/agent-manager`` with the test kit (``livebase.testing``): dependencies, blocking
and the cycle check, the audit trail, webhook processing with retries and backoff on the fake
clock, redelivery, the crons and identity. The HTTP route (signature, 202, redelivery) runs
against a real ``livebase serve``: the kit cannot call HTTP routes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from livebase import AppError
from livebase.errors import FunctionNotFoundError
from tests.support.server import REPO_ROOT, LivebaseServer, base_env
from tests.support.signed_in import add_account, password_sign_in

if TYPE_CHECKING:  # imported for real, livebase.testing could no longer be a plugin here
    from livebase.testing import AppHarness, Caller

pytest_plugins = ["livebase.testing"]

APP = REPO_ROOT / "examples" / "agent-manager"
ALICE = "livebase:admin|alice"
"""alice's tokenIdentifier under ``t.as_user("alice")`` (the kit's default issuer)."""


@pytest.fixture
def livebase_app_dir() -> Path:
    return APP


class World:
    """A project ``acme/rocket`` with an agent, and alice signed in."""

    def __init__(self, t: AppHarness) -> None:
        self.t = t
        assert t.advance() == 1  # crons start as on a server's start: the hourly one runs now
        self.alice: Caller = t.as_user("alice", name="Alice")
        self.project = self.alice.mutation(
            "projects:create", {"name": "Rocket", "repo": "Acme/Rocket"}
        )
        self.agent = self.alice.mutation("projects:add_agent", {"name": "coder-1"})

    def task(self, title: str, *deps: str) -> str:
        args = {"projectId": self.project, "title": title, "dependsOn": list(deps)}
        return str(self.alice.mutation("tasks:create", args))

    def status(self, task: str) -> str:
        return str(self.alice.query("tasks:get", {"id": task})["task"]["status"])

    def move(self, task: str, *actions: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for action in actions:
            if action == "assign":
                args = {"id": task, "agentId": self.agent}
                result = self.alice.mutation("tasks:assign", args)
            else:
                result = self.alice.mutation(f"tasks:{action}", {"id": task})
        return result

    def refused(self, path: str, args: dict[str, Any], who: Caller | None = None) -> Any:
        with pytest.raises(AppError) as refused:
            (who or self.alice).mutation(path, args)
        return refused.value.data

    def deliver(self, delivery: str, event: str, summary: dict[str, Any]) -> dict[str, Any]:
        """What ``http.py`` does once the signature holds."""
        args = {"deliveryId": delivery, "event": event, "summary": summary}
        return dict(self.t.mutation("github:receive", args))

    def delivery(self, delivery: str) -> dict[str, Any]:
        return dict(self.alice.query("github:delivery", {"deliveryId": delivery}))

    def audit(self, entity: str) -> list[tuple[str, str, Any, Any]]:
        rows = [r for r in self.t.table("audit") if r["entityId"] == entity]
        return [(r["actor"], r["action"], r["before"], r["after"]) for r in rows]


@pytest.fixture
def world(livebase_app: AppHarness) -> World:
    return World(livebase_app)


def pr(action: str, number: int, *, repo: str = "acme/rocket", **extra: Any) -> dict[str, Any]:
    summary = {"action": action, "repo": repo, "number": float(number), "title": f"PR {number}"}
    summary |= {"url": f"https://github.com/{repo}/pull/{number}", "merged": False, "branch": ""}
    return summary | extra


# -- dependencies ---------------------------------------------------------------------------------


def test_a_task_is_blocked_until_its_dependencies_are_done(world: World) -> None:
    t = world.t
    a = world.task("schema")
    b = world.task("api", a)
    c = world.task("ui", a, b)
    assert [world.status(x) for x in (a, b, c)] == ["todo", "blocked", "blocked"]
    got = world.alice.query("tasks:get", {"id": a})
    assert got["dependsOn"] == [] and sorted(got["dependents"]) == sorted([b, c])

    blocked = world.alice.subscribe("tasks:list", {"projectId": world.project, "status": "blocked"})
    assert sorted(row["_id"] for row in blocked.value) == sorted([b, c])
    world.move(a, "assign", "start", "submit")
    assert world.move(a, "complete")["status"] == "done"
    # b's last open dependency is done: unblocked by that same mutation. c still waits for b.
    assert [world.status(x) for x in (a, b, c)] == ["done", "todo", "blocked"]
    assert [sorted(r["_id"] for r in v) for v in blocked.history] == [sorted([b, c]), [c]]
    done_at = next(r["at"] for r in t.table("audit") if r["after"] == "done")
    unblocked = [r for r in t.table("audit") if r["entityId"] == b and r["after"] == "todo"]
    assert [(r["actor"], r["before"], r["at"]) for r in unblocked] == [(ALICE, "blocked", done_at)]

    world.move(b, "assign", "start", "submit", "complete")
    assert world.status(c) == "todo"

    # Adding an open dependency blocks a todo task; removing it unblocks it.
    d = world.task("docs")
    world.alice.mutation("tasks:depend", {"id": c, "dependsOn": d})
    assert world.status(c) == "blocked"
    world.alice.mutation("tasks:undepend", {"id": c, "dependsOn": d})
    assert world.status(c) == "todo"
    # A done dependency does not block.
    world.alice.mutation("tasks:depend", {"id": d, "dependsOn": a})
    assert world.status(d) == "todo"


def test_a_dependency_that_would_make_a_cycle_is_refused(world: World) -> None:
    t = world.t
    a = world.task("a")
    b = world.task("b", a)
    c = world.task("c", b)
    edges, audit_rows = len(t.table("dependencies")), len(t.table("audit"))

    refused = world.refused("tasks:depend", {"id": a, "dependsOn": c})
    assert refused["code"] == "DependencyCycle"
    assert refused["cycle"] == [a, c, b, a]
    assert refused["message"] == "this dependency would make a cycle: 'a' -> 'c' -> 'b' -> 'a'"
    assert world.refused("tasks:depend", {"id": a, "dependsOn": a})["cycle"] == [a, a]
    assert world.refused("tasks:depend", {"id": b, "dependsOn": c})["code"] == "DependencyCycle"
    assert (len(t.table("dependencies")), len(t.table("audit"))) == (edges, audit_rows)
    assert world.status(a) == "todo"

    # Other refusals: another project's task, a started task, a cancelled dependency.
    other = world.alice.mutation("projects:create", {"name": "Other", "repo": "acme/other"})
    elsewhere = world.alice.mutation("tasks:create", {"projectId": other, "title": "x"})
    assert world.refused("tasks:depend", {"id": c, "dependsOn": elsewhere})["code"] == (
        "OtherProject"
    )
    world.move(a, "assign", "start")
    assert world.refused("tasks:depend", {"id": a, "dependsOn": c})["code"] == "InvalidState"
    gone = world.task("gone")
    world.move(gone, "cancel")
    assert world.refused("tasks:depend", {"id": c, "dependsOn": gone})["code"] == (
        "DependencyCancelled"
    )
    assert len(t.table("dependencies")) == edges


# -- the audit trail ------------------------------------------------------------------------------


def test_every_change_writes_an_audit_row_and_a_refused_one_none(world: World) -> None:
    t = world.t
    a = world.task("a")
    assert world.audit(a) == [(ALICE, "task.create", None, {"title": "a", "status": "todo"})]
    count = len(t.table("audit"))
    # Refused: not assigned, a wrong transition, an unknown agent, a bad title.
    assert world.refused("tasks:start", {"id": a})["code"] == "NotAssigned"
    assert world.refused("tasks:complete", {"id": a}) == {
        "code": "InvalidTransition",
        "message": "cannot complete a task that is 'todo' (only from in_review)",
        "action": "complete",
        "current": "todo",
        "wanted": "done",
    }
    assert world.refused("tasks:assign", {"id": a, "agentId": "nope"})["code"] == "NotFound"
    assert world.refused("tasks:create", {"projectId": world.project, "title": " "})["code"] == (
        "InvalidArgument"
    )
    assert (
        world.refused(
            "tasks:create", {"projectId": world.project, "title": "x", "dependsOn": [a, "nope"]}
        )["code"]
        == "NotFound"
    )
    assert len(t.table("audit")) == count and len(t.table("tasks")) == 1

    world.move(a, "assign", "start", "submit", "request_changes", "submit", "complete")
    steps = [
        ("in_progress", "in_review"),
        ("in_review", "in_progress"),
        ("in_progress", "in_review"),
        ("in_review", "done"),
    ]
    assert world.audit(a)[1:] == [
        (ALICE, "task.assign", None, world.agent),
        (ALICE, "task.status", "todo", "in_progress"),
        *[(ALICE, "task.status", before, after) for before, after in steps],
    ]
    times = [r["at"] for r in t.table("audit")]
    assert times == sorted(times)
    # The project and the agent have theirs; bob's rows carry bob's identity.
    assert world.audit(world.project) == [
        (ALICE, "project.create", None, {"name": "Rocket", "repo": "acme/rocket"})
    ]
    bob = t.as_user("bob")
    b = bob.mutation("tasks:create", {"projectId": world.project, "title": "b"})
    bob.mutation("tasks:cancel", {"id": b})
    assert [row[:2] for row in world.audit(b)] == [
        ("livebase:admin|bob", "task.create"),
        ("livebase:admin|bob", "task.status"),
    ]
    assert world.refused("tasks:cancel", {"id": b}, bob)["current"] == "cancelled"
    assert world.refused("tasks:assign", {"id": b, "agentId": None}, bob)["code"] == (
        "InvalidState"
    )
    assert len(world.audit(b)) == 2


# -- identity -------------------------------------------------------------------------------------


def test_public_functions_need_a_signed_in_user(world: World) -> None:
    t = world.t
    a = world.task("a")
    anonymous = t.anonymous
    for path, args in [
        ("projects:create", {"name": "X", "repo": "x/y"}),
        ("projects:add_agent", {"name": "z"}),
        ("tasks:create", {"projectId": world.project, "title": "t"}),
        ("tasks:start", {"id": a}),
        ("tasks:depend", {"id": a, "dependsOn": a}),
    ]:
        assert world.refused(path, args, anonymous)["code"] == "SignInRequired"
        # The admin has no identity either: it acts through internal functions.
        with pytest.raises(AppError) as refused:
            t.mutation(path, args)
        assert refused.value.data["code"] == "SignInRequired"
    for path, args in [
        ("projects:list", {}),
        ("tasks:get", {"id": a}),
        ("tasks:list", {"projectId": world.project}),
        ("github:deliveries", {}),
    ]:
        with pytest.raises(AppError) as refused:
            anonymous.query(path, args)
        assert refused.value.data["code"] == "SignInRequired"
    assert [p["repo"] for p in t.as_user("bob").query("projects:list")] == ["acme/rocket"]
    # Webhook internals are not for clients, signed in or not.
    for caller in (anonymous, world.alice):
        with pytest.raises(FunctionNotFoundError):
            caller.mutation("github:receive", {"deliveryId": "d", "event": "ping", "summary": {}})
        with pytest.raises(FunctionNotFoundError):
            caller.mutation("github:apply", {"id": "x"})
    assert world.audit(a)[-1][1] == "task.create"


# -- webhooks: processing, retries, redelivery ---------------------------------------------------


def test_pull_request_events_move_the_task_and_unblock_its_dependents(world: World) -> None:
    t = world.t
    a = world.task("a")
    b = world.task("b", a)
    world.move(a, "assign", "start")
    assert world.deliver("d-1", "pull_request", pr("opened", 7, taskRef=a)) == {
        "delivery": "d-1",
        "duplicate": False,
        "status": "pending",
    }
    assert world.delivery("d-1")["status"] == "pending"
    assert t.advance() == 1  # processing is scheduled at once, and runs on the next advance
    assert world.delivery("d-1")["status"] == "processed"
    assert world.status(a) == "in_review"
    [pull] = world.alice.query("pulls:list", {"projectId": world.project})
    assert (pull["number"], pull["state"], pull["taskId"]) == (7.0, "open", a)
    assert pull["url"] == "https://github.com/acme/rocket/pull/7"

    # Closed without merging: back to work. Then reopened, then merged: done, b unblocked.
    world.deliver("d-2", "pull_request", pr("closed", 7))
    t.advance()
    assert world.status(a) == "in_progress"
    # One at a time: two deliveries due together are processed by two actions running side
    # by side, whose order is not defined (a loaded machine finished the merge first).
    world.deliver("d-3", "pull_request", pr("reopened", 7))
    assert t.advance() == 1
    world.deliver("d-4", "pull_request", pr("closed", 7, merged=True))
    assert t.advance() == 1
    assert (world.status(a), world.status(b)) == ("done", "todo")
    github = [row for row in world.audit(a) if row[0] == "github"]
    assert [(before, after) for _, _, before, after in github] == [
        ("in_progress", "in_review"),
        ("in_review", "in_progress"),
        ("in_progress", "in_review"),
        ("in_review", "done"),
    ]
    assert world.audit(b)[-1] == ("github", "task.status", "blocked", "todo")
    states = [after["state"] for _, _, _, after in world.audit(pull["_id"])]
    assert states == ["open", "closed", "open", "merged"]
    assert world.delivery("d-4")["result"] == f"pull request #7 merged; task {a} is done"
    # A pull request naming no task is recorded all the same.
    world.deliver("d-5", "pull_request", pr("opened", 8))
    t.advance()
    assert world.delivery("d-5")["result"] == "pull request #8 open (no linked task)"


def test_ping_and_unhandled_events(world: World) -> None:
    t = world.t
    world.deliver("p", "ping", {"zen": "Keep it logically awesome."})
    world.deliver("i", "issues", {"action": "opened", "repo": "acme/rocket"})
    world.deliver("l", "pull_request", pr("labeled", 3))
    t.advance()
    got = {d: world.delivery(d) for d in ("p", "i", "l")}
    assert {d: (row["status"], row["result"]) for d, row in got.items()} == {
        "p": ("processed", "pong"),
        "i": ("ignored", "the 'issues' event is not handled"),
        "l": ("ignored", "pull_request.labeled is not handled"),
    }
    assert all(row["attempts"] == 1 and "lastError" not in row for row in got.values())
    assert world.alice.query("pulls:list", {"projectId": world.project}) == []


def test_a_failing_delivery_is_retried_with_backoff_then_fails(world: World) -> None:
    t = world.t
    start = t.now_ms
    world.deliver("d", "pull_request", pr("opened", 1, repo="acme/unknown"))
    assert t.advance() == 1
    row = world.delivery("d")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["lastError"] == "no project for the repository 'acme/unknown'"
    assert row["nextAttemptAt"] == start + 1000
    for attempt, delay in [(2, 1), (3, 2), (4, 4)]:
        assert t.advance(seconds=delay - 0.01) == 0  # not a moment early
        assert t.advance(seconds=0.01) == 1
        assert world.delivery("d")["attempts"] == attempt
    assert t.advance(seconds=8) == 1
    row = world.delivery("d")
    assert (row["status"], row["attempts"]) == ("failed", 5)
    assert row["lastError"] == "no project for the repository 'acme/unknown'"
    assert row["finishedAt"] == start + 15_000 and "nextAttemptAt" not in row
    runs = [job["scheduledTime"] - start for job in t.scheduled("github:process")]
    assert runs == [0, 1000, 3000, 7000, 15000]
    assert all(job["state"]["kind"] == "success" for job in t.scheduled("github:process"))
    assert t.advance(minutes=5) == 0  # nothing is retried any more
    assert world.audit(row["_id"]) == [("system", "delivery.failed", "pending", "failed")]
    assert t.table("pulls") == []


def test_a_transient_failure_is_retried_until_it_succeeds(world: World) -> None:
    t = world.t
    world.deliver("d", "pull_request", pr("opened", 4, repo="acme/late"))
    t.advance(seconds=1)  # attempts 1 and 2 fail: the repository has no project yet
    assert world.delivery("d")["attempts"] == 2
    project = world.alice.mutation("projects:create", {"name": "Late", "repo": "acme/late"})
    assert t.advance(seconds=2) == 1
    row = world.delivery("d")
    assert (row["status"], row["attempts"]) == ("processed", 3)
    assert row["lastError"] == "no project for the repository 'acme/late'"  # the last failure
    [pull] = world.alice.query("pulls:list", {"projectId": project})
    assert pull["number"] == 4.0 and pull["state"] == "open"
    assert t.finish_scheduled() == 0


def test_a_redelivery_is_acknowledged_and_not_stored_twice(world: World) -> None:
    t = world.t
    a = world.task("a")
    world.move(a, "assign", "start")
    first = world.deliver("same", "pull_request", pr("opened", 9, taskRef=a))
    again = world.deliver("same", "pull_request", pr("opened", 9, taskRef=a))
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert len(t.table("deliveries")) == 1 and len(t.scheduled("github:process")) == 1
    t.advance()
    later = world.deliver("same", "pull_request", pr("opened", 9, taskRef=a))
    assert later == {"delivery": "same", "duplicate": True, "status": "processed"}
    assert t.advance() == 0
    assert len(t.table("deliveries")) == 1 and len(t.table("pulls")) == 1
    assert [row[1:] for row in world.audit(a)].count(("task.status", "in_progress", "in_review"))
    assert world.status(a) == "in_review"


# -- crons ----------------------------------------------------------------------------------------


def test_the_cron_deletes_old_deliveries(world: World) -> None:
    t = world.t
    world.deliver("old", "ping", {})
    world.deliver("bad", "pull_request", pr("opened", 1, repo="nobody/here"))
    t.advance(seconds=20)  # "old" processed, "bad" failed after its 5 attempts
    assert world.delivery("bad")["status"] == "failed"
    world.deliver("new", "ping", {})
    t.advance(days=6)
    world.deliver("newer", "ping", {})
    t.advance()

    def left() -> list[str]:
        return sorted(row["deliveryId"] for row in t.table("deliveries"))

    assert left() == ["bad", "new", "newer", "old"]
    t.advance(days=1)  # the clock starts at 22:13 UTC; the cron runs daily at 03:15 UTC
    assert left() == ["bad", "new", "newer", "old"]
    t.advance(hours=6)  # day 8, 03:15: "old" and "new" are over 7 days old
    assert left() == ["bad", "newer"]
    t.advance(days=7)
    assert left() == ["bad"]  # failed deliveries stay 28 days
    t.advance(days=14)
    assert left() == []
    runs = t.scheduled("github:cleanup", state="success")
    assert len(runs) == 29 and {job.get("cron") for job in runs} == {"delete old deliveries"}


def test_the_cron_requeues_a_delivery_whose_attempt_never_ran(world: World) -> None:
    t = world.t
    world.deliver("lost", "ping", {})
    [job] = t.scheduled("github:process")
    t.run(lambda ctx: ctx.scheduler.cancel(job["_id"]))  # as if its run had been lost
    t.advance(minutes=59)
    assert world.delivery("lost")["status"] == "pending"
    t.advance(minutes=1)  # the hourly cron finds it
    row = world.delivery("lost")
    assert (row["status"], row["result"]) == ("processed", "pong")


# -- the HTTP route, on a real server -------------------------------------------------------------

SECRET = "It's a Secret to Everybody"
ADMIN = "lb_admin_agent_manager_example_0123456789"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("agent-manager")
    env = base_env(GITHUB_WEBHOOK_SECRET=SECRET)
    with LivebaseServer.launch(base, app=APP, admin_key=ADMIN, env=env) as server:
        yield server


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_the_webhook_route_checks_the_signature_and_processes_later(
    server: LivebaseServer,
) -> None:
    url = server.url
    add_account(url, ADMIN, "ann@example.com", PASSWORD)
    token = password_sign_in(url, "ann@example.com", PASSWORD)

    def call(kind: str, path: str, args: dict[str, Any]) -> Any:
        body = {"path": path, "args": args, "format": "json"}
        headers = {"authorization": f"Bearer {token}"}
        response = httpx.post(f"{url}/api/{kind}", json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "success", answer
        return answer["value"]

    project = call("mutation", "projects:create", {"name": "Rocket", "repo": "acme/rocket"})
    agent = call("mutation", "projects:add_agent", {"name": "coder"})
    task = call("mutation", "tasks:create", {"projectId": project, "title": "Add a launch pad"})
    call("mutation", "tasks:assign", {"id": task, "agentId": agent})
    call("mutation", "tasks:start", {"id": task})

    payload = {
        "action": "opened",
        "number": 12,
        "pull_request": {
            "number": 12,
            "title": "Launch pad",
            "body": f"Closes task:{task}",
            "html_url": "https://github.com/acme/rocket/pull/12",
            "merged": False,
            "head": {"ref": "agent/launch-pad"},
            "_links": {"self": {"href": "https://api.github.com/..."}},
        },
        "repository": {"full_name": "Acme/Rocket"},
    }
    body = json.dumps(payload).encode()

    def post(signature: str | None, delivery: str = "d-1", data: bytes = body) -> httpx.Response:
        headers = {
            "content-type": "application/json",
            "x-github-event": "pull_request",
            "x-github-delivery": delivery,
        }
        if signature is not None:
            headers["x-hub-signature-256"] = signature
        return httpx.post(f"{url}/github/webhook", content=data, headers=headers, timeout=30)

    assert post(None).status_code == 401
    assert post(sign(body, "wrong secret")).status_code == 401
    assert post(sign(body + b" ")).status_code == 401  # signed for another body
    assert post("sha256=" + "0" * 64).status_code == 401
    assert call("query", "github:deliveries", {}) == []

    accepted = post(sign(body))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"delivery": "d-1", "duplicate": False, "status": "pending"}
    again = post(sign(body))
    assert again.status_code == 202 and again.json()["duplicate"] is True

    deadline = time.monotonic() + 30
    while call("query", "tasks:get", {"id": task})["task"]["status"] != "in_review":
        assert time.monotonic() < deadline, call("query", "github:deliveries", {})
        time.sleep(0.05)
    got = call("query", "tasks:get", {"id": task})
    assert [(p["number"], p["state"]) for p in got["pulls"]] == [(12.0, "open")]
    assert got["audit"][-1]["actor"] == "github"
    [delivery] = call("query", "github:deliveries", {})
    assert (delivery["deliveryId"], delivery["status"], delivery["attempts"]) == (
        "d-1",
        "processed",
        1,
    )
    assert post(sign(b"not json"), delivery="d-2", data=b"not json").status_code == 400
