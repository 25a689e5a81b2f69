"""Livebase's own browser client (``/_livebase/client.js``) signed in with a token fetcher, the
way the official Convex clients take one: ``setAuth(fetchToken, onChange)``.

A real server whose app trusts a local OIDC issuer; ``browser_client_auth.mjs`` runs the client
as served, in Node, with the ``ws`` WebSocket (recording every socket and what went over it),
and its fetcher gets tokens minted here (``TokenHost``: any lifetime, or a wrong audience, which
the server refuses). Proves: sign-in with onChange(true), refresh ahead of expiry on one socket,
a refused token fetched again once then signed out (subscriptions still live) or signed in,
``setAuth(null)``, and the plain string form.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.conftest import TEST_ADMIN_KEY
from tests.support.oidc_issuer import OidcIssuer
from tests.support.server import LivebaseServer
from tests.support.signed_in import serve_signed_in_app

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parent / "browser_client_auth.mjs"
SHORT_TTL = 5  # seconds: the refresh scenario's tokens
MIN_REFRESHES = 2

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
                    {"run": v.string(), "owner": v.optional(v.string()), "body": v.string()}
                ).index("by_run", ["run"]),
            }
        )
    """,
    "who.py": """
        from livebase import query


        @query
        def me(ctx):
            who = ctx.auth.get_user_identity()
            return None if who is None else who.token_identifier
    """,
    "notes.py": """
        from livebase import mutation, query


        def caller(ctx):
            who = ctx.auth.get_user_identity()
            return None if who is None else who.token_identifier


        def of_run(ctx, run):
            return ctx.db.query("notes").with_index("by_run", lambda q: q.eq("run", run)).collect()


        @mutation
        def add(ctx, run: str, body: str) -> str:
            owner = caller(ctx)
            row = {"run": run, "body": body}
            if owner is not None:
                row["owner"] = owner
            ctx.db.insert("notes", row)
            return owner or "anonymous"


        @query
        def mine(ctx, run: str) -> list:
            owner = caller(ctx)
            return [n["body"] for n in of_run(ctx, run) if owner and n.get("owner") == owner]


        @query
        def everyone(ctx, run: str) -> list:
            return [n["body"] for n in of_run(ctx, run)]
    """,
}


class TokenHost:
    """``GET /token?sub=..&ttl=..&kind=good|wrong-aud``: a token from ``issuer`` for ``sub``
    living ``ttl`` s (``wrong-aud``: for another application, which the server refuses). Each
    mint is kept in ``mints`` (``t`` and ``exp`` in ``time.time()`` seconds)."""

    def __init__(self, issuer: OidcIssuer) -> None:
        self.issuer = issuer
        self.mints: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                body = host.mint(query["sub"], float(query["ttl"]), query["kind"]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/token"

    def mint(self, sub: str, ttl: float, kind: str) -> str:
        now = time.time()
        aud = {"good": self.issuer.application_id, "wrong-aud": "someone-else"}[kind]
        # A nonce: two tokens minted in the same second still differ.
        token = self.issuer.token(now=now, sub=sub, ttl=ttl, aud=aud, jti=uuid.uuid4().hex)
        with self._lock:
            self.mints.append({"sub": sub, "kind": kind, "t": now, "exp": int(now + ttl)})
        return token

    def of(self, sub: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted((m for m in self.mints if m["sub"] == sub), key=lambda m: m["t"])

    def __enter__(self) -> TokenHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def tokens(issuer: OidcIssuer) -> Iterator[TokenHost]:
    with TokenHost(issuer) as host:
        yield host


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: OidcIssuer
) -> Iterator[LivebaseServer]:
    with serve_signed_in_app(
        tmp_path_factory.mktemp("browser-client-auth"), APP, issuer,
        admin_key=TEST_ADMIN_KEY, email="ann@example.com", password="correct horse battery",
    ) as s:  # fmt: skip
        yield s


def run_scenario(
    scenario: str,
    server: LivebaseServer,
    issuer: OidcIssuer,
    tokens: TokenHost,
    tmp_path: Path,
    js_client_dir: Path,  # the ws package comes from its node_modules
    **extra: Any,
) -> tuple[dict[str, Any], str]:
    """Run one scenario of the script for a new user; its observations, and the user's id."""
    sub = f"{scenario}-{uuid.uuid4().hex[:8]}"
    me = f"{issuer.url}|{sub}"
    config = {"scenario": scenario, "url": server.url, "tokenUrl": tokens.url, "sub": sub,
              "me": me, "run": sub, **extra}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    node = shutil.which("node")
    assert node is not None and (js_client_dir / "node_modules" / "ws").is_dir()
    done = subprocess.run(
        [node, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    out: dict[str, Any] = json.loads(lines[-1])
    out["sub"] = sub
    out["stderr"] = done.stderr[-3000:]
    out["serverLog"] = server.log_text()[-3000:]
    assert out["ok"], json.dumps(out, indent=1)
    return out, me


def authenticates(socket: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in socket["sent"] if m["type"] == "Authenticate"]


def assert_authenticate_first(out: dict[str, Any]) -> None:
    """On every socket with a user token, its Authenticate went right after Connect: no query
    or mutation went out before it (they would run as nobody)."""
    for socket in out["sockets"]:
        types = [m["type"] for m in socket["sent"]]
        if any(m["tokenType"] == "User" for m in authenticates(socket)):
            assert types[:2] == ["Connect", "Authenticate"], json.dumps(out, indent=1)


def test_fetcher_signs_in_set_auth_null_signs_out_and_a_string_token_still_works(
    server: LivebaseServer, issuer: OidcIssuer, tokens: TokenHost, tmp_path: Path,
    js_client_dir: Path,
) -> None:  # fmt: skip
    out, me = run_scenario("sign_in", server, issuer, tokens, tmp_path, js_client_dir)
    why = json.dumps(out, indent=1)
    # setAuth(fetcher): called once, not forced; the server accepted the token: onChange(true).
    assert [f["forceRefreshToken"] for f in out["fetches"]] == [False], why
    assert out["changesSignedIn"] == [True], why
    # The queries waited for the token: who:me was never answered anonymously first.
    assert out["meFirst"] == me, why
    assert out["addedAs"] == me, why
    # setAuth(null): who:me back to null, writes are anonymous, notes:mine empty.
    assert out["meAfterSignOut"] is None and out["addedAfterSignOut"] == "anonymous", why
    assert out["mineAfterSignOut"] == [], why
    # The string form: signed in again; it calls neither the fetcher nor onChange.
    assert out["meString"] == me and out["addedString"] == me, why
    assert out["changesEnd"] == [True] and len(out["fetches"]) == 1, why
    # All on one socket, never refused.
    assert len(out["sockets"]) == 1, why
    socket = out["sockets"][0]
    assert socket["authErrors"] == [], why
    assert [(a["baseVersion"], a["tokenType"]) for a in authenticates(socket)] == [
        (0, "User"), (1, "None"), (2, "User")
    ], why  # fmt: skip
    assert_authenticate_first(out)
    assert out["seen"]["errors"] == [], why


def test_short_lived_tokens_are_refreshed_ahead_of_expiry_on_one_socket(
    server: LivebaseServer, issuer: OidcIssuer, tokens: TokenHost, tmp_path: Path,
    js_client_dir: Path,
) -> None:  # fmt: skip
    out, me = run_scenario(
        "refresh", server, issuer, tokens, tmp_path, js_client_dir,
        ttl=SHORT_TTL, minRefreshes=MIN_REFRESHES, deadlineMs=30_000,
    )  # fmt: skip
    why = json.dumps(out, indent=1)
    forced = [f["forceRefreshToken"] for f in out["fetches"]]
    assert forced[0] is False and all(forced[1:]) and len(forced) >= MIN_REFRESHES + 2, why
    # One socket the whole time; the server never had to end the identity.
    assert len(out["sockets"]) == 1, why
    socket = out["sockets"][0]
    assert socket["authErrors"] == [], why
    bases = [(a["baseVersion"], a["tokenType"]) for a in authenticates(socket)]
    assert bases == [(i, "User") for i in range(len(bases))], why
    # Subscriptions kept updating after the refreshes, and the user never left.
    assert out["refreshesBeforeWrite"] >= MIN_REFRESHES, why
    assert out["addedAs"] == me and out["addedEnd"] == me and out["meEnd"] == me, why
    assert set(out["meSinceSignIn"]) == {me}, why
    # onChange(true) once: a refresh accepted is no change.
    assert [c["isAuthenticated"] for c in out["authChanges"]] == [True], why
    assert out["seen"]["errors"] == [], why
    # Each token was fetched before the one it replaced expired.
    mints = tokens.of(out["sub"])
    spare = [prev["exp"] - nxt["t"] for prev, nxt in itertools.pairwise(mints)]
    assert len(mints) == len(forced) and min(spare) > 0, (mints, why)
    print(
        f"{len(forced) - 1} refreshes in {out['sockets'][0]['identities'][-1]} identity versions;"
        f" least time to spare before a token expired {min(spare):.2f} s"
    )


@pytest.mark.parametrize(
    ("plan", "signed_in"),
    [
        (["wrong-aud", "null"], False),
        (["wrong-aud", "throw"], False),
        (["wrong-aud", "wrong-aud"], False),
        (["wrong-aud", "good"], True),
    ],
    ids=["then-null", "then-throw", "then-refused-again", "then-good"],
)
def test_a_refused_token_is_fetched_again_once(
    plan: list[str], signed_in: bool,
    server: LivebaseServer, issuer: OidcIssuer, tokens: TokenHost, tmp_path: Path,
    js_client_dir: Path,
) -> None:  # fmt: skip
    out, me = run_scenario("refused", server, issuer, tokens, tmp_path, js_client_dir, plan=plan)
    why = json.dumps(out, indent=1)
    # The refused token is fetched again, forced, once; then nothing more.
    assert [(f["forceRefreshToken"], f["kind"]) for f in out["fetches"]] == [
        (False, plan[0]), (True, plan[1])
    ], why  # fmt: skip
    assert out["quiet"] is True, why
    errors = [e for s in out["sockets"] for e in s["authErrors"]]
    refused = 2 if plan[1] == "wrong-aud" else 1
    assert len(errors) == refused, why
    assert all(e["authUpdateAttempted"] is True for e in errors), why
    # Each refusal closed its socket; the client went on with a new one.
    assert len(out["sockets"]) == refused + 1, why
    assert_authenticate_first(out)
    # onChange told the outcome once.
    assert [c["isAuthenticated"] for c in out["authChanges"]] == [signed_in], why
    # The subscriptions deliver on the last socket, as the user or anonymously.
    assert out["me"] == (me if signed_in else None), why
    assert out["addedAs"] == (me if signed_in else "anonymous"), why
    assert out["mine"] == (["after the refusal"] if signed_in else []), why
    assert out["everyone"] == ["after the refusal"], why
    assert out["seen"]["errors"] == [], why
    last = out["sockets"][-1]
    assert [a["tokenType"] for a in authenticates(last)] == (["User"] if signed_in else []), why
    assert "refused" in server.log_text()
