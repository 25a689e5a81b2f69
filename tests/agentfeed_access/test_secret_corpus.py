"""The secret corpus against a real server, as an anonymous visitor sees it.

Every corpus entry (``secret_corpus.py``) is posted through ``POST /event`` and ``POST
/activity`` in every place (``plantings``: a prompt, a command, a tool output, a summary, an
object key, and placed across each cut agentfeed makes) into a project the owner then makes
public. Then every public function of the app is called anonymously (not signed in) — the ones the
feed page uses exhaustively (every event, session and page), and every function of the loaded
app with arguments built from its validator, so a new public function is covered too — and
``GET /raw`` for every event, and the similar sessions of every session: no fragment of any
secret may be in any answer. The text search must not be an oracle: searching the public feed
for a secret, a prefix or a piece of it, alone or after a word the public is shown, finds none
of the events that hold it (the owner's search still finds them). Last, documents
stored before redacted copies existed are not shown to the public at all until
``events:refresh_redacted`` (run by a cron, and when a project is made public) has given them
their copies, and are then shown as redacted as the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from livebase.functions.loader import load_app, unload
from tests.agentfeed_access.secret_corpus import (
    CORPUS,
    PLACES,
    Secret,
    find_leaks,
    plantings,
    strings_of,
)
from tests.agentfeed_app.conftest import APP, KEY, Agentfeed, launch, launch_variant
from tests.agentfeed_app.payloads import hook
from tests.support.calls import call, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CWD = "/home/alice/corpus"
SHOWN = "~/corpus"
PAGE = 200.0


class Visitor:
    """Calls as an anonymous client (no admin key, not signed in), remembering every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=60)
        self.texts: list[str] = []

    def call(self, kind: str, path: str, args: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(
            f"{self.url}/api/{kind}", json={"path": path, "args": args, "format": "json"}
        )
        self.texts.append(response.text)
        body: dict[str, Any] = response.json()
        if body.get("status") == "success":
            self.texts += strings_of(body["value"])
        return body

    def value(self, kind: str, path: str, args: dict[str, Any]) -> Any:
        body = self.call(kind, path, args)
        assert body.get("status") == "success", (path, args, body)
        return body["value"]

    def pages(self, path: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a paginated query, all pages."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.value("query", path, {**args, "paginationOpts": _opts(cursor)})
            items += page["page"]
            if page["isDone"]:
                return items
            cursor = page["continueCursor"]

    def raw(self, event_id: str) -> httpx.Response:
        response = self.http.get(f"{self.url}/raw/{event_id}", headers={"X-Agentfeed-Key": KEY})
        self.texts.append(response.text)
        if response.status_code == 200:
            self.texts += strings_of(response.json())
        return response

    def leaks(self, corpus: list[Secret] = CORPUS) -> list[str]:
        return find_leaks(self.texts, corpus)


@pytest.fixture
def visitor() -> Iterator[Callable[[str], Visitor]]:
    """Makes ``Visitor``s, closed at the end of the test."""
    made: list[Visitor] = []

    def make(url: str) -> Visitor:
        made.append(Visitor(url))
        return made[-1]

    yield make
    for one in made:
        one.http.close()


def _opts(cursor: str | None = None) -> dict[str, Any]:
    return {"numItems": PAGE, "cursor": cursor}


def _event_id(endpoint: str, body: dict[str, Any]) -> str:
    return str(body["event_id"]) if endpoint == "/event" else f"{body['source']}:{body['id']}"


class World:
    """What was planted: event ids and session ids per corpus entry."""

    def __init__(self, agentfeed: Agentfeed, corpus: list[Secret], places: tuple[str, ...]):
        self.agentfeed = agentfeed
        self.events: dict[str, list[str]] = {}
        self.sessions: dict[str, list[str]] = {}
        posts = []
        for n, secret in enumerate(corpus):
            for place, endpoint, body in plantings(secret, n, CWD):
                if place in places:
                    posts.append((secret.name, endpoint, body))
                    self.events.setdefault(secret.name, []).append(_event_id(endpoint, body))
                    if f"c{n}-{place}" not in self.sessions.setdefault(secret.name, []):
                        self.sessions[secret.name].append(f"c{n}-{place}")
        with ThreadPoolExecutor(4) as pool:  # either half of a tool call may come first
            results = pool.map(lambda post: agentfeed.post(post[2], path=post[1]), posts)
            for (name, _, body), result in zip(posts, results, strict=True):
                assert result["status"] == "stored", (name, body.get("event_id"), result)
        # every secret in a body the server rejects: kept for the owner, never shown publicly
        unusable = "not json: " + "\n".join(secret.text for secret in corpus)
        rejected = agentfeed.post(content=unusable.encode())
        assert rejected["status"] == "rejected"
        self.rejected: list[str] = [rejected["id"]]

    @property
    def url(self) -> str:
        return self.agentfeed.server.url

    def all_events(self) -> list[str]:
        return [e for ids in self.events.values() for e in ids]

    def all_sessions(self) -> list[str]:
        return [s for ids in self.sessions.values() for s in ids]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with launch(tmp_path_factory.mktemp("corpus")) as server:
        agentfeed = Agentfeed(server)
        planted = World(agentfeed, CORPUS, PLACES)
        agentfeed.mutation("projects:update", {"path": CWD, "public": True})
        yield planted


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


def samples(field: str, validator: dict[str, Any], world: World) -> list[Any]:
    """Values for one argument, aimed at the planted data."""
    kind = validator["type"]
    if field == "paginationOpts":
        return [_opts()]
    if kind == "string":
        some_events = [ids[0] for ids in list(world.events.values())[:3]]
        some_sessions = [ids[0] for ids in list(world.sessions.values())[:3]]
        return [SHOWN, CWD, *some_sessions, *some_events, "Bash", "UserPromptSubmit", "sk_live_"]
    if kind in ("number", "float64"):
        return [2.0]
    if kind == "boolean":
        return [True, False]
    if kind == "null":
        return [None]
    if kind == "literal":
        return [validator["value"]]
    if kind == "id" and validator["tableName"] == "rejected_events":
        return list(world.rejected)
    if kind == "optional":
        return samples(field, validator["value"], world)
    if kind == "union":
        return [x for member in validator["value"] for x in samples(field, member, world)]
    if kind == "array":
        return [[x] for x in samples(field, validator["value"], world)[:2]] + [[]]
    if kind == "record":
        return [{}]
    if kind == "object":
        return [
            {
                name: samples(name, f["fieldType"], world)[0]
                for name, f in validator["value"].items()
                if not f["optional"]
            }
        ]
    return [None]


def argument_sets(args: dict[str, Any], world: World) -> list[dict[str, Any]]:
    """Each required argument's samples in turn (the others at their first sample), then each
    optional argument's samples (with the required ones at their first)."""
    fields = args["value"]
    required = {
        n: samples(n, f["fieldType"], world) for n, f in fields.items() if not f["optional"]
    }
    base = {name: values[0] for name, values in required.items() if values}
    sets = [dict(base)]
    for name, values in required.items():
        sets += [{**base, name: value} for value in values[1:]]
    for name, field in fields.items():
        if field["optional"]:
            sets += [{**base, name: value} for value in samples(name, field["fieldType"], world)]
    return sets


def visit_everything(
    visitor: Visitor, world: World, functions: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    """Every public function as an anonymous visitor: the page's queries over every event,
    session and page, then every function with arguments built from its validator; and
    ``GET /raw`` for every event."""
    feed = visitor.pages("events:feed", {})
    assert {e["event_id"] for e in feed} >= set(world.all_events())
    visitor.pages("events:feed", {"project": SHOWN})
    visitor.pages("events:feed", {"tool": "Bash"})
    visitor.pages("events:feed", {"type": "UserPromptSubmit"})
    for session in world.all_sessions():
        visitor.pages("events:session_timeline", {"session_id": session})
        visitor.pages("tool_calls:session_tool_calls", {"session_id": session})
        assert visitor.value("query", "sessions:session", {"session_id": session}) is not None
        similar = visitor.value("query", "similar:sessions", {"session_id": session, "limit": 20.0})
        assert similar["status"] in ("ready", "no_prompts"), (session, similar)
    for event_id in world.all_events():
        assert visitor.value("query", "events:get", {"event_id": event_id}) is not None
        assert visitor.raw(event_id).status_code == 200
    visitor.value("query", "sessions:active_sessions", {})
    visitor.value("query", "projects:projects_with_stats", {})
    assert visitor.value("query", "projects:project", {"path": SHOWN})["public"] is True
    for path, (kind, args) in functions.items():
        assert "ownerKey" not in args["value"], f"{path} still takes an owner key"
        answers = [visitor.call(kind, path, call_args) for call_args in argument_sets(args, world)]
        succeeded = [a for a in answers if a.get("status") == "success"]
        if kind == "mutation":
            assert not succeeded, f"{path} ran for an anonymous caller"
        else:  # an owner-only query may refuse the public outright (it shows nothing)
            refused = any((a.get("errorData") or {}).get("code") == "Forbidden" for a in answers)
            assert succeeded or refused, f"{path}: no call succeeded: {answers[0]}"


def test_no_public_function_shows_a_secret(
    world: World,
    public_functions: dict[str, tuple[str, dict[str, Any]]],
    visitor: Callable[[str], Visitor],
) -> None:
    anonymous = visitor(world.url)
    visit_everything(anonymous, world, public_functions)
    leaks = anonymous.leaks()
    assert not leaks, "\n".join(leaks[:40])
    # not vacuous: the owner sees the secrets, and the public sees the events, redacted
    owner = world.agentfeed.query("events:get", {"event_id": world.events["jwt"][0]})
    assert find_leaks(strings_of(owner), CORPUS)
    for name, ids in world.events.items():
        prompt = anonymous.value("query", "events:get", {"event_id": ids[0]})
        assert "[redacted:" in prompt["prompt"] and "[redacted:" in prompt["summary"], name


def _queries(secret: Secret, literal: str) -> list[str]:
    """What an attacker would search for: the secret, prefixes of it longer than the format's
    public prefix, and a piece from its middle (at least 7 characters each)."""
    start = len(secret.prefix) if literal.startswith(secret.prefix) else 0
    middle = len(literal) // 2
    found = [literal, literal[: max(start + 1, 8)], literal[: start + 8]]
    found.append(literal[middle : middle + 8])
    return sorted({q for q in found if len(q) >= min(7, len(literal)) and q not in secret.prefix})


def test_the_search_is_not_an_oracle(world: World, visitor: Callable[[str], Visitor]) -> None:
    anonymous = visitor(world.url)
    owner_found = 0
    for secret in CORPUS:
        mine = set(world.events[secret.name])
        sessions = world.sessions[secret.name]
        for literal in secret.secrets:
            searches = [{"search": query} for query in _queries(secret, literal)]
            searches += [
                {"search": f"redacted {literal}"},  # a word the public is shown, and the secret
                {"search": literal, "project": SHOWN},
                {"search": literal, "session_id": sessions[0]},
                {"search": literal.upper(), "tool": "Bash"},
            ]
            for args in searches:
                found = {e["event_id"] for e in anonymous.pages("events:feed", args)} & mine
                assert not found, (secret.name, args, sorted(found))
        # the owner's search does look at the text as stored
        owner = world.agentfeed.query(
            "events:feed", {"search": secret.secrets[0][:12], "paginationOpts": _opts()}
        )
        owner_found += bool({e["event_id"] for e in owner["page"]} & mine)
    assert owner_found >= len(CORPUS) * 3 // 4, owner_found
    assert not anonymous.leaks()


# -- documents stored before redacted copies existed ----------------------------------------------

TESTONLY = '''"""Test only: take the redacted copies away (as from documents of old versions)."""

from livebase import UNSET, internal_mutation, internal_query

TABLES = ("events", "sessions", "tool_calls")


@internal_mutation
def strip(ctx) -> float:
    n = 0
    for table in TABLES:
        for doc in ctx.db.query(table).collect():
            if "redacted" in doc:
                ctx.db.patch(doc["_id"], {"redacted": UNSET})
                n += 1
    return float(n)


@internal_query
def without_copy(ctx) -> float:
    docs = [doc for table in TABLES for doc in ctx.db.query(table).collect()]
    return float(sum(1 for doc in docs if "redacted" not in doc))
'''
OLD_PLACES = ("prompt", "command", "output", "summary", "key", "prompt_cut", "output_blob")
REFRESH_CRON = 'crons.interval("refresh redacted copies", refresh_redacted, {}, minutes=1)\n'


@pytest.fixture(scope="module")
def old_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server running a copy of the app with a test-only module that strips the copies, and
    without the cron that would give them back while a test looks."""
    with launch_variant(tmp_path_factory.mktemp("old"), TESTONLY, REFRESH_CRON) as server:
        agentfeed = Agentfeed(server)
        planted = World(agentfeed, CORPUS[::3], OLD_PLACES)
        agentfeed.mutation("projects:update", {"path": CWD, "public": True})
        yield planted


def _admin(agentfeed: Agentfeed, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    server = agentfeed.server
    return call(server.url, server.admin_key, kind, path, args or {})


def _without_copy(agentfeed: Agentfeed) -> int:
    return int(_admin(agentfeed, "query", "testonly:without_copy"))


def test_documents_without_a_copy_stay_hidden_until_the_migration_gives_them_one(
    old_world: World,
    public_functions: dict[str, tuple[str, dict[str, Any]]],
    visitor: Callable[[str], Visitor],
) -> None:
    agentfeed = old_world.agentfeed
    events = old_world.all_events()
    stripped = int(_admin(agentfeed, "mutation", "testonly:strip"))
    assert stripped > len(events) and _without_copy(agentfeed) == stripped
    # the public sees none of them (the owner sees them all), and finds none by searching
    hidden = visitor(old_world.url)
    assert not {e["event_id"] for e in hidden.pages("events:feed", {})} & set(events)
    for event_id in events[::7]:
        assert hidden.value("query", "events:get", {"event_id": event_id}) is None
        assert hidden.raw(event_id).status_code == 404
    for session in old_world.all_sessions()[::7]:
        assert hidden.value("query", "sessions:session", {"session_id": session}) is None
        assert not hidden.pages("tool_calls:session_tool_calls", {"session_id": session})
        assert not hidden.pages("events:session_timeline", {"session_id": session})
    for secret in CORPUS[::3]:
        assert not hidden.pages("events:feed", {"search": secret.secrets[0][:10]})
    owner = agentfeed.query("events:feed", {"paginationOpts": _opts()})
    assert len(owner["page"]) == PAGE
    # a new event in an old session: the event shows, the session (its copy partial) does not
    session = old_world.all_sessions()[0]
    agentfeed.post(hook("Stop", session, cwd=CWD, event_id="after-strip"))
    assert hidden.value("query", "events:get", {"event_id": "after-strip"})["summary"]
    assert hidden.value("query", "sessions:session", {"session_id": session}) is None
    # the migration gives them copies, in batches that schedule the next one
    assert int(_admin(agentfeed, "mutation", "events:refresh_redacted", {"batch": 25.0})) == 25
    wait_until(lambda: _without_copy(agentfeed) == 0, timeout=180)
    anonymous = visitor(old_world.url)
    visit_everything(anonymous, old_world, public_functions)
    for secret in CORPUS[::3]:
        mine = set(old_world.events[secret.name])
        for query in _queries(secret, secret.secrets[0]):
            hits = anonymous.pages("events:feed", {"search": query})
            assert not {e["event_id"] for e in hits} & mine, (secret.name, query)
    leaks = anonymous.leaks()
    assert not leaks, "\n".join(leaks[:40])
    # making a project public starts the migration as well
    stripped = int(_admin(agentfeed, "mutation", "testonly:strip"))
    agentfeed.mutation("projects:update", {"path": CWD, "public": False})
    assert _without_copy(agentfeed) == stripped
    agentfeed.mutation("projects:update", {"path": CWD, "public": True})
    wait_until(lambda: _without_copy(agentfeed) == 0, timeout=180)


def test_the_copy_is_never_shown_as_such(world: World, visitor: Callable[[str], Visitor]) -> None:
    """Neither the owner nor the public gets the ``redacted`` sub-document itself."""
    event_id = world.events["jwt"][0]
    owner = world.agentfeed.query("events:get", {"event_id": event_id})
    public = visitor(world.url).value("query", "events:get", {"event_id": event_id})
    assert "redacted" not in owner and "redacted" not in public
    assert owner["prompt"] != public["prompt"]
