"""Verifying user tokens from a real OIDC issuer: what is accepted, and every refusal by reason.

Tokens are signed with real RSA and EC keys by ``tests.support.oidc_issuer`` and checked
against keys fetched over real HTTP; the clock is injected, so expiry is exact and nothing
sleeps. Every refusal must name its reason, and neither its message nor the log may contain
the token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from livebase.auth.identity import Identity
from livebase.auth.providers import BuiltinProvider, CustomJwtProvider, OidcProvider
from livebase.auth.verifier import MAX_TOKEN_BYTES, SIGNATURE_MEMORY_SECONDS, Verifier
from livebase.errors import InvalidTokenError, UnauthenticatedError
from tests.support.oidc_issuer import OidcIssuer

from .conftest import Clock

MakeVerifier = Callable[..., Verifier]


def _verify(verifier: Verifier, token: str) -> Identity:
    return asyncio.run(verifier.verify(token))


def _refused(
    verifier: Verifier, token: str, reason: str, caplog: pytest.LogCaptureFixture
) -> InvalidTokenError:
    """The refusal of ``token``, checked to name ``reason`` and to leak no part of the token."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="livebase.auth"):
        with pytest.raises(InvalidTokenError) as raised:
            _verify(verifier, token)
    error = raised.value
    assert error.reason == reason, error.message
    assert error.code == "InvalidToken" and error.http_status == 401
    assert isinstance(error, UnauthenticatedError)
    refusals = [r for r in caplog.records if r.getMessage().startswith("user token refused")]
    assert len(refusals) == 1 and refusals[0].levelno == logging.INFO
    assert f"({reason})" in refusals[0].getMessage()
    for text in (error.message, str(error), caplog.text):
        assert token not in text
        for part in token.split("."):
            if len(part) >= 16:  # a header, payload or signature segment
                assert part not in text
    return error


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _claims(issuer: OidcIssuer, clock: Clock, sub: str) -> dict[str, Any]:
    """Claims the issuer would sign for ``sub`` now."""
    return {
        "iss": issuer.url,
        "sub": sub,
        "aud": issuer.application_id,
        "iat": int(clock()),
        "exp": int(clock() + 3600),
    }


def _with_header(token: str, **changes: Any) -> str:
    """``token`` with its header changed and its payload and signature kept."""
    head, body, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    return f"{_b64(json.dumps(header).encode())}.{body}.{signature}"


# -- accepted ----------------------------------------------------------------------------------


def test_rs256_token_gives_the_identity_with_standard_and_custom_claims(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    token = issuer.token(
        now=clock(),
        sub="user-42",
        name="Ada Lovelace",
        email="ada@example.com",
        email_verified=True,
        picture="https://example.com/ada.png",
        org="analytical-engines",
        properties={"id": "123", "favoriteColor": "green"},
    )
    identity = _verify(verifier, token)
    assert identity.subject == "user-42"
    assert identity.issuer == issuer.url
    assert identity.token_identifier == f"{issuer.url}|user-42"
    assert identity.name == "Ada Lovelace"
    assert identity.email == "ada@example.com"
    assert identity.email_verified is True
    assert identity.picture == "https://example.com/ada.png"
    assert identity["org"] == "analytical-engines"
    assert identity.get("properties.id") == "123"
    assert identity.claims["exp"] == int(clock() + 3600)
    assert identity.expires_at == clock() + 3600
    wire = identity.to_wire()
    assert wire["tokenIdentifier"] == f"{issuer.url}|user-42"
    assert wire["pictureUrl"] == "https://example.com/ada.png"
    assert wire["emailVerified"] is True
    assert wire["properties.favoriteColor"] == "green"


def test_es256_token_is_accepted(issuer: OidcIssuer, verifier: Verifier, clock: Clock) -> None:
    issuer.rotate("EC")
    identity = _verify(verifier, issuer.token(now=clock(), sub="ec-user", org="acme"))
    assert identity.token_identifier == f"{issuer.url}|ec-user"
    assert identity["org"] == "acme"
    assert identity.name is None and identity.email is None and identity.picture is None


@pytest.mark.parametrize("kty", ["RSA", "EC"])
def test_custom_jwt_provider_with_its_algorithm(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock, kty: Any
) -> None:
    kid = issuer.rotate(kty)
    algorithm = "RS256" if kty == "RSA" else "ES256"
    verifier = make_verifier(CustomJwtProvider(issuer.url, issuer.jwks_url, algorithm, "app-x"))
    token = issuer.token(now=clock(), sub="custom", aud=["other", "app-x"])
    assert _verify(verifier, token).subject == "custom"
    # Straight to the key set: no discovery document for a custom JWT issuer.
    assert issuer.fetches == {"/jwks.json": 1}
    assert kid in issuer.keys


def test_custom_jwt_without_application_id_accepts_any_audience(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(CustomJwtProvider(issuer.url, issuer.jwks_url, "RS256"))
    assert _verify(verifier, issuer.token(now=clock(), aud=None)).subject == "user-1"
    assert _verify(verifier, issuer.token(now=clock(), aud="anything")).subject == "user-1"


def test_oidc_domain_and_iss_may_differ_by_a_trailing_slash(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(OidcProvider(issuer.url + "/", issuer.application_id))
    assert _verify(verifier, issuer.token(now=clock())).issuer == issuer.url
    assert _verify(verifier, issuer.token(now=clock(), iss=issuer.url + "/")).subject == "user-1"


def test_two_providers_on_one_issuer_for_two_applications(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(OidcProvider(issuer.url, "web"), OidcProvider(issuer.url, "mobile"))
    assert _verify(verifier, issuer.token(now=clock(), aud="mobile")).subject == "user-1"
    assert _verify(verifier, issuer.token(now=clock(), aud="web")).subject == "user-1"
    assert issuer.fetches["/jwks.json"] == 1  # one key set for both


def test_clock_skew_within_the_leeway_is_tolerated(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock
) -> None:
    expired_just_now = issuer.token(now=clock() - 3600 - 4)
    assert _verify(verifier, expired_just_now).subject == "user-1"
    issued_a_bit_ahead = issuer.token(now=clock() + 4, nbf=int(clock() + 4))
    assert _verify(verifier, issued_a_bit_ahead).subject == "user-1"


# -- refused -----------------------------------------------------------------------------------


def test_expired(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(now=clock() - 3600 - 5, ttl=3600)  # expired 5 s ago, leeway 5 s
    assert _verify(verifier, token)
    clock.advance(1)
    error = _refused(verifier, token, "expired", caplog)
    assert "expired at 2026-12-04T09:59:55Z" in error.message
    assert "refresh" in error.message


def test_not_yet_valid(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    later = issuer.token(now=clock(), nbf=int(clock() + 60))
    error = _refused(verifier, later, "not_yet_valid", caplog)
    assert "not valid before 2026-12-04T10:01:00Z" in error.message
    issued_in_future = issuer.token(now=clock() + 600)
    error = _refused(verifier, issued_in_future, "not_yet_valid", caplog)
    assert "in the future" in error.message


def test_wrong_issuer(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(now=clock(), iss="https://evil.example.com")
    error = _refused(verifier, token, "wrong_issuer", caplog)
    assert "'https://evil.example.com'" in error.message
    assert repr(issuer.url) in error.message  # the issuers it does trust
    assert "issuer 'https://evil.example.com'" in caplog.text
    assert issuer.fetches == {}  # an untrusted issuer costs no fetch


def test_wrong_audience(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refused(
        verifier, issuer.token(now=clock(), aud="someone-else"), "wrong_audience", caplog
    )
    assert "'someone-else'" in error.message and repr(issuer.application_id) in error.message
    _refused(verifier, issuer.token(now=clock(), aud=None), "wrong_audience", caplog)
    _refused(verifier, issuer.token(now=clock(), aud=["a", "b"]), "wrong_audience", caplog)


def test_unknown_kid(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    retired = issuer.add_key("RSA", kid="never-published")
    token = issuer.token(now=clock(), kid=retired)
    issuer.retire_key(retired)
    error = _refused(verifier, token, "unknown_kid", caplog)
    assert "'never-published'" in error.message
    assert repr(issuer.signing_kid) in error.message  # the keys the issuer does publish
    assert "kid 'never-published'" in caplog.text


def test_alg_none_is_refused_before_any_key_is_looked_at(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    claims = _claims(issuer, clock, sub="admin")
    for alg in ("none", "None", "NONE"):
        forged = _forge({"alg": alg, "typ": "JWT"}, claims)
        error = _refused(verifier, forged, "alg_not_allowed", caplog)
        assert "not signed" in error.message
    assert issuer.fetches == {}


def test_hs256_signed_with_the_issuers_public_key_is_refused(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # The classic forgery: the public key, which anyone can fetch, used as an HMAC secret.
    public_pem = issuer.keys[issuer.signing_kid].as_pem(private=False)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.signing_kid}
    claims = _claims(issuer, clock, sub="admin")
    unsigned = _forge(header, claims).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    error = _refused(verifier, f"{unsigned}.{_b64(mac)}", "alg_not_allowed", caplog)
    assert "HS256" in error.message and "shared-secret" in error.message
    for alg in ("HS512", "RS512", "PS256", "EdDSA"):
        _refused(verifier, _forge({**header, "alg": alg}, claims), "alg_not_allowed", caplog)


def test_custom_jwt_provider_refuses_the_other_algorithm(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = make_verifier(CustomJwtProvider(issuer.url, issuer.jwks_url, "ES256"))
    error = _refused(verifier, issuer.token(now=clock()), "alg_not_allowed", caplog)
    assert "RS256" in error.message and "ES256" in error.message


def test_truncated_tokens(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(now=clock())
    head, body, signature = token.split(".")
    error = _refused(verifier, f"{head}.{body[: len(body) // 2]}", "malformed", caplog)
    assert "cut short" in error.message
    _refused(verifier, head, "malformed", caplog)
    _refused(verifier, f"{head}.{body[:-7]}.{signature}", "malformed", caplog)
    # Cut inside the signature, the rest still parses: the signature no longer matches.
    _refused(verifier, f"{head}.{body}.{signature[:-10]}", "bad_signature", caplog)


def test_garbage_is_malformed(verifier: Verifier, caplog: pytest.LogCaptureFixture) -> None:
    garbage = [
        "not a token",
        "a.b.c",
        "..",
        "éé.éé.éé",
        "x" * (MAX_TOKEN_BYTES + 1),
        _forge({"typ": "JWT"}, {"sub": "x"}),  # no alg
        f"{_b64(b'[1]')}.{_b64(b'{}')}.sig",  # a header that is not an object
        _forge({"alg": "RS256"}, {}).split(".")[0] + f".{_b64(b'[1]')}.sig",  # claims: a list
    ]
    for token in garbage:
        _refused(verifier, token, "malformed", caplog)
    with pytest.raises(InvalidTokenError) as raised:
        _verify(verifier, "")
    assert raised.value.reason == "malformed"


def test_altered_claims_break_the_signature(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    head, _, signature = issuer.token(now=clock(), sub="alice").split(".")
    body = _b64(json.dumps(_claims(issuer, clock, sub="mallory")).encode())
    error = _refused(verifier, f"{head}.{body}.{signature}", "bad_signature", caplog)
    assert "altered" in error.message


def test_a_key_of_the_wrong_type_cannot_have_signed(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    rsa_kid = issuer.signing_kid
    issuer.rotate("EC")
    token = _with_header(issuer.token(now=clock()), kid=rsa_kid)  # ES256 naming an RSA key
    error = _refused(verifier, token, "bad_signature", caplog)
    assert "RSA key" in error.message


def test_missing_claims_are_malformed(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for missing, token in [
        ("no exp", issuer.token(now=clock(), exp=None)),
        ("no sub", issuer.token(now=clock(), sub="")),
        ("no iss", issuer.token(now=clock(), iss=None)),
    ]:
        assert missing in _refused(verifier, token, "malformed", caplog).message
    _refused(verifier, issuer.token(now=clock(), exp="tomorrow"), "malformed", caplog)
    _refused(verifier, issuer.token(now=clock(), nbf=True), "malformed", caplog)


def test_crit_headers_are_refused(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = _with_header(issuer.token(now=clock()), crit=["x-policy"], **{"x-policy": 1})
    _refused(verifier, token, "malformed", caplog)
    _refused(verifier, _with_header(issuer.token(now=clock()), b64=False), "malformed", caplog)


def test_an_app_without_providers_accepts_no_token(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refused(make_verifier(), issuer.token(now=clock()), "no_provider", caplog)
    assert "auth.py" in error.message


def test_an_unreachable_issuer(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    issuer.down = True
    error = _refused(verifier, issuer.token(now=clock()), "issuer_unreachable", caplog)
    assert "503" in error.message and issuer.url in error.message


# -- the built-in issuer -----------------------------------------------------------------------


class _BuiltinKeys:
    """The deployment's own issuer as the verifier sees it (``BuiltinKeys``), over a key of the
    test issuer; ``disabled`` holds the subjects whose accounts are off."""

    def __init__(self, keys: OidcIssuer, issuer: str = "http://127.0.0.1:3210/auth") -> None:
        self.keys = keys
        self._issuer = issuer
        self.disabled: set[str] = set()

    @property
    def issuer(self) -> str:
        return self._issuer

    def public_jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    def account_active(self, subject: str) -> bool:
        return subject not in self.disabled


def test_builtin_tokens_need_an_active_account(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    builtin = _BuiltinKeys(issuer)
    verifier = make_verifier(BuiltinProvider(), builtin=builtin)
    token = issuer.token(now=clock(), iss=builtin.issuer, sub="acct_1", aud=None)
    assert _verify(verifier, token).token_identifier == f"{builtin.issuer}|acct_1"
    builtin.disabled.add("acct_1")
    error = _refused(verifier, token, "account_disabled", caplog)
    assert "disabled" in error.message
    assert issuer.fetches == {}  # its keys are local

    # Rotated: a new key is picked up at once, a removed one no longer verifies.
    old = issuer.signing_kid
    issuer.rotate("EC")
    assert _verify(verifier, issuer.token(now=clock(), iss=builtin.issuer, sub="acct_2"))
    issuer.retire_key(old)
    stale = issuer.sign({"iss": builtin.issuer, "sub": "acct_2", "exp": int(clock() + 60)})
    assert _verify(verifier, stale).subject == "acct_2"
    _refused(verifier, _with_header(stale, kid=old), "unknown_kid", caplog)


def test_builtin_with_an_application_id_checks_the_audience(
    issuer: OidcIssuer, make_verifier: MakeVerifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    builtin = _BuiltinKeys(issuer)
    verifier = make_verifier(BuiltinProvider("web"), builtin=builtin)
    assert _verify(verifier, issuer.token(now=clock(), iss=builtin.issuer, aud="web"))
    other_app = issuer.token(now=clock(), iss=builtin.issuer, aud="cli")
    _refused(verifier, other_app, "wrong_audience", caplog)


def test_builtin_provider_without_builtin_keys_is_a_setup_error() -> None:
    with pytest.raises(ValueError, match="built-in"):
        Verifier([BuiltinProvider()])


def test_the_reason_must_be_a_known_tag() -> None:
    with pytest.raises(ValueError):
        InvalidTokenError("nope", "message")  # type: ignore[arg-type]


def test_a_remembered_signature_still_has_its_claims_checked_on_every_use(
    issuer: OidcIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A token's signature is checked once and remembered for SIGNATURE_MEMORY_SECONDS (a
    client sends the same token with every request); its expiry is checked every time, and a
    copy with another signature is checked in full."""
    token = issuer.token(now=clock(), ttl=30)
    assert _verify(verifier, token).subject == "user-1"
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    _refused(verifier, forged, "bad_signature", caplog)
    assert _verify(verifier, token).subject == "user-1"  # the forgery did not evict it
    clock.advance(31 + verifier.leeway_seconds)
    _refused(verifier, token, "expired", caplog)

    # Past the memory, the signature is checked again: with the key withdrawn and the issuer's
    # key set fetched anew, a token it signed no longer verifies.
    fresh = issuer.token(now=clock(), ttl=3600)
    assert _verify(verifier, fresh).subject == "user-1"
    old = issuer.signing_kid
    issuer.rotate()
    issuer.retire_key(old)
    clock.advance(SIGNATURE_MEMORY_SECONDS + 1)
    assert _verify(verifier, issuer.token(now=clock())).subject == "user-1"  # refetches keys
    _refused(verifier, fresh, "unknown_kid", caplog)
