"""Issuers' keys: fetched once, refreshed on a rotation, never hammered, kept while the issuer
is down. The issuer is real (HTTP on 127.0.0.1) and counts what it serves; the clock is
injected, so "30 s later" is exact and nothing sleeps."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable

import pytest

from livebase.auth.keys import PublishedKeys, fetch_url
from livebase.auth.providers import CustomJwtProvider, OidcProvider
from livebase.auth.verifier import Verifier
from livebase.errors import InvalidTokenError
from tests.support.oidc_issuer import OidcIssuer

from .conftest import Clock
from .test_verifier import _with_header

JWKS = "/jwks.json"
DISCOVERY = "/.well-known/openid-configuration"


async def _outcome(verifier: Verifier, token: str) -> str:
    """``"ok"``, or the reason the token was refused."""
    try:
        await verifier.verify(token)
    except InvalidTokenError as exc:
        return exc.reason
    return "ok"


def _run(verifier: Verifier, token: str) -> str:
    return asyncio.run(_outcome(verifier, token))


def test_keys_are_fetched_once_then_cached(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    for _ in range(5):
        assert _run(verifier, issuer.token(now=clock())) == "ok"
        clock.advance(600)
    assert issuer.fetches == {DISCOVERY: 1, JWKS: 1}


def test_a_cold_start_under_load_fetches_once(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    tokens = [issuer.token(now=clock(), sub=f"user-{i}") for i in range(20)]

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(_outcome(verifier, t) for t in tokens))

    assert asyncio.run(all_at_once()) == ["ok"] * 20
    assert issuer.fetches == {DISCOVERY: 1, JWKS: 1}


def test_key_rotation_mid_test(issuer: OidcIssuer, verifier: Verifier, clock: Clock) -> None:
    async def scenario() -> None:
        first = issuer.signing_kid
        assert await _outcome(verifier, issuer.token(now=clock())) == "ok"
        assert issuer.fetches[JWKS] == 1

        # The issuer starts signing with a new key: one refetch, and the token is accepted.
        clock.advance(60)
        second = issuer.rotate("EC")
        assert await _outcome(verifier, issuer.token(now=clock())) == "ok"
        assert issuer.fetches[JWKS] == 2
        assert await _outcome(verifier, issuer.token(now=clock(), kid=first)) == "ok"
        assert issuer.fetches[JWKS] == 2

        # Rotated again within min_refresh_seconds of the last fetch: the new key waits ...
        clock.advance(10)
        signed_with_first = issuer.token(now=clock(), kid=first, ttl=7200)
        issuer.retire_key(first)
        issuer.rotate("RSA")
        assert await _outcome(verifier, issuer.token(now=clock())) == "unknown_kid"
        assert issuer.fetches[JWKS] == 2
        # ... until the window has passed.
        clock.advance(21)
        assert await _outcome(verifier, issuer.token(now=clock())) == "ok"
        assert await _outcome(verifier, issuer.token(now=clock(), kid=second)) == "ok"
        assert issuer.fetches[JWKS] == 3
        # The retired key went with that refresh; the discovery document was read once.
        assert await _outcome(verifier, signed_with_first) == "unknown_kid"
        assert verifier.key_sets[f"oidc:{issuer.url}"].refreshes == 3
        assert issuer.fetches == {DISCOVERY: 1, JWKS: 3}

    asyncio.run(scenario())


def test_a_flood_of_unknown_kids_fetches_at_most_once_per_window(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    good = issuer.token(now=clock())
    assert _run(verifier, good) == "ok"
    clock.advance(31)
    flood = [_with_header(good, kid=f"made-up-{i}") for i in range(50)]

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(_outcome(verifier, t) for t in flood))

    assert asyncio.run(all_at_once()) == ["unknown_kid"] * 50
    assert issuer.fetches[JWKS] == 2  # the first fetch, and one refresh for all 50
    # Sequentially, for the rest of the window: no fetch at all.
    for token in flood[:10]:
        clock.advance(2)
        assert _run(verifier, token) == "unknown_kid"
    assert issuer.fetches[JWKS] == 2
    clock.advance(11)  # 31 s since the refresh
    assert _run(verifier, flood[0]) == "unknown_kid"
    assert issuer.fetches[JWKS] == 3
    assert _run(verifier, good) == "ok"


def test_issuer_down_with_cached_keys_still_verifies(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    assert _run(verifier, issuer.token(now=clock())) == "ok"
    issuer.down = True
    clock.advance(3600)
    assert _run(verifier, issuer.token(now=clock())) == "ok"
    assert issuer.fetches == {DISCOVERY: 1, JWKS: 1}

    # A new key while it is down cannot be fetched; the cached ones keep working.
    clock.advance(60)
    with caplog.at_level(logging.WARNING, logger="livebase.auth"):
        issuer.rotate()
        with pytest.raises(InvalidTokenError) as raised:
            asyncio.run(verifier.verify(issuer.token(now=clock())))
    assert raised.value.reason == "issuer_unreachable"
    assert "503" in raised.value.message
    assert "keeping the keys fetched before" in caplog.text
    assert issuer.fetches[JWKS] == 2
    old = next(kid for kid in issuer.keys if kid != issuer.signing_kid)
    assert _run(verifier, issuer.token(now=clock(), kid=old)) == "ok"

    # Back up: the new key is fetched once the window has passed.
    issuer.down = False
    clock.advance(30)
    assert _run(verifier, issuer.token(now=clock())) == "ok"
    assert issuer.fetches[JWKS] == 3


def test_an_issuer_down_from_the_start_is_asked_again_only_after_the_window(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    issuer.down = True
    token = issuer.token(now=clock(), ttl=7200)
    assert _run(verifier, token) == "issuer_unreachable"
    assert _run(verifier, token) == "issuer_unreachable"
    assert issuer.fetches == {DISCOVERY: 1}
    issuer.down = False
    clock.advance(29)
    assert _run(verifier, token) == "issuer_unreachable"
    clock.advance(1)
    assert _run(verifier, token) == "ok"
    assert issuer.fetches == {DISCOVERY: 2, JWKS: 1}


def test_a_discovery_document_for_another_issuer_is_refused(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    issuer.discovery_issuer = "https://impostor.example.com"
    with pytest.raises(InvalidTokenError) as raised:
        asyncio.run(verifier.verify(issuer.token(now=clock())))
    assert raised.value.reason == "issuer_unreachable"
    assert "'https://impostor.example.com'" in raised.value.message
    assert issuer.fetches == {DISCOVERY: 1}  # its jwks_uri is not followed


def test_an_issuer_under_a_path(make_verifier: Callable[..., Verifier], clock: Clock) -> None:
    with OidcIssuer(path="/realms/main") as issuer:
        verifier = make_verifier(OidcProvider(issuer.url, issuer.application_id))
        assert _run(verifier, issuer.token(now=clock())) == "ok"
        assert issuer.fetches == {f"/realms/main{DISCOVERY}": 1, f"/realms/main{JWKS}": 1}


def test_custom_jwt_keys_from_a_data_uri(
    issuer: OidcIssuer, make_verifier: Callable[..., Verifier], clock: Clock
) -> None:
    jwks = base64.b64encode(json.dumps(issuer.jwks()).encode()).decode()
    uri = f"data:text/plain;charset=utf-8;base64,{jwks}"
    verifier = make_verifier(CustomJwtProvider(issuer.url, uri, "RS256"))
    assert _run(verifier, issuer.token(now=clock())) == "ok"
    assert issuer.fetches == {}


def test_published_keys_skip_what_cannot_sign(issuer: OidcIssuer) -> None:
    rsa, ec = issuer.signing_kid, issuer.add_key("EC")
    document = issuer.jwks()
    document["keys"] += [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},  # a shared secret: never a signing key
        {**document["keys"][0], "kid": "for-encryption", "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "not base64!", "e": "AQAB"},
        {"kty": "PQ", "kid": "from-the-future"},
        "not even an object",
    ]
    keys = PublishedKeys.from_jwks(json.dumps(document).encode(), "the test")
    assert keys.kids == [rsa, ec]
    assert keys.find(rsa, "RSA") is not None and keys.find(ec, "EC") is not None
    assert keys.find("hmac", "RSA") is None
    # No kid: the only key of the algorithm's type, if there is exactly one.
    assert keys.find(None, "EC") is keys.find(ec, "EC")
    issuer.add_key("EC")
    assert PublishedKeys.from_jwks(issuer.jwks(), "the test").find(None, "EC") is None
    for bad, says in [(b"<html>", "not JSON"), (b"[]", "not a JWKS"), (b'{"keys": []}', "no RSA")]:
        with pytest.raises(ValueError, match=says):
            PublishedKeys.from_jwks(bad, "the test")


def test_published_private_members_are_dropped(issuer: OidcIssuer) -> None:
    private = dict(issuer.keys[issuer.signing_kid].as_dict(private=True))
    keys = PublishedKeys.from_jwks({"keys": [private]}, "the test")
    key = keys.find(issuer.signing_kid, "RSA")
    assert key is not None and not key.is_private


def test_the_default_fetch_gets_documents_over_http(issuer: OidcIssuer) -> None:
    assert json.loads(asyncio.run(fetch_url(issuer.jwks_url))) == issuer.jwks()
    with pytest.raises(OSError):
        asyncio.run(fetch_url(issuer.url + "/missing"))
    with pytest.raises(ValueError, match="not an http"):
        asyncio.run(fetch_url("file:///etc/passwd"))
