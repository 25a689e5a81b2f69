"""Access control on a real server: no public function returns a private project's data to a
caller who is not signed in — checked by calling *every* public function of the app (enumerated
from the loaded app, arguments built from each function's validator) over HTTP and over the sync
protocol; the owner, signed in with a real access token from ``/auth/token``, sees everything,
flips a project public (then the public sees it, redacted) and edits it; an anonymous caller
cannot change anything, and a bad token is refused (never taken for the public, nor the owner);
``GET /raw`` follows the same rules."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livebase.client import Client, FunctionError
from livebase.functions.loader import load_app, unload
from tests.agentfeed_access.conftest import Answer, anonymous
from tests.agentfeed_app.conftest import APP, KEY, Agentfeed, add_owner, launch, sign_in
from tests.agentfeed_app.payloads import hook, now_ms

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MARK = "PRIVMARK"
"""Planted in every private identifier and content: no anonymous answer may contain it."""
PRIVATE = f"/home/alice/{MARK}-proj"
PRIVATE_SESSION = f"session-{MARK}"
OPEN = "/home/alice/open-proj"
OPEN_SESSION = "session-open"
GH = "ghp_" + "a1B2c3D4e5" * 4
AWS = "AKIAIOSFODNN7EXAMPLE"


def _private_payloads(t: int) -> list[dict[str, Any]]:
    def add(name: str, n: int, **fields: Any) -> dict[str, Any]:
        return hook(
            name, PRIVATE_SESSION, cwd=PRIVATE, ts=t + n, event_id=f"{MARK}-event-{n}", **fields
        )

    bash = {"tool_name": "Bash", "tool_input": {"command": f"echo {MARK}"}}
    return [
        add("SessionStart", 0, source="startup", model="claude-opus-4-1"),
        add("UserPromptSubmit", 1, prompt=f"the {MARK} prompt"),
        add("PreToolUse", 2, tool_use_id=f"{MARK}-tool", **bash),
        add("PostToolUse", 3, tool_use_id=f"{MARK}-tool", tool_response={"out": MARK}, **bash),
    ]


def _open_payloads(t: int) -> list[dict[str, Any]]:
    def add(name: str, n: int, **fields: Any) -> dict[str, Any]:
        return hook(name, OPEN_SESSION, cwd=OPEN, ts=t + n, event_id=f"open-event-{n}", **fields)

    write = {
        "tool_name": "Write",
        "tool_input": {"file_path": f"{OPEN}/.env", "content": "DB_URL=postgres://x\nMODE=dev"},
    }
    return [
        add("SessionStart", 0, source="startup"),
        add("UserPromptSubmit", 1, prompt=f"deploy with {AWS} and {GH} from {OPEN}/src"),
        add("PreToolUse", 2, tool_use_id="open-tool", **write),
        add("PostToolUse", 3, tool_use_id="open-tool", tool_response={"ok": True}, **write),
    ]


@pytest.fixture(scope="module")
def world(agentfeed: Agentfeed) -> Agentfeed:
    """A private project (everything marked ``MARK``), an activity without any project, and a
    project the owner made public, whose events carry secrets."""
    t = now_ms() - 60_000
    for payload in _private_payloads(t) + _open_payloads(t + 100):
        assert agentfeed.post(payload)["status"] == "stored"
    activity = {"source": "terminal", "type": "command", "summary": f"git push {MARK}", "id": "1"}
    assert agentfeed.post(activity, path="/activity")["status"] == "stored"
    rejected = {"hook_event_name": 5, "session_id": PRIVATE_SESSION, "prompt": f"{MARK} body"}
    assert agentfeed.post(rejected)["status"] == "rejected"
    assert agentfeed.post(content=f"not json {MARK}".encode())["status"] == "rejected"
    log = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": str(t * 1_000_000), "body": {"stringValue": "claude_code.api_request"},
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in {
            "event.name": "api_request", "session.id": PRIVATE_SESSION, "prompt.id": MARK,
            "user.email": f"{MARK}@example.com", "model": f"{MARK}-model", "cost_usd": "0.5",
            "input_tokens": "10", "tool_use_id": f"{MARK}-tool"}.items()],
    }]}]}]}  # fmt: skip
    headers = {"Content-Type": "application/json", "X-Agentfeed-Key": KEY}
    response = httpx.post(f"{agentfeed.server.url}/v1/logs", json=log, headers=headers)
    assert response.status_code == 200, response.text
    agentfeed.mutation("projects:update", {"path": OPEN, "public": True})
    return agentfeed


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    with launch(tmp_path_factory.mktemp("access")) as server:
        add_owner(server)
        yield Agentfeed(server)


@pytest.fixture(scope="module")
def token(agentfeed: Agentfeed) -> str:
    """The owner's access token, from the built-in issuer's token endpoint."""
    return sign_in(agentfeed.server.url)


@pytest.fixture(scope="module")
def public_functions() -> Iterator[dict[str, tuple[str, dict[str, Any]]]]:
    """Every public function of the app: path -> (kind, its arguments' validator as JSON)."""
    app = load_app(APP)
    try:
        yield {
            path: (fd.kind, fd.args.to_json())
            for path, fd in sorted(app.functions.items())
            if not fd.internal
        }
    finally:
        unload(app)


def private_ids(world: Agentfeed) -> dict[str, list[str]]:
    """The ``_id``s of the private documents, per table (as the owner sees them)."""
    page = {"numItems": 50, "cursor": None}
    events = world.query("events:feed", {"project": PRIVATE, "paginationOpts": page})["page"]
    calls = world.query(
        "tool_calls:session_tool_calls", {"session_id": PRIVATE_SESSION, "paginationOpts": page}
    )["page"]
    return {
        "events": [e["_id"] for e in events],
        "sessions": [world.session(PRIVATE_SESSION)["_id"]],
        "projects": [world.query("projects:project", {"path": PRIVATE})["_id"]],
        "tool_calls": [c["_id"] for c in calls],
        "rejected_events": [
            row["_id"] for row in world.query("rejected:latest", {"paginationOpts": page})["page"]
        ],
    }


def samples(field: str, validator: dict[str, Any], ids: dict[str, list[str]]) -> list[Any]:
    """Plausible values for one argument, aimed at the private data."""
    kind = validator["type"]
    if field == "paginationOpts":
        return [{"numItems": 50.0, "cursor": None}]
    if kind == "string":
        private = [PRIVATE, "~/" + PRIVATE.split("/", 3)[3], PRIVATE_SESSION, f"{MARK}-tool"]
        private += [f"{MARK}-event-{n}" for n in range(4)] + ["terminal:1", MARK]
        return [*private, "UserPromptSubmit", "PostToolUse", "Bash", "command", OPEN]
    if kind in ("number", "float64"):
        return [30.0, 1.0]
    if kind == "int64":
        return [{"$integer": "HgAAAAAAAAA="}]
    if kind == "boolean":
        return [True, False]
    if kind == "null":
        return [None]
    if kind == "id":
        return ids.get(validator["tableName"], [])
    if kind == "literal":
        return [validator["value"]]
    if kind == "optional":
        return samples(field, validator["value"], ids)
    if kind == "union":
        return [x for member in validator["value"] for x in samples(field, member, ids)]
    if kind == "array":
        return [[x] for x in samples(field, validator["value"], ids)[:3]] + [[]]
    if kind == "object":
        return [
            {
                name: samples(name, f["fieldType"], ids)[0]
                for name, f in validator["value"].items()
                if not f["optional"]
            }
        ]
    return [MARK, PRIVATE, 1.0, None]


def argument_sets(args: dict[str, Any], ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Every combination of the required arguments' samples, then each optional argument in
    turn over its samples (the others left out)."""
    fields = args["value"]
    required = {n: samples(n, f["fieldType"], ids) for n, f in fields.items() if not f["optional"]}
    base = [
        dict(zip(required, combo, strict=True)) for combo in itertools.product(*required.values())
    ]
    sets = list(base)
    for name, field in fields.items():
        if field["optional"]:
            for value in samples(name, field["fieldType"], ids):
                sets += [{**args_, name: value} for args_ in base[:4]]
    return sets


def without_echoes(text: str, args: Any) -> str:
    """An error's text without the argument values it may quote back (not a leak: the caller
    sent them)."""
    values = args.values() if isinstance(args, dict) else args if isinstance(args, list) else []
    for value in values:
        if isinstance(value, str) and value:
            text = text.replace(value, "").replace(json.dumps(value)[1:-1], "")
        elif isinstance(value, dict | list):
            text = without_echoes(text, value)
    return text


def decoded_cursors(value: Any) -> str:
    """The text of the pagination cursors in a value (base64 of an index key: the indexed
    fields of the last row scanned, which may be a private one)."""
    if isinstance(value, list):
        return "".join(decoded_cursors(item) for item in value)
    if not isinstance(value, dict):
        return ""
    texts = [decoded_cursors(item) for item in value.values()]
    for name in ("continueCursor", "splitCursor"):
        if isinstance(value.get(name), str):
            texts.append(base64.urlsafe_b64decode(value[name]).decode("latin-1"))
    return "".join(texts)


def test_no_public_function_shows_private_data_to_an_anonymous_caller(
    world: Agentfeed, public_functions: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    ids = private_ids(world)
    assert all(ids.values())
    assert {"events:feed", "projects:update"} <= set(public_functions)
    for path, (kind, args) in public_functions.items():
        assert "ownerKey" not in args["value"], f"{path} still takes an owner key"
        answers: list[tuple[dict[str, Any], Answer]] = []
        for call_args in argument_sets(args, ids):
            answer = anonymous(world.server.url, kind, path, call_args)
            text = answer.text if answer.ok else without_echoes(answer.text, call_args)
            text += without_echoes(decoded_cursors(answer.body.get("value")), call_args)
            assert MARK.lower() not in text.lower(), (path, call_args, answer.text)
            assert "/home/alice" not in text, (path, call_args, answer.text)
            answers.append((call_args, answer))
        if kind == "mutation":
            assert not any(a.ok for _, a in answers), f"{path} ran for an anonymous caller"
        else:
            assert any(a.ok for _, a in answers), f"{path}: no call succeeded: {answers[0]}"
    # nothing changed: the private project is still private and unnamed
    assert world.query("projects:project", {"path": PRIVATE})["public"] is False


def test_the_owner_sees_everything(world: Agentfeed, token: str) -> None:
    url = world.server.url
    page = {"paginationOpts": {"numItems": 50.0, "cursor": None}}
    feed = anonymous(url, "query", "events:feed", page, token=token)
    assert MARK in feed.text and f"the {MARK} prompt" in feed.text
    projects = anonymous(url, "query", "projects:projects_with_stats", {}, token=token).value
    paths = [p["path"] for p in projects]
    assert PRIVATE in paths and OPEN in paths
    got = anonymous(url, "query", "events:get", {"event_id": "open-event-1"}, token=token).value
    assert AWS in got["prompt"] and AWS in got["raw"]
    status = anonymous(url, "query", "delivery:status", {}, token=token).value
    assert status["owner"] is True
    assert anonymous(url, "query", "delivery:status", {}).value["owner"] is False


def test_the_public_view_is_redacted(world: Agentfeed) -> None:
    url = world.server.url
    projects = anonymous(url, "query", "projects:projects_with_stats", {}).value
    assert [p["path"] for p in projects] == ["~/open-proj"]
    assert anonymous(url, "query", "projects:project", {"path": "~/open-proj"}).value["public"]
    prompt = anonymous(url, "query", "events:get", {"event_id": "open-event-1"}).value
    assert prompt["prompt"] == (
        "deploy with [redacted:aws-access-key] and [redacted:github-token] from ~/open-proj/src"
    )
    assert prompt["cwd"] == "~/open-proj" and prompt["project"] == "~/open-proj"
    raw = json.loads(prompt["raw"])
    assert raw["prompt"] == prompt["prompt"] and raw["cwd"] == "~/open-proj"
    write = anonymous(url, "query", "events:get", {"event_id": "open-event-2"}).value
    assert "postgres://x" not in write["raw"] and "postgres://x" not in write["tool_input"]
    assert json.loads(write["raw"])["tool_input"]["content"] == (
        "DB_URL=[redacted:env]\nMODE=[redacted:env]"
    )
    page = {"numItems": 50.0, "cursor": None}
    feed = anonymous(url, "query", "events:feed", {"paginationOpts": page}).value
    assert {e["event_id"] for e in feed["page"]} == {f"open-event-{n}" for n in range(4)}
    by_project = anonymous(
        url, "query", "events:feed", {"project": "~/open-proj", "paginationOpts": page}
    ).value
    assert len(by_project["page"]) == 4
    days = anonymous(url, "query", "stats:daily_counts", {"days": 2.0}).value
    assert sum(d["events"] for d in days) == 4
    text = json.dumps([projects, feed, days])
    assert AWS not in text and GH not in text and "/home/alice" not in text


def test_the_public_cannot_probe_for_a_projects_full_path(world: Agentfeed, token: str) -> None:
    """The public sees ``~/open-proj``; naming the project by its full path (guessing the
    user's name) must answer exactly as for a path that does not exist, or it would confirm
    the guess."""
    url = world.server.url
    page = {"numItems": 50.0, "cursor": None}
    for path in (OPEN, OPEN + "/", "/home/bob/open-proj"):
        assert anonymous(url, "query", "projects:project", {"path": path}).value is None, path
        feed = anonymous(url, "query", "events:feed", {"project": path, "paginationOpts": page})
        assert feed.value["page"] == [], path
        days = anonymous(url, "query", "stats:daily_counts", {"days": 2.0, "project": path})
        assert sum(d["events"] for d in days.value) == 0, path
    # The owner still names projects by their full path.
    assert (
        anonymous(url, "query", "projects:project", {"path": OPEN}, token=token).value["path"]
        == OPEN
    )


def test_only_the_owner_changes_projects(world: Agentfeed, token: str) -> None:
    url = world.server.url
    args = {"path": PRIVATE, "public": True, "name": "taken"}
    answer = anonymous(url, "mutation", "projects:update", args)
    assert not answer.ok and MARK not in answer.text
    assert answer.body["errorData"]["code"] == "Forbidden"
    assert "sign in" in answer.body["errorData"]["message"]
    # A token that does not hold is refused outright: never taken for the public, nor the owner.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (forged, "not-a-token", token.rsplit(".", 1)[0]):
        response = httpx.post(
            f"{url}/api/mutation",
            json={"path": "projects:update", "args": args, "format": "json"},
            headers={"authorization": f"Bearer {bad}"},
            timeout=30,
        )
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "Unauthenticated" and MARK not in response.text
    project = world.query("projects:project", {"path": PRIVATE})
    assert project["public"] is False and project["name"] != "taken"


def test_flipping_a_project_public_and_back(world: Agentfeed, token: str) -> None:
    url = world.server.url
    path, session = "/home/alice/flip", "session-flip"
    world.post(hook("UserPromptSubmit", session, cwd=path, prompt=f"token={MARK}flip"))
    assert anonymous(url, "query", "sessions:session", {"session_id": session}).value is None

    def update(**change: Any) -> bool:
        return anonymous(
            url, "mutation", "projects:update", {"path": path, **change}, token=token
        ).ok

    assert update(public=True) and update(name="Flip") and update(description="a demo")
    shown = anonymous(url, "query", "projects:project", {"path": "~/flip"}).value
    assert shown["name"] == "Flip" and shown["description"] == "a demo"
    seen = anonymous(url, "query", "sessions:session", {"session_id": session}).value
    assert seen["last_summary"].endswith("token=[redacted:secret]")
    assert update(public=False)
    assert anonymous(url, "query", "sessions:session", {"session_id": session}).value is None
    assert anonymous(url, "query", "projects:project", {"path": "~/flip"}).value is None


def test_subscriptions_anonymous_and_signed_in(world: Agentfeed, token: str) -> None:
    page: Any = {"numItems": 50.0, "cursor": None}

    async def run() -> None:
        async with Client(world.server.url) as client:
            feed: Any = await client.query("events:feed", {"paginationOpts": page})
            assert MARK not in json.dumps(feed) and feed["page"]
            private = {"session_id": PRIVATE_SESSION}
            assert await client.query("sessions:session", private) is None
            with pytest.raises(FunctionError):
                await client.mutation("projects:update", {"path": PRIVATE, "public": True})
            # a live public subscription sees a project appear when the owner flips it
            path = "/home/alice/live"
            world.post(hook("UserPromptSubmit", "session-live", cwd=path, prompt="hi"))
            updates = client.subscribe("projects:projects_with_stats", {})
            first: Any = await anext(updates)
            assert "~/live" not in [p["path"] for p in first]
            async with Client(world.server.url) as owner_client:
                owner_client.set_auth(token)
                owner: Any = await owner_client.query("sessions:session", private)
                assert owner["session_id"] == PRIVATE_SESSION
                await owner_client.mutation("projects:update", {"path": path, "public": True})
            async with asyncio.timeout(30):
                async for projects in updates:
                    shown: Any = projects
                    if "~/live" in [p["path"] for p in shown]:
                        break
            assert MARK not in json.dumps(shown)
            await updates.aclose()

    asyncio.run(run())


def test_raw_endpoint(world: Agentfeed, token: str) -> None:
    url = world.server.url

    def get(event_id: str, **headers: str) -> httpx.Response:
        return httpx.get(f"{url}/raw/{event_id}", headers=headers, timeout=30)

    assert get("open-event-1").status_code == 401  # AGENTFEED_KEY is set
    public = get("open-event-1", **{"X-Agentfeed-Key": KEY})
    assert public.status_code == 200
    assert AWS not in public.text and "[redacted:aws-access-key]" in public.text
    hidden = get(f"{MARK}-event-1", **{"X-Agentfeed-Key": KEY})
    assert hidden.status_code == 404
    wrong = get(f"{MARK}-event-1", authorization=f"Bearer {token}x", **{"X-Agentfeed-Key": KEY})
    assert wrong.status_code == 401 and MARK not in wrong.text
    full = get(f"{MARK}-event-1", authorization=f"Bearer {token}")
    assert full.status_code == 200 and full.json()["prompt"] == f"the {MARK} prompt"
    owner = get("open-event-1", authorization=f"Bearer {token}")
    assert owner.status_code == 200 and AWS in owner.text
