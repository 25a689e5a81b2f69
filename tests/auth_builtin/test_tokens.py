"""Access tokens (ES256 JWTs) and rotating, revocable refresh tokens, on a fake clock."""

from __future__ import annotations

import hashlib

import pytest

from livebase.auth.builtin import BuiltinIssuer
from livebase.auth.builtin.tables import REFRESH_TOKENS
from livebase.errors import InvalidGrantError
from livebase.runtime import FakeRuntime
from livebase.storage import Storage

from .conftest import PASSWORD, IssuerFactory, run, verify


def sign_in(issuer: BuiltinIssuer, email: str = "alice@example.com") -> dict[str, object]:
    if issuer.accounts.by_email(email) is None:
        run(issuer.accounts.add(email, PASSWORD))
    return run(issuer.sign_in(email, PASSWORD, "198.51.100.1")).to_json()


def refused(issuer: BuiltinIssuer, refresh_token: object) -> InvalidGrantError:
    with pytest.raises(InvalidGrantError) as info:
        run(issuer.tokens.refresh(str(refresh_token)))
    return info.value


def test_sign_in_answers_the_oauth_token_response(issuer: BuiltinIssuer) -> None:
    answer = sign_in(issuer)
    assert set(answer) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 900
    assert str(answer["refresh_token"]).startswith("lbrt_")


def test_access_token_claims(issuer: BuiltinIssuer, clock: FakeRuntime) -> None:
    answer = sign_in(issuer)
    now = clock.now_ns // 10**9
    claims = verify(str(answer["access_token"]), issuer.public_jwks(), now)
    account = issuer.accounts.by_email("alice@example.com")
    assert account is not None
    assert claims == {
        "iss": "http://127.0.0.1:3999",
        "sub": account.subject,
        "aud": "livebase",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "email": "alice@example.com",
        "email_verified": False,
        "kid": issuer.keys.current.kid,
    }


def test_settings_name_the_issuer_audience_and_lifetime(make_issuer: IssuerFactory) -> None:
    issuer = make_issuer(auth_issuer="https://auth.example.com/", auth_access_token_seconds=60)
    issuer.audience = "notes-app"
    assert issuer.issuer == "https://auth.example.com"
    answer = sign_in(issuer)
    claims = verify(str(answer["access_token"]), issuer.public_jwks(), 1_700_000_000)
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        "https://auth.example.com",
        "notes-app",
        60,
    )
    assert answer["expires_in"] == 60


def test_only_the_hash_of_a_refresh_token_is_stored(
    issuer: BuiltinIssuer, storage: Storage
) -> None:
    refresh = str(sign_in(issuer)["refresh_token"])
    with storage.reader() as r:
        rows = {str(k): str(v) for k, v in r.dump("globals", None, 1000)}
    assert not any(refresh in k or refresh in v for k, v in rows.items())
    digest = hashlib.sha256(refresh.encode()).hexdigest()
    assert f"{REFRESH_TOKENS}:{digest}" in rows


def test_refresh_rotates_the_token(issuer: BuiltinIssuer, clock: FakeRuntime) -> None:
    first = sign_in(issuer)
    clock.advance(600)
    second = run(issuer.tokens.refresh(str(first["refresh_token"]))).to_json()
    assert second["refresh_token"] != first["refresh_token"]
    now = clock.now_ns // 10**9
    claims = verify(str(second["access_token"]), issuer.public_jwks(), now)
    assert claims["exp"] == now + 900 and claims["email"] == "alice@example.com"
    clock.advance(600)
    third = run(issuer.tokens.refresh(str(second["refresh_token"]))).to_json()
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_a_refresh_token_used_twice_revokes_its_whole_family(
    issuer: BuiltinIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    first = sign_in(issuer)
    other_session = sign_in(issuer)
    second = run(issuer.tokens.refresh(str(first["refresh_token"])))
    error = refused(issuer, first["refresh_token"])  # replayed: stolen, or a confused client
    assert error.code == "RefreshTokenReused"
    assert error.to_oauth_json() == {
        "error": "invalid_grant",
        "error_description": "the refresh token was already used, so it may have been stolen: "
        "the whole token family is revoked; sign in again",
    }
    # The legitimate holder's newer token is dead too: the family is revoked.
    error = refused(issuer, second.refresh_token)
    assert error.code == "RefreshTokenRevoked" and "it was used twice" in error.message
    # Another sign-in of the same account is another family, untouched.
    run(issuer.tokens.refresh(str(other_session["refresh_token"])))
    logged = caplog.text
    assert "used twice" in logged
    for token in (first["refresh_token"], second.refresh_token, second.access_token):
        assert str(token) not in logged


def test_revocation_ends_the_family_and_unknown_tokens_are_fine(issuer: BuiltinIssuer) -> None:
    first = sign_in(issuer)
    second = run(issuer.tokens.refresh(str(first["refresh_token"])))
    assert run(issuer.tokens.revoke(second.refresh_token))
    error = refused(issuer, second.refresh_token)
    assert error.code == "RefreshTokenRevoked" and "signed out" in error.message
    # Revoking again, an unknown token or an access token: nothing to do, no error.
    assert not run(issuer.tokens.revoke(second.refresh_token))
    assert not run(issuer.tokens.revoke("lbrt_nothing"))
    assert not run(issuer.tokens.revoke(second.access_token))


def test_a_disabled_account_cannot_refresh(issuer: BuiltinIssuer) -> None:
    answer = sign_in(issuer)
    run(issuer.accounts.set_disabled("alice@example.com", True))
    error = refused(issuer, answer["refresh_token"])
    assert error.code == "AccountDisabled"
    assert error.to_oauth_json()["error_description"] == "this account is disabled"
    # Enabling the account again does not bring the session back.
    run(issuer.accounts.set_disabled("alice@example.com", False))
    assert refused(issuer, answer["refresh_token"]).code == "RefreshTokenRevoked"


def test_a_password_reset_ends_older_sessions(issuer: BuiltinIssuer, clock: FakeRuntime) -> None:
    before = sign_in(issuer)
    clock.advance(1)
    run(issuer.accounts.reset_password("alice@example.com", "a brand new one"))
    clock.advance(1)
    error = refused(issuer, before["refresh_token"])
    assert error.code == "PasswordReset" and "password was reset" in error.message
    after = run(issuer.sign_in("alice@example.com", "a brand new one", None))
    run(issuer.tokens.refresh(after.refresh_token))


def test_an_expired_refresh_token_is_refused(issuer: BuiltinIssuer, clock: FakeRuntime) -> None:
    answer = sign_in(issuer)
    clock.advance(30 * 86400 - 1)
    fresh = run(issuer.tokens.refresh(str(answer["refresh_token"])))
    clock.advance(30 * 86400)
    error = refused(issuer, fresh.refresh_token)
    assert error.code == "RefreshTokenInvalid" and "expired" in error.message


def test_garbage_is_refused_as_not_valid(issuer: BuiltinIssuer) -> None:
    assert refused(issuer, "lbrt_forged").code == "RefreshTokenInvalid"
    assert refused(issuer, "\udcff not even text").code == "RefreshTokenInvalid"


def test_expired_rows_are_pruned(
    issuer: BuiltinIssuer, clock: FakeRuntime, storage: Storage
) -> None:
    def token_rows() -> list[str]:
        with storage.reader() as r:
            rows = r.dump("globals", None, 10_000)
        return [str(k) for k, _ in rows if str(k).startswith(REFRESH_TOKENS)]

    answer = sign_in(issuer)
    run(issuer.tokens.refresh(str(answer["refresh_token"])))
    assert len(token_rows()) > 0
    clock.advance(30 * 86400 - 10)
    assert run(issuer.tokens.prune()) == 0  # nothing has expired yet
    alive = sign_in(issuer, "bob@example.com")
    clock.advance(20)
    assert run(issuer.tokens.prune()) > 0
    left = token_rows()
    assert left and all("alice" not in k for k in left)
    run(issuer.tokens.refresh(str(alive["refresh_token"])))  # bob's family is untouched
    clock.advance(31 * 86400)
    run(issuer.tokens.prune())
    assert token_rows() == []


def test_tokens_survive_a_restart(make_issuer: IssuerFactory, clock: FakeRuntime) -> None:
    answer = sign_in(make_issuer())
    again = make_issuer()
    now = clock.now_ns // 10**9
    verify(str(answer["access_token"]), again.public_jwks(), now)
    run(again.tokens.refresh(str(answer["refresh_token"])))
