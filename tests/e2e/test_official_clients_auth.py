"""The official Convex clients, unmodified, signed in with user tokens (issue 12, "Proof").

The server app trusts a real local OpenID Connect issuer (``tests/support/oidc_issuer.py``) and
livebase's built-in accounts. Each client gets tokens the way an app would give them:

* ``ConvexReactClient`` in headless Chromium, under ``ConvexProviderWithAuth`` (which calls
  ``client.setAuth``), with ``useConvexAuth`` and ``useQuery``: its token fetcher asks the page's
  own origin, where this test mints tokens that live 5 s. The JS client refreshes them ahead of
  expiry on the same socket; the page must keep its results and stay signed in throughout, on
  one WebSocket, and a mutation made in the page runs as the user
  (``tests/clients/js/auth_page/``).
* ``ConvexHttpClient.setAuth`` / ``clearAuth`` in Node, with an OIDC token, an expired one and a
  built-in account's token (``tests/clients/js/auth_http_scenario.mjs``).
* PyPI ``convex`` ``ConvexClient.set_auth`` / ``clear_auth`` (Rust inside), in a subprocess
  (``tests/clients/py/auth_scenario.py``).

Two users on the same query with the same arguments (two pages, two clients) each see their own
result. Real server processes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.e2e.conftest import TEST_ADMIN_KEY
from tests.e2e.sync_wire import metric
from tests.e2e.test_react_page import chromium_path, web_dist  # noqa: F401  (fixtures)
from tests.support.node import NodeProcess
from tests.support.oidc_issuer import OidcIssuer
from tests.support.server import REPO_ROOT, LivebaseServer
from tests.support.signed_in import serve_signed_in_app

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(1200)]

JS_DIR = REPO_ROOT / "tests" / "clients" / "js"
AUTH_PAGE_DIR = JS_DIR / "auth_page"
PY_SCENARIO = REPO_ROOT / "tests" / "clients" / "py" / "auth_scenario.py"

ADMIN = TEST_ADMIN_KEY  # /metrics is read with it
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery staple"

PAGE_TOKEN_TTL = 5  # seconds: the React page's tokens
PAGE_LEEWAY = 3  # authRefreshTokenLeewaySeconds: the JS client refetches 2 s after confirmation
OBSERVE_MS = 12_000  # how long the pages are watched once signed in
MIN_REFRESHES = 2  # proactive refreshes each page must have had confirmed in that time
# Generous, for a loaded machine: Chromium start, first render, and the driver's own deadlines.
PAGE_DEADLINE = 150.0
SCENARIO_TIMEOUT = 90.0

APP = {
    "auth.py": """
        from livebase import builtin, oidc

        providers = [oidc("ISSUER", "livebase-test"), builtin()]
    """,
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "notes": define_table(
                    {"owner": v.optional(v.string()), "body": v.string()}
                ).index("by_owner", ["owner"]),
            }
        )
    """,
    "who.py": """
        from livebase import action, query


        def caller(ctx):
            who = ctx.auth.get_user_identity()
            return None if who is None else who.token_identifier


        @query
        def me(ctx):
            return caller(ctx)


        @query
        def profile(ctx):
            who = ctx.auth.get_user_identity()
            if who is None:
                return None
            return {
                "id": who.token_identifier,
                "subject": who.subject,
                "issuer": who.issuer,
                "email": who.email,
            }


        @action
        async def act(ctx):
            # The action's own identity, and the one a query it runs sees.
            return {"me": caller(ctx), "via_query": await ctx.run_query("who:me", {})}
    """,
    "notes.py": """
        from livebase import internal_query, mutation, query


        def caller(ctx):
            who = ctx.auth.get_user_identity()
            return None if who is None else who.token_identifier


        @mutation
        def add(ctx, body: str) -> str:
            owner = caller(ctx)
            row = {"body": body} if owner is None else {"owner": owner, "body": body}
            ctx.db.insert("notes", row)
            return owner or "anonymous"


        @query
        def mine(ctx) -> list:
            owner = caller(ctx)
            if owner is None:
                return []
            rows = ctx.db.query("notes").with_index("by_owner", lambda q: q.eq("owner", owner))
            return [row["body"] for row in rows.collect()]


        @internal_query
        def stored(ctx) -> list:
            return [
                {"owner": row.get("owner"), "body": row["body"]}
                for row in ctx.db.query("notes").collect()
            ]
    """,
}


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: OidcIssuer
) -> Iterator[LivebaseServer]:
    with serve_signed_in_app(
        tmp_path_factory.mktemp("official-auth"), APP, issuer,
        admin_key=ADMIN, email=EMAIL, password=PASSWORD,
    ) as s:  # fmt: skip
        yield s


def oidc_id(issuer: OidcIssuer, sub: str) -> str:
    return f"{issuer.url}|{sub}"


def stored_notes(server: LivebaseServer) -> list[dict[str, Any]]:
    """Every note as stored (an internal query, read with the admin key)."""
    response = httpx.post(
        f"{server.url}/api/query",
        json={"path": "notes:stored", "args": {}, "format": "json"},
        headers={"authorization": f"Convex {ADMIN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def owners_of(server: LivebaseServer, body: str) -> list[str | None]:
    return [note["owner"] for note in stored_notes(server) if note["body"] == body]


def sign_in(server: LivebaseServer) -> str:
    form = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
    response = httpx.post(f"{server.url}/auth/token", data=form, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# -- 1. ConvexReactClient.setAuth in Chromium ----------------------------------------------


class PageHost:
    """The auth page's origin: its built files, and ``GET /token?sub=..&force=0|1``, which mints
    a token for ``sub`` that lives ``ttl`` seconds and records the call (``mints``)."""

    def __init__(self, dist: Path, issuer: OidcIssuer, ttl: float) -> None:
        self.issuer = issuer
        self.ttl = ttl
        self.mints: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        host = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(dist), **kwargs)

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path != "/token":
                    super().do_GET()
                    return
                query = parse_qs(parsed.query)
                body = host.mint(query["sub"][0], query.get("force", ["0"])[0] == "1").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def mint(self, sub: str, force: bool) -> str:
        now = time.time()
        # A nonce makes every token different, even two minted in the same second (the JS
        # client ignores a refetched token equal to the one it has).
        token = self.issuer.token(now=now, sub=sub, ttl=self.ttl, jti=uuid.uuid4().hex)
        with self._lock:
            self.mints.append({"sub": sub, "force": force, "t": now, "exp": int(now + self.ttl)})
        return token

    def page_url(self, backend: str, sub: str, leeway: int) -> str:
        port = self._httpd.server_address[1]
        query = urlencode({"backend": backend, "sub": sub, "leeway": leeway})
        return f"http://127.0.0.1:{port}/index.html?{query}"

    def __enter__(self) -> PageHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def auth_page_dist(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """``tests/clients/js/auth_page`` bundled (React and esbuild from tests/clients/web, which
    ``web_dist`` has installed)."""
    node = shutil.which("node")
    assert node is not None
    out = tmp_path_factory.mktemp("auth-page-dist")
    built = subprocess.run(
        [node, "build.mjs", str(out)],
        cwd=AUTH_PAGE_DIR, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert built.returncode == 0, f"{built.stdout}\n{built.stderr}"
    return out


def _page_diagnostics(
    result: dict[str, Any] | None, driver: NodeProcess, server: LivebaseServer
) -> str:
    parts: list[str] = []
    if result is not None:
        parts.append("failures: " + json.dumps(result.get("failures")))
        for name, page in result.get("pages", {}).items():
            parts.append(f"== page {name}")
            for key in ("console", "pageErrors", "wsEvents"):
                parts.append(f"{key}:\n  " + "\n  ".join(page.get(key, [])))
            for key in ("authenticates", "identityTransitions", "authErrors", "connects",
                        "tokenCalls", "authChanges", "sockets", "connection", "final"):  # fmt: skip
                parts.append(f"{key}: {json.dumps(page.get(key))}")
            raw = page.get("raw", [])
            parts.append(
                "frames (last 30):\n  "
                + "\n  ".join(f"{f['t']}ms {f['dir']}: {f['data']}" for f in raw[-30:])
            )
    parts.append("driver stderr:\n" + "".join(driver.stderr[-60:]))
    if result is None:
        parts.append("driver " + driver.transcript()[-6000:])
    parts.append("server log (tail):\n" + server.log_text()[-3000:])
    return "\n".join(parts)


def _gaps(renders: list[dict[str, Any]], me: str) -> list[dict[str, Any]]:
    """Renders after sign-in that did not show the user signed in with their own result."""
    return [
        r
        for r in renders
        if r["isAuthenticated"] is not True or r["isLoading"] is not False
        or r["isRefreshing"] is not False or r["me"] != me or r["notes"] == "<undefined>"
    ]  # fmt: skip


def test_react_page_keeps_a_signed_in_user_across_token_refreshes(
    server: LivebaseServer,
    issuer: OidcIssuer,
    auth_page_dist: Path,
    chromium_path: Path,  # noqa: F811
) -> None:
    """Two pages (alice, bob), tokens living 5 s: over 12 s each page refreshes its token at
    least twice on its one socket, never shows itself signed out or without its result, and
    the server never has to end an identity (no AuthError); each sees only its own results."""
    run = uuid.uuid4().hex[:8]
    users = {"alice": f"alice-{run}", "bob": f"bob-{run}"}
    notes = {name: f"note of {name} {run}" for name in users}
    with PageHost(auth_page_dist, issuer, PAGE_TOKEN_TTL) as host:
        config = {
            "chromium": str(chromium_path),
            "observeMs": OBSERVE_MS,
            "minRefreshes": MIN_REFRESHES,
            "pages": [
                {
                    "name": name,
                    "url": host.page_url(server.url, sub, PAGE_LEEWAY),
                    "note": notes[name],
                }
                for name, sub in users.items()
            ],
        }
        driver = NodeProcess(AUTH_PAGE_DIR, "run_auth_page.mjs", json.dumps(config))
        result: dict[str, Any] | None = None
        try:
            ready = driver.read_event(time.monotonic() + PAGE_DEADLINE)
            if ready is None or ready.get("event") != "ready":
                pytest.fail(
                    "the pages did not sign in and show who:me\n"
                    + _page_diagnostics(ready, driver, server),
                    pytrace=False,
                )
            for name, sub in users.items():
                assert ready["pages"][name]["me"] == oidc_id(issuer, sub), ready

            # While the driver watches the pages, sample the server's open sync sockets.
            connections: list[float] = []
            deadline = time.monotonic() + PAGE_DEADLINE
            while result is None and time.monotonic() < deadline:
                connections.append(metric(server.url, "livebase_sync_connections"))
                result = driver.read_event(time.monotonic() + 0.5)
                if driver.ended:
                    break
            if result is None or result.get("event") != "result" or not result.get("ok"):
                pytest.fail(
                    "the pages did not stay signed in across token refreshes\n"
                    + _page_diagnostics(result, driver, server),
                    pytrace=False,
                )
        finally:
            driver.close(timeout=30)
        mints = list(host.mints)

    why = _page_diagnostics(result, driver, server)
    spares: list[float] = []
    assert result["observedMs"] >= OBSERVE_MS
    # The server saw the two pages' sockets, and only them, the whole time.
    # (The driver keeps the pages open until its stdin is closed, after the last sample.)
    off = [(i, n) for i, n in enumerate(connections) if n != 2.0]
    assert connections and not off, (f"{len(connections)} samples, off: {off}", why)

    for name, sub in users.items():
        page = result["pages"][name]
        me = oidc_id(issuer, sub)
        # One socket for the page's whole life: no reconnect.
        assert len(page["sockets"]) == 1, (page["sockets"], why)
        # One Connect (its connectionCount is 1 when the socket opened while the client was
        # paused for the first token: it counts the open, not a reconnect).
        assert len(page["connects"]) == 1, why
        assert page["connection"]["isWebSocketConnected"] is True, why
        assert page["connection"]["connectionCount"] == 1, why
        assert page["connection"]["connectionRetries"] == 0, why
        # Authenticate base 0 (the first token), base 1 (the forced refetch after it was
        # confirmed), then a proactive refresh every (ttl - leeway) s on the same socket.
        bases = [a["baseVersion"] for a in page["authenticates"]]
        assert bases == list(range(len(bases))), (bases, why)
        assert all(a["tokenType"] == "User" for a in page["authenticates"]), why
        refreshes = [t for t in page["identityTransitions"] if t["to"] >= 3]
        assert len(refreshes) >= MIN_REFRESHES, (page["identityTransitions"], why)
        forced = [c for c in page["tokenCalls"] if c["forceRefreshToken"]]
        assert len(forced) >= MIN_REFRESHES + 1, (page["tokenCalls"], why)
        assert page["tokenCalls"][0]["forceRefreshToken"] is False, why
        # Never a gap: the server never ended the identity, no query failed, and every render
        # since sign-in showed the user signed in with their own results.
        assert page["authErrors"] == [], why
        assert page["queryFailures"] == [], why
        assert page["pageErrors"] == [], why
        assert _gaps(page["renders"], me) == [], why
        # Before that, the page was loading: it never showed an anonymous or another's result.
        assert {r["me"] for r in page["rendersBefore"]} <= {"<undefined>", me}, why
        # The client only ever told the provider "signed in" (npm convex 1.48.0 says so again
        # on every confirmed refresh), never "signed out".
        assert page["setAuthCalls"] == 1, why
        changes = [c["isAuthenticated"] for c in page["authChanges"]]
        assert changes and all(changes), why
        assert page["final"]["authenticated"] == "true" and page["final"]["me"] == me, why
        # The mutation made in the page ran as the user; each user's notes:mine (the same
        # query with the same arguments) holds only their own note.
        assert page["mutation"]["returned"] == me, why
        assert page["final"]["notes"] == [notes[name]], why
        assert owners_of(server, notes[name]) == [me]

        # Each new token was in hand before the one it replaced expired (seconds to spare).
        own = sorted((m for m in mints if m["sub"] == sub), key=lambda m: m["t"])
        spare = [prev["exp"] - nxt["t"] for prev, nxt in itertools.pairwise(own)]
        assert spare and min(spare) > 0, (own, why)
        spares.append(min(spare))

    renders = sum(len(result["pages"][n]["renders"]) for n in users)
    print(
        f"observed {result['observedMs']} ms; refreshes per page "
        + ", ".join(
            f"{n}: {sum(1 for t in result['pages'][n]['identityTransitions'] if t['to'] >= 3)}"
            for n in users
        )
        + f"; sockets per page 1; server connections {sorted(set(connections))}; "
        f"renders checked {renders}; least time to spare before a token expired "
        f"{min(spares):.2f} s"
    )


# -- 2 and 4. ConvexHttpClient.setAuth in Node -----------------------------------------------


def test_http_client_set_auth_clear_auth_and_a_built_in_account(
    server: LivebaseServer, issuer: OidcIssuer, js_client_dir: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{run}", f"bob-{run}"
    now = time.time()
    tokens = {
        "alice": issuer.token(now=now, sub=alice, email=f"{alice}@example.com"),
        "bob": issuer.token(now=now, sub=bob),
        "expired": issuer.token(now=now - 7200, sub=alice),
        "builtin": sign_in(server),
    }
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "auth_http_scenario.mjs", json.dumps({"url": server.url, "tokens": tokens})],
        cwd=js_client_dir, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps: dict[str, dict[str, Any]] = json.loads(done.stdout)
    why = json.dumps(steps, indent=1)

    def value(step: str) -> Any:
        assert "error" not in steps[step], (step, why)
        return steps[step]["value"]

    alice_id, bob_id = oidc_id(issuer, alice), oidc_id(issuer, bob)
    assert value("alice.me") == alice_id
    assert value("alice.profile") == {
        "id": alice_id,
        "subject": alice,
        "issuer": issuer.url,
        "email": f"{alice}@example.com",
    }
    assert value("alice.add") == alice_id
    assert value("alice.act") == {"me": alice_id, "via_query": alice_id}
    assert value("alice.mine") == ["alice over http"]
    # The same query with the same arguments, another user: their own result.
    assert value("bob.me") == bob_id
    assert value("bob.add") == bob_id
    assert value("bob.mine") == ["bob over http"]

    # An expired token: every kind of call fails, saying why (the token is not echoed).
    for step in ("expired.me", "expired.add", "expired.act"):
        error = steps[step].get("error", "")
        assert "expired" in error and "Unauthenticated" in error, (step, why)
        assert tokens["expired"] not in error
    assert owners_of(server, "never stored") == []

    # clearAuth: anonymous again.
    assert value("cleared.me") is None
    assert value("cleared.mine") == []
    assert value("cleared.add") == "anonymous"
    assert owners_of(server, "anonymous over http") == [None]

    # A built-in account's token is an ordinary user token to the official client.
    profile = value("builtin.profile")
    assert profile["email"] == EMAIL
    assert profile["id"] == f"{profile['issuer']}|{profile['subject']}"
    assert profile["issuer"] != issuer.url
    assert value("builtin.add") == profile["id"]
    assert value("builtin.act") == {"me": profile["id"], "via_query": profile["id"]}
    assert value("builtin.mine") == ["built-in over http"]
    assert owners_of(server, "built-in over http") == [profile["id"]]
    assert owners_of(server, "alice over http") == [alice_id]


# -- 3. PyPI convex ConvexClient.set_auth ----------------------------------------------------


def _py_env() -> dict[str, str]:
    return {**os.environ, "RUST_LOG": "warn"}


def _steps(stdout: str) -> dict[str, dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("@@ "):
            record = json.loads(line[3:])
            steps[record["step"]] = record
    return steps


def test_python_client_set_auth_and_clear_auth(server: LivebaseServer, issuer: OidcIssuer) -> None:
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{run}", f"bob-{run}"
    now = time.time()
    config = {"alice": issuer.token(now=now, sub=alice), "bob": issuer.token(now=now, sub=bob)}
    command = [sys.executable, str(PY_SCENARIO), "identity", server.url, json.dumps(config)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, check=False,
            env=_py_env(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(
            f"the official Python client hung after steps {list(_steps(out))}\n{out}\n"
            f"server log tail:\n{server.log_text()[-3000:]}"
        )
    steps = _steps(done.stdout)
    why = f"{done.stdout}\n{done.stderr[-3000:]}"
    assert "done" in steps and done.returncode == 0, why

    def value(step: str) -> Any:
        assert "error" not in steps[step], (step, why)
        return steps[step]["value"]

    alice_id, bob_id = oidc_id(issuer, alice), oidc_id(issuer, bob)
    # Same queries, same arguments, two users: each subscription's first value is its own.
    assert value("alice.sub.first") == alice_id
    assert value("bob.sub.first") == bob_id
    assert value("alice.notes.first") == []
    assert value("bob.notes.first") == []
    assert value("alice.query") == alice_id
    assert value("alice.profile")["subject"] == alice
    assert value("alice.add") == alice_id
    assert value("alice.notes.added") == ["alice from python"]
    assert value("bob.add") == bob_id
    assert value("bob.notes.added") == ["bob from python"]
    assert value("alice.act") == {"me": alice_id, "via_query": alice_id}
    assert value("bob.query") == bob_id
    assert owners_of(server, "alice from python") == [alice_id]
    assert owners_of(server, "bob from python") == [bob_id]
    # clear_auth: the subscriptions follow, and calls are anonymous; bob is unaffected.
    assert value("cleared.sub") is None
    assert value("cleared.notes") == []
    assert value("cleared.query") is None
    assert value("cleared.add") == "anonymous"
    assert value("bob.after") == bob_id


class RecordingProxy:
    """A TCP proxy in front of the server that keeps what the server sent on each connection
    (sync frames from the server are not masked, and livebase does not compress them, so
    their JSON appears as is in the bytes)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.received: list[bytearray] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            got = bytearray()
            with self._lock:
                # A client (the Rust one reconnects for ever) may arrive as the proxy stops:
                # its sockets must not outlive the proxy unclosed.
                if self._stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self.received.append(got)
                self._sockets += [client, upstream]
                for src, dst, keep in ((client, upstream, None), (upstream, client, got)):
                    pump = threading.Thread(target=self._pump, args=(src, dst, keep), daemon=True)
                    pump.start()
                    self._threads.append(pump)

    def _pump(self, src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if keep is not None:
                    with self._lock:
                        keep.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def auth_errors(self) -> list[list[dict[str, Any]]]:
        """Per connection, the AuthError messages the server sent on it."""
        with self._lock:
            streams = [bytes(got) for got in self.received]
        return [
            [json.loads(m) for m in re.findall(rb'\{[^{}]*"AuthError"[^{}]*\}', stream)]
            for stream in streams
        ]

    def __enter__(self) -> RecordingProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stopped.set()
        self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            sock.close()
        for thread in threads:
            thread.join(timeout=5)


def test_python_client_with_a_refused_token_gets_auth_error(
    server: LivebaseServer, issuer: OidcIssuer
) -> None:
    """The Rust client replays a refused token and reconnects for ever (reference §7.1): the
    server answers each attempt with AuthError naming the reason and closes the socket. The
    test watches the wire through a proxy and ends the client once two sockets in a row got
    AuthError; the server serves others meanwhile."""
    sub = f"late-{uuid.uuid4().hex[:8]}"
    expired = issuer.token(now=time.time() - 7200, sub=sub)
    with RecordingProxy(server.port) as proxy:
        command = [sys.executable, str(PY_SCENARIO), "bad_token", proxy.url,
                   json.dumps({"token": expired})]  # fmt: skip
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_py_env()
        )
        try:
            deadline = time.monotonic() + SCENARIO_TIMEOUT
            answered: list[list[dict[str, Any]]] = []
            while time.monotonic() < deadline and proc.poll() is None:
                answered = [errors for errors in proxy.auth_errors() if errors]
                if len(answered) >= 2:
                    break
                time.sleep(0.05)
            # Meanwhile the server answers others as usual.
            good = issuer.token(now=time.time(), sub=sub)
            response = httpx.post(
                f"{server.url}/api/query",
                json={"path": "who:me", "args": {}, "format": "json"},
                headers={"authorization": f"Bearer {good}"},
                timeout=30,
            )
        finally:
            proc.kill()
            out, err = proc.communicate(timeout=30)
    why = f"AuthErrors per socket: {answered}\n{out}\n{err[-3000:]}\n{server.log_text()[-3000:]}"
    assert len(answered) >= 2, why
    for errors in answered:
        # One AuthError per socket, for the Authenticate it opened with.
        assert len(errors) == 1, why
        error = errors[0]
        assert error["authUpdateAttempted"] is True and error["baseVersion"] == 0, why
        assert "expired" in error["error"] and expired not in error["error"], why
    assert response.json()["value"] == oidc_id(issuer, sub)
    steps = _steps(out)
    assert "set_auth" in steps, why
    # The query never ran as anyone: it was never answered.
    assert "query" not in steps, why
    assert "user token refused (expired)" in server.log_text()
    assert expired not in server.log_text()
    print(f"sockets the server answered with AuthError: {len(answered)}: {answered[0]}")


# -- a token refused mid-session: the subscriptions go on -----------------------------------


def test_ws_client_subscriptions_keep_working_after_a_refused_token(
    server: LivebaseServer, issuer: OidcIssuer, js_client_dir: Path
) -> None:
    """npm ``ConvexClient`` signed in, subscribed; its fetcher then hands out an expired token
    (refused with AuthError, the socket closed) and then none: the client goes on signed out and
    every subscription keeps delivering, live, on the new socket."""
    user = f"ivy-{uuid.uuid4().hex[:8]}"
    now = time.time()
    config = {
        "url": server.url,
        "good": issuer.token(now=now, sub=user),
        "refused": issuer.token(now=now - 7200, sub=user),
    }
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "auth_ws_scenario.mjs", json.dumps(config)],
        cwd=js_client_dir, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ok"], json.dumps(out, indent=1)
    assert out["refusedGiven"] is True  # the expired token was sent, and refused
    assert out["signedInAs"] == oidc_id(issuer, user)
    assert out["seen"]["auth"][0] is True and out["seen"]["auth"][-1] is False
    assert out["meAfter"] is None and out["seen"]["errors"] == []
    assert out["afterRefusalWriteAs"] == "anonymous"
    assert owners_of(server, "before the refusal") == [oidc_id(issuer, user)]
    assert "refused (expired)" in server.log_text()
